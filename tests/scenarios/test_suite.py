"""The closed-loop regression suite as tests.

``suite_regression.toml`` beside this file is collected by the drive-stack pytest plugin
(:mod:`drive.testing.plugin`): every shipped scenario on each of its seeds, one item each, driven by
the default stack. A failing item names the predicate and the value it measured, and is run again
(episodes are deterministic) with a video, so its mp4 and JSON land in the artifacts folder the
message names (``drive_artifacts`` in pyproject.toml). With ``drive_baseline`` and ``drive_exact``
in pyproject.toml, every item's metrics must also equal the shipped baseline's exactly: the stack is
deterministic, so a change of behaviour lands with ``sims/suites/regression-baseline.json``
regenerated. This file holds that suite to the shipped one.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from drive.runs.eval_suite import SHIPPED_BASELINE, episode_changes, read_baseline
from sims.scenario import scenario_ids
from sims.suite import load_suite

HERE = Path(__file__).parent


@pytest.mark.unit  # reads the suite and scenario files only
def test_the_regression_suite_covers_every_scenario():
    suite, scenarios = load_suite("regression")
    assert sorted(suite.scenarios) == scenario_ids()
    assert len(scenarios) >= 15 and len({s.env for s in scenarios}) >= 6
    # the suite the plugin collects here is the shipped one, scenario for scenario
    assert load_suite(HERE / "suite_regression.toml")[0] == suite


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
