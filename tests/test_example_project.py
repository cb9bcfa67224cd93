"""The example project (examples/custom-planner/) works as its README says, outside this repository.

Issue 35's done-when 1 and 2: in a temporary folder, with drive-stack and the example installed,
``pytest -n 2`` collects the example's scenario files and passes them with the example's planner;
the same planner with its brakes cut fails, naming the predicate, its value and the artifacts; and
``drive rollout --planner lane-keeper`` drives with it.

The example is installed with ``pip install --no-deps --target`` into a folder of the test's own,
which only the child processes see (on their ``PYTHONPATH``): this interpreter's environment, and
so every other test, never sees the example's planner.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "custom-planner"
BRAKES = "target_speed_mps = max(0.0, scene.ego.speed_mps + acceleration_mps2 * HORIZON_S)"
NEVER_BRAKES = BRAKES.replace("max(0.0,", "max(scene.ego.speed_mps,")


def _install(project: Path, site: Path) -> None:
    """``pip install`` the project into ``site``, offline: no dependencies (drive-stack is this
    one), no isolated build environment (the dev extra's setuptools builds it)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps"]
        + ["--no-build-isolation"]
        + ["--target", str(site), str(project)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    for leftover in ("build", "lane_keeper.egg-info"):  # setuptools builds in the source folder
        shutil.rmtree(project / leftover, ignore_errors=True)


def _run(args: list[str], *, cwd: Path, site: Path) -> subprocess.CompletedProcess:
    """Run ``python ARGS`` in ``cwd`` as a user would, with the example installed in ``site``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.scenarios  # closed-loop episodes on highway-env, in two pytest runs and a rollout
def test_the_example_project_passes_and_its_broken_planner_fails_naming_the_predicate(tmp_path):
    project = tmp_path / "custom-planner"
    shutil.copytree(
        EXAMPLE,
        project,
        ignore=shutil.ignore_patterns(
            ".venv", "build", "*.egg-info", "artifacts", "__pycache__", ".pytest_cache"
        ),
    )
    assert ROOT not in project.parents  # outside this repository
    assert sorted(p.name for p in project.glob("scenario_*.toml")) == [
        "scenario_cut_in.toml",
        "scenario_lead_brake.toml",
    ]
    _install(project, tmp_path / "site")

    # --- Done-when 1: the README's `pytest -n 2` collects both files (two seeds each) and passes.
    green = _run(["-m", "pytest", "-n", "2"], cwd=project, site=tmp_path / "site")
    assert green.returncode == 0, green.stdout[-3000:] + green.stderr[-3000:]
    assert "4 passed" in green.stdout
    assert "4 of 4 scenario items passed, stack groundtruth/lane-keeper/mpc" in green.stdout
    for scenario_id in ("scenario_cut_in", "scenario_lead_brake"):
        assert re.search(rf"^{scenario_id} +highway-v0 +2/2 ", green.stdout, re.MULTILINE)

    # --- Done-when 2: the command line drives with the example's planner, by its name.
    rollout = _run(
        ["-m", "drive.cli", "rollout", "--scenario", "scenario_cut_in.toml"]
        + ["--planner", "lane-keeper", "--json", "rollout.json"],
        cwd=project,
        site=tmp_path / "site",
    )
    assert rollout.returncode == 0, rollout.stderr[-3000:]
    assert json.loads((project / "rollout.json").read_text())["config"]["stack"]["planner"] == (
        "lane-keeper"
    )

    # --- Cut the planner's brakes: items fail with the predicate, its value and the artifacts.
    source = project / "lane_keeper.py"
    assert BRAKES in source.read_text()
    source.write_text(source.read_text().replace(BRAKES, NEVER_BRAKES))
    _install(project, tmp_path / "site-broken")
    red = _run(["-m", "pytest", "-n", "2"], cwd=project, site=tmp_path / "site-broken")
    assert red.returncode == 1, red.stdout[-3000:] + red.stderr[-3000:]
    failures = re.findall(
        r"^(scenario_\w+) seed (\d) \(perception=groundtruth, planner=lane-keeper, "
        r"controller=mpc\): (.+)\nvideo: (\S+)\nepisode JSON: (\S+)$",
        red.stdout,
        re.MULTILINE,
    )
    assert len(failures) == 4, red.stdout[-5000:]
    for scenario_id, seed, reasons, video, document in failures:
        # e.g. "min_ttc_s FAILED: measured 0.0, needed 1.0"
        assert re.search(
            r"\b(no_collision|min_ttc_s) FAILED: measured [\w.]+, needed [\w.]+", reasons
        )
        assert (
            Path(video)
            == project / "artifacts" / "drive" / f"{scenario_id}-seed{seed}" / "episode.mp4"
        )
        assert Path(video).stat().st_size > 10_000
        episode = json.loads(Path(document).read_text())
        assert (episode["scenario"], episode["seed"], episode["passed"]) == (
            scenario_id,
            int(seed),
            False,
        )
        assert episode["stack"]["planner"] == "lane-keeper" and episode["video_metrics_identical"]
        assert len(episode["trajectory"]["x_m"]) == episode["metrics"]["steps"]
    assert "0 of 4 scenario items passed" in red.stdout
