"""The closed-loop regression suite as tests: every shipped scenario on each of its seeds.

A failing episode names the predicate and the value it measured, and is run again (episodes are
deterministic) with a video, so its mp4 and JSON land in an artifacts folder the message names.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from drive.episode.stack import StackSpec
from drive.runs.eval_suite import SHIPPED_BASELINE, episode_changes, judge, read_baseline
from sims.files import write_json
from sims.scenario import load_scenario, scenario_ids
from sims.suite import load_suite
from tests.scenarios.conftest import ARTIFACTS

CASES = [
    (scenario_id, seed)
    for scenario_id in scenario_ids()
    for seed in load_scenario(scenario_id).seeds
]


@pytest.mark.unit  # reads the suite and scenario files only
def test_the_regression_suite_covers_every_scenario():
    suite, scenarios = load_suite("regression")
    assert sorted(suite.scenarios) == scenario_ids()
    assert len(scenarios) >= 15 and len({s.env for s in scenarios}) >= 6


@pytest.mark.scenarios
@pytest.mark.parametrize(("scenario_id", "seed"), CASES, ids=[f"{s}-{seed}" for s, seed in CASES])
def test_default_stack_passes(scenario_id, seed):
    scenario = load_scenario(scenario_id)
    judged = judge(scenario, StackSpec(), seed)
    if judged.passed:
        _check_unchanged(
            scenario_id, seed, {"seed": seed, "passed": True, **asdict(judged.result.metrics)}
        )
        return
    folder = ARTIFACTS / f"{scenario_id}-seed{seed}"
    judge(scenario, StackSpec(), seed, video_path=folder / "episode.mp4")
    write_json(folder / "episode.json", {"seed": seed, **asdict(judged.result.metrics)})
    failed = "; ".join(p.describe() for p in judged.predicates if not p.passed)
    pytest.fail(f"{scenario_id} seed {seed}: {failed}. Video and metrics: {folder}")


def _check_unchanged(scenario_id: str, seed: int, episode: dict) -> None:
    """The episode equals the shipped baseline's exactly: the stack is deterministic, so a change
    of behaviour must land with ``sims/suites/regression-baseline.json`` regenerated."""
    changes = episode_changes(scenario_id, episode, read_baseline(SHIPPED_BASELINE))
    if changes:
        pytest.fail(
            f"{len(changes)} metric(s) differ from {SHIPPED_BASELINE.name}: "
            + "; ".join(change.describe() for change in changes)
            + ". If the change is meant, regenerate it with `drive eval --suite regression "
            f"--json {SHIPPED_BASELINE.relative_to(SHIPPED_BASELINE.parents[2])}` and say why "
            "in the commit."
        )


@pytest.mark.unit
def test_the_shipped_baseline_is_checked_metric_by_metric():
    baseline = read_baseline(SHIPPED_BASELINE)
    episode = baseline["scenarios"]["dense-slow"]["episodes"][1]
    assert episode_changes("dense-slow", dict(episode), baseline) == []
    changed = {**episode, "distance_m": episode["distance_m"] + 1e-6}
    [change] = episode_changes("dense-slow", changed, baseline)
    assert change.describe() == (
        f"dense-slow seed 1: distance_m {episode['distance_m']!r} -> {changed['distance_m']!r}"
    )
    with pytest.raises(pytest.fail.Exception, match="1 metric"):
        _check_unchanged("dense-slow", 1, changed)


@pytest.mark.unit
def test_failure_message_names_the_predicate_and_value():
    from drive.episode.predicates import PredicateResult

    text = PredicateResult("min_ttc_s", False, 0.42, 1.0).describe()
    assert text == "min_ttc_s FAILED: measured 0.42, needed 1.0"
    # a verdict without a measured value still goes into the episode JSON, as null
    unmeasured = asdict(PredicateResult("x", True, None, None))
    assert json.loads(json.dumps(unmeasured)) == {
        "name": "x",
        "passed": True,
        "value": None,
        "threshold": None,
    }
