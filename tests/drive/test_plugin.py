"""The pytest plugin (drive/testing/): scenario files as items, its options and ini keys, failures
with their artifacts, the baseline, the summary table and the ``drive_episode`` fixture.

Each test runs pytest on a folder of its own through pytest's ``pytester``, in this process (so the
planners registered here with ``monkeypatch`` are seen), on 3-second episodes of highway-fast-v0.
The example project's test (tests/test_example_project.py) runs the same in child processes with
``-n 2``, as a user does.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from perception.base import SceneState
from planning.base import Plan
from planning.registry import PLANNERS
from planning.rules import RulePlanner

pytest_plugins = ("pytester",)

SHORT = """
description = "a short drive"
env = "highway-fast-v0"
duration_s = 3.0
seeds = [SEEDS]

[env_config]
vehicles_count = 5
"""


STALLED = """
description = "a car stands in the ego's lane 60 m ahead"
env = "highway-fast-v0"
duration_s = 4.0
seeds = [SEEDS]

[env_config]
vehicles_count = 5

[[events]]
kind = "stalled_vehicle"
gap_m = 60.0
"""


def short(seeds: str = "0") -> str:
    return SHORT.replace("SEEDS", seeds)


def stalled(seeds: str = "0") -> str:
    return STALLED.replace("SEEDS", seeds)


class Ram(RulePlanner):
    """Keeps its lane and never slows down: it hits the stalled car (``no_at_fault_collision``)."""

    def _plan(self, scene: SceneState) -> Plan:
        plan = super()._plan(scene)
        lane = scene.lane(scene.ego.lane.index)
        assert lane is not None
        return dataclasses.replace(
            plan,
            target_lane=lane.lane,
            centreline=lane.centreline,
            decision="cruise",
            target_speed_mps=max(plan.target_speed_mps, scene.ego.speed_mps),
        )


@pytest.fixture
def ram(monkeypatch):
    monkeypatch.setitem(PLANNERS, "ram", Ram)


def test_scenario_files_are_collected_one_item_per_seed(pytester):
    pytester.makefile(".toml", scenario_short=short("0, 7"), suite_both=SUITE, unrelated="x = 1")
    pytester.mkdir("cases")
    (pytester.path / "cases" / "plain.toml").write_text(short("3"))
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\ndrive_scenarios = ["cases"]\n')
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "cases/plain.toml::plain[[]seed3[]]",
            "scenario_short.toml::scenario_short[[]seed0[]]",
            "scenario_short.toml::scenario_short[[]seed7[]]",
            "suite_both.toml::scenario_short[[]seed0[]]",  # in the suite's order
            "suite_both.toml::scenario_short[[]seed7[]]",
            "suite_both.toml::plain[[]seed3[]]",
            "6 tests collected*",
        ]
    )


SUITE = """
description = "scenario files by paths relative to this one"
scenarios = ["scenario_short.toml", "cases/plain.toml"]
tolerance = 0.2
"""


@pytest.mark.smoke
def test_items_pass_with_a_summary_table_and_write_results(pytester):
    pytester.makefile(".toml", scenario_short=short("0, 1"))
    result = pytester.runpytest("--drive-json", "results.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*= drive-stack scenarios =*",
            "scenario *env *passed *score *baseline *failed *wall (s)",
            "scenario_short *highway-fast-v0 *2/2 *0.* *- *- *",
            "2 of 2 scenario items passed, stack groundtruth/rules/mpc",
            "wrote *results.json",
        ]
    )
    document = json.loads((pytester.path / "results.json").read_text())
    episodes = document["scenarios"]["scenario_short"]["episodes"]
    assert [e["seed"] for e in episodes] == [0, 1] and document["passed"] is True
    assert document["config"]["stack"] == {
        "perception": "groundtruth",
        "planner": "rules",
        "controller": "mpc",
    }


@pytest.mark.smoke
def test_a_failing_item_names_predicate_value_video_and_json(pytester, ram):
    pytester.mkdir("cases")
    (pytester.path / "cases" / "plain.toml").write_text(stalled("4"))
    pytester.makepyprojecttoml(
        "[tool.pytest.ini_options]\n"
        'drive_scenarios = ["cases"]\ndrive_planner = "ram"\ndrive_artifacts = "out"\n'
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    folder = pytester.path / "out" / "plain-seed4"
    result.stdout.fnmatch_lines(
        [
            "plain seed 4 (perception=groundtruth, planner=ram, controller=mpc): "
            "no_at_fault_collision FAILED: measured True, needed False",
            f"video: {folder / 'episode.mp4'}",
            f"episode JSON: {folder / 'episode.json'}",
            "plain *highway-fast-v0 *0/1 *0.000 *- *no_at_fault_collision *",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    assert (folder / "episode.mp4").stat().st_size > 1000
    episode = json.loads((folder / "episode.json").read_text())
    assert episode["predicates"][0] == {
        "name": "no_at_fault_collision",
        "passed": False,
        "value": True,
        "threshold": False,
    }
    assert episode["metrics"]["termination"] == "collision" and episode["video_metrics_identical"]
    assert len(episode["trajectory"]["speed_mps"]) == episode["metrics"]["steps"] < 60
    # the command line wins over the ini file
    pytester.runpytest("--drive-planner", "rules").assert_outcomes(passed=1)


@pytest.mark.smoke
def test_a_score_below_the_baseline_beyond_the_tolerance_fails(pytester):
    pytester.makefile(".toml", scenario_short=short("0"))
    pytester.runpytest("--drive-json", "base.json").assert_outcomes(passed=1)
    document = json.loads((pytester.path / "base.json").read_text())
    score = document["scenarios"]["scenario_short"]["episodes"][0]["score"]
    document["scenarios"]["scenario_short"]["episodes"][0]["score"] = score + 0.1
    (pytester.path / "higher.json").write_text(json.dumps(document))
    regressed = pytester.runpytest("--drive-baseline", "higher.json")
    regressed.assert_outcomes(failed=1)
    regressed.stdout.fnmatch_lines(
        [
            f"scenario_short seed 0 (*): score {score:.3f} fell 0.100 below the baseline's "
            f"{score + 0.1:.3f} (*higher.json), beyond the tolerance 0.05",
            f"scenario_short *0/1 *{score:.3f} *{score + 0.1:.3f} *score below baseline *",
        ]
    )
    pytester.runpytest(
        "--drive-baseline", "higher.json", "--drive-tolerance", "0.2"
    ).assert_outcomes(passed=1)


def test_bad_options_and_files_are_one_line_errors(pytester):
    pytester.makefile(".toml", scenario_typo=short("0").replace("duration_s", "duraton_s"))
    collected = pytester.runpytest("--collect-only")
    collected.stdout.fnmatch_lines(["*scenario_typo.toml*unknown key 'duraton_s'; valid keys: *"])
    assert "Traceback" not in collected.stdout.str()
    tolerance = pytester.runpytest("--drive-tolerance", "2")
    tolerance.stderr.fnmatch_lines(
        ["*--drive-tolerance / drive_tolerance: expected a number in [[]0, 1[]], got '2'"]
    )
    missing = pytester.runpytest("--drive-baseline", "nowhere.json")
    missing.stderr.fnmatch_lines(
        ["*--drive-baseline / drive_baseline: *nowhere.json: no such file"]
    )


def test_an_unknown_planner_fails_each_item_listing_the_valid_names(pytester):
    pytester.makefile(".toml", scenario_short=short("0"))
    result = pytester.runpytest("--drive-planner", "telepathy")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["error: unknown planner 'telepathy'; valid: rules, rules-idm-plus, *, polite*"]
    )
    assert "Traceback" not in result.stdout.str()


@pytest.mark.smoke
def test_the_fixture_returns_metrics_and_trajectory(pytester, ram):
    pytester.mkdir("cases")
    (pytester.path / "cases" / "stalled.toml").write_text(stalled("2, 5"))
    pytester.makepyfile(
        test_mine="""
        def test_ram_crashes_where_the_rules_pass(drive_episode):
            ram = drive_episode("cases/stalled.toml", planner="ram")
            assert ram.seed == 2 and not ram.passed and ram.metrics.collided
            assert ram.failures() == "no_at_fault_collision FAILED: measured True, needed False"
            rules = drive_episode("cases/stalled.toml", seed=5)
            assert rules.passed and rules.stack.planner == "rules"
            assert len(rules.trajectory.x_m) == rules.metrics.steps == 60
            assert len(ram.trajectory.x_m) == ram.metrics.steps < 60
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "episodes driven by tests (drive_episode; each test judges its own):",
            "test *scenario *seed *stack *score *criteria",
            "-*",
            "test_mine.py::test_ram_crashes_where_the_rules_pass *stalled *2 *groundtruth/ram/mpc "
            "*0.000 *failed no_at_fault_collision",
            "test_mine.py::test_ram_crashes_where_the_rules_pass *stalled *5 *groundtruth/rules/mpc "
            "*[01].* *met",
        ]
    )


