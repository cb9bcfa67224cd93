"""The closed-loop regression suite as tests: every shipped scenario on each of its seeds.

A failing episode names the predicate and the value it measured, and is run again (episodes are
deterministic) with a video, so its mp4 and JSON land in an artifacts folder the message names.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from drive.episode.stack import StackSpec
from drive.runs.eval_suite import judge
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
        return
    folder = ARTIFACTS / f"{scenario_id}-seed{seed}"
    judge(scenario, StackSpec(), seed, video_path=folder / "episode.mp4")
    write_json(folder / "episode.json", {"seed": seed, **asdict(judged.result.metrics)})
    failed = "; ".join(p.describe() for p in judged.predicates if not p.passed)
    pytest.fail(f"{scenario_id} seed {seed}: {failed}. Video and metrics: {folder}")


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
