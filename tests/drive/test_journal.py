"""``drive eval --json F``'s journal (``F.partial``): one line per finished episode, appended; what a
kill leaves is read back without the line in flight."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest

from drive.episode.loop import EpisodeResult
from drive.episode.metrics import EpisodeMetrics
from drive.episode.stack import StackSpec
from drive.runs.eval_suite import SHIPPED_BASELINE, JudgedEpisode, SuiteJournal, read_baseline
from sims.scenario import load_scenario
from sims.strict import ConfigError

SPEC = StackSpec()


def _episodes() -> list[JudgedEpisode]:
    """The shipped baseline's u-turn episodes, as the eval judged them."""
    names = {f.name for f in fields(EpisodeMetrics)}
    recorded = read_baseline(SHIPPED_BASELINE)["scenarios"]["u-turn"]["episodes"]
    return [
        JudgedEpisode(
            EpisodeResult(
                "u-turn",
                episode["seed"],
                EpisodeMetrics(**{k: v for k, v in episode.items() if k in names}),
                {"wall_s": 1.0},
            ),
            (),
        )
        for episode in recorded
    ]


def test_each_episode_is_one_appended_line_and_a_cut_line_is_dropped(tmp_path) -> None:
    out = tmp_path / "eval.json"
    journal = SuiteJournal(out, "regression", SPEC, resume=False)
    first, second, third = _episodes()
    journal.add(first)
    assert journal.path.exists() and len(journal.path.read_text().splitlines()) == 2
    journal.add(second)
    journal.add(third)
    lines = journal.path.read_text().splitlines()
    assert len(lines) == 4 and json.loads(lines[3])["seed"] == third.result.seed
    # A kill in the middle of the third append leaves half its line.
    journal.path.write_text("\n".join(lines[:3]) + "\n" + lines[3][: len(lines[3]) // 2])
    resumed = SuiteJournal(out, "regression", SPEC, resume=True)
    finished = resumed.finished([load_scenario("u-turn")])
    assert sorted(finished) == [("u-turn", first.result.seed), ("u-turn", second.result.seed)]
    assert finished[("u-turn", first.result.seed)].result.metrics == first.result.metrics
    resumed.add(third)  # appends start on a line of their own
    again = SuiteJournal(out, "regression", SPEC, resume=True)
    assert len(again.finished([load_scenario("u-turn")])) == 3


def test_a_journal_is_refused_without_resume_or_for_another_stack(tmp_path) -> None:
    out = tmp_path / "eval.json"
    SuiteJournal(out, "regression", SPEC, resume=False).add(_episodes()[0])
    with pytest.raises(ConfigError, match="--resume continues it"):
        SuiteJournal(out, "regression", SPEC, resume=False)
    with pytest.raises(ConfigError, match="give the same suite and stack"):
        SuiteJournal(out, "regression", StackSpec(planner="default"), resume=True)
    out.with_name("eval.json.partial").write_text("not json\n")
    with pytest.raises(ConfigError, match="eval.json.partial: not a partial eval"):
        SuiteJournal(out, "regression", SPEC, resume=True)