def test_the_plugin_imports_neither_torch_nor_the_simulator(tmp_path):
    # pytest loads the plugin in every session of anyone with drive-stack installed
    (tmp_path / "test_plain.py").write_text(
        "import sys\n\n"
        "def test_nothing_heavy_was_imported():\n"
        "    heavy = {'torch', 'highway_env', 'gymnasium', 'pygame'} & set(sys.modules)\n"
        "    assert not heavy, heavy\n"
        "    assert 'drive.testing.plugin' in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _record(scenario: str, seed: int, score: float, *, passed: bool = True) -> dict:
    return {
        "scenario": scenario,
        "env": "highway-v0",
        "source": f"{scenario}.toml",
        "seed": seed,
        "stack": {"perception": "groundtruth", "planner": "rules", "controller": "mpc"},
        "passed": passed,
        "predicates": [{"name": "min_ttc_s", "passed": passed, "value": 0.5, "threshold": 1.0}],
        "metrics": {"score": score},
        "wall_s": 2.0,
        "kind": "item",
        "baseline_score": None,
        "regression": None,
    }


def test_the_results_file_is_a_baseline_for_the_plugin_and_for_drive_eval(tmp_path):
    from drive.runs.eval_suite import read_baseline, regressions
    from drive.testing.episodes import Baseline
    from drive.testing.summary import results_document, summary_lines

    records = [_record("b", 1, 0.5, passed=False), _record("b", 0, 0.75), _record("a", 0, 1.0)]
    document = results_document(records, tolerance=None)
    assert document["scenarios"]["b"]["score"] == 0.625 and document["score"] == 0.8125
    assert document["scenarios"]["b"]["predicates"]["min_ttc_s"] == {
        "passed": False,
        "threshold": 1.0,
        "values": [0.5, 0.5],
    }
    path = tmp_path / "results.json"
    path.write_text(json.dumps(document))
    assert Baseline.load(path).scores == {("a", 0): 1.0, ("b", 0): 0.75, ("b", 1): 0.5}
    lower = {"scenarios": {"a": {"score": 0.9}, "b": {"score": 0.625}}}
    assert regressions(lower, read_baseline(path), 0.05) == [
        {"scenario": "a", "baseline": 1.0, "score": 0.9}
    ]
    assert summary_lines(records) == [
        "scenario  env         passed  score  baseline  failed     wall (s)",
        "--------  ----------  ------  -----  --------  ---------  --------",
        "a         highway-v0  1/1     1.000  -         -          2",
        "b         highway-v0  1/2     0.625  -         min_ttc_s  4",
        "2 of 3 scenario items passed, stack groundtruth/rules/mpc",
    ]


def test_the_plugin_is_active_in_this_repository(request):
    # It collects tests/scenarios/suite_regression.toml: without it (an install older than its
    # pytest11 entry point; rerun `pip install -e .`) those 76 items would silently not be there.
    assert request.config.pluginmanager.has_plugin("drive_stack")
