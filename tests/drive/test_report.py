"""The report's pieces on hand-built data: episode series, video styles, pixel maps, the site."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from drive.episode.mind import LAYERS, VideoStyle
from drive.episode.series import episode_series, runs, series_from_json
from drive.report.compare import describe_difference
from drive.report.runs import read_run
from drive.report.site import pick_video_episodes, write_report
from sims.overlay import PixelMap, strip_chart
from sims.strict import ConfigError
from tests.drive.test_metrics import make


def test_runs_of_equal_values():
    assert runs([1, 1, 2, 1]) == [(0, 1), (2, 2), (3, 1)]
    assert runs([]) == []


def test_series_of_a_closing_episode():
    # 20 m behind a car at 10 m/s, driving 20 m/s: TTC 20 / 10 = 2 s, time gap 20 / 20 = 1 s.
    n = 41
    trajectory = make(
        n=n,
        speed=np.full(n, 20.0),
        lead_gap_m=np.full(n, 20.0),
        lead_speed_mps=np.full(n, 10.0),
        lane_index=np.array([1] * 20 + [0] * 21),
        decisions=("follow",) * 10 + ("change_left",) * 31,
    )
    series = episode_series(trajectory)
    assert series.steps == n and series.time_s[0] == pytest.approx(0.25)
    assert np.allclose(series.signals["ttc_s"], 2.0)
    assert np.allclose(series.signals["time_gap_s"], 1.0)
    acceleration = series.signals["longitudinal_acceleration_mps2"]
    assert math.isnan(acceleration[0]) and abs(acceleration[n // 2]) < 1e-9  # edges left out
    assert series.lanes == ((0, 1), (20, 0))
    assert series.decisions == ((0, "follow"), (10, "change_left"))


def test_series_json_round_trip_keeps_nan_as_null():
    series = episode_series(make(n=41))  # no lead: TTC undefined throughout
    record = json.loads(json.dumps(series.to_json(), allow_nan=False))
    assert record["ttc_s"][0] is None
    back = series_from_json(record)
    assert np.isnan(back.signals["ttc_s"]).all()
    assert np.array_equal(back.signals["speed_mps"], series.signals["speed_mps"])


def test_video_style_parses_layers_and_refuses_unknown_ones():
    assert VideoStyle.parse("plan, mpc").layers == ("plan", "mpc")
    assert VideoStyle.parse("none").layers == ()
    assert VideoStyle.parse("all", scale=2) == VideoStyle(layers=LAYERS, scale=2)
    with pytest.raises(ValueError, match="unknown video layer 'boxes'"):
        VideoStyle.parse("plan,boxes")
    with pytest.raises(ValueError, match="scale"):
        VideoStyle(scale=0)


def test_pixel_map_scales_world_offsets():
    pixels = PixelMap(origin_x_m=10.0, origin_y_m=-5.0, pixels_per_m=2.0, scale=3.0)
    # (12, -4) is 2 m right of and 1 m below the corner: 2 x 6 and 1 x 6 pixels.
    assert pixels.to_pixels(np.array([12.0]), np.array([-4.0])).tolist() == [[12, 6]]


def test_strip_chart_draws_each_trace():
    panel = strip_chart(
        200, 50, [("v", np.linspace(0, 30, 50), (0.0, 40.0), (0, 255, 0))], window=100
    )
    assert panel.shape == (50, 200, 3)
    assert panel[:, :, 1].max() == 255 and panel[:, :100, 1].max() == 255  # label and line


def test_describe_difference():
    assert describe_difference([]) == "-"
    assert describe_difference([0.5]) == "+0.500"
    assert describe_difference([1.0, 1.0]) == "+1.000 [+1.000, +1.000]"


def _eval_document() -> dict:
    series = episode_series(make(n=41)).to_json()

    def episode(seed: int, score: float, passed: bool) -> dict:
        return {
            "seed": seed,
            "passed": passed,
            "score": score,
            "mean_speed_mps": 10.0,
            "collided": not passed,
            "min_ttc_s": None,
            "min_time_gap_s": None,
            "comfortable": True,
            "planner_overrides": 0,
            "termination": "time",
        }

    return {
        "config": {
            "suite": "mine",
            "stack": {"perception": "groundtruth", "planner": "rules", "controller": "mpc"},
        },
        "scenarios": {
            "<b>odd</b>": {
                "env": "highway-v0",
                "score": 0.6,
                "passed": False,
                "predicates": {
                    "no_collision": {
                        "passed": False,
                        "threshold": False,
                        "values": [False, True],
                        "verdicts": [True, False],
                    }
                },
                "episodes": [episode(0, 0.9, True), episode(1, 0.3, False)],
            },
        },
        "series": {"<b>odd</b>": {"0": series}},  # seed 1 has none
        "score": 0.6,
        "passed": False,
    }


def test_report_pages_escape_run_text_and_say_when_a_series_is_missing(tmp_path):
    run = tmp_path / "run.json"
    run.write_text(json.dumps(_eval_document()))
    files = write_report([run], tmp_path / "report")
    index = files.index.read_text()
    assert "&lt;b&gt;odd&lt;/b&gt;" in index and "<b>odd</b>" not in index
    assert files.pages == 2 and files.videos == ()
    with_series = (tmp_path / "report/episodes/r0-_b_odd__b_-s0.html").read_text()
    assert 'id="episode-data"' in with_series
    without = (tmp_path / "report/episodes/r0-_b_odd__b_-s1.html").read_text()
    assert "holds no time series" in without
    assert (tmp_path / "report/assets/uPlot.iife.min.js").exists()


def test_videos_go_to_failed_episodes_first_then_the_lowest_scores(tmp_path):
    run = tmp_path / "run.json"
    document = _eval_document()
    document["scenarios"]["<b>odd</b>"]["episodes"][1]["score"] = 0.95  # failed, yet scored high
    run.write_text(json.dumps(document))
    episodes = pick_video_episodes([read_run(run, 0)], 2)
    assert [(e.seed, e.passed) for e in episodes] == [(1, False), (0, True)]


def test_a_file_that_is_no_run_is_refused_in_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"scenarios": {"a": {"env": "x"}}}')
    with pytest.raises(ConfigError, match="bad.json: not a drive eval or rollout") as error:
        read_run(bad, 0)
    assert "\n" not in str(error.value)
