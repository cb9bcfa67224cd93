"""The comparison's intervals, its paired speed difference, and its plot."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from drive.cli.report import comparison_rows, comparison_table
from drive.runs.comparison import (
    collision_interval,
    comparison_figure,
    mean_interval,
    plot_comparison,
)
from sims.strict import ConfigError
from tests.helpers import drive_in_process

Z = 1.959964  # the normal distribution's 97.5% quantile


def wilson(collisions: int, episodes: int) -> tuple[float, float]:
    """Wilson's score interval, written out from its formula."""
    rate = collisions / episodes
    centre = (rate + Z**2 / (2 * episodes)) / (1 + Z**2 / episodes)
    half = (
        Z
        * math.sqrt(rate * (1 - rate) / episodes + Z**2 / (4 * episodes**2))
        / (1 + Z**2 / episodes)
    )
    return centre - half, centre + half


@pytest.mark.parametrize(("collisions", "episodes"), [(0, 100), (1, 100), (24, 100), (3, 7)])
def test_collision_interval_is_wilsons(collisions, episodes):
    low, high = collision_interval(collisions, episodes)
    expected_low, expected_high = wilson(collisions, episodes)
    assert low == pytest.approx(max(expected_low, 0.0), abs=1e-6)
    assert high == pytest.approx(expected_high, abs=1e-6)


def test_mean_interval_is_students_t():
    low, high = mean_interval([1.0, 2.0, 3.0])
    half = 4.302653 * 1.0 / math.sqrt(3)  # t(0.975, 2 dof) x the standard error
    assert (low, high) == pytest.approx((2.0 - half, 2.0 + half), abs=1e-5)
    assert mean_interval([5.0]) is None  # one episode has no interval


def write_result(path, planner, speeds, collided, **aggregate):
    """A minimal ``drive rollout`` JSON: config, aggregate (and ``aggregate``'s extra keys) and
    episodes."""
    seeds = sorted(speeds)
    document = {
        "config": {"stack": {"planner": planner, "controller": "mpc"}, "seed": seeds[0]},
        "aggregate": {
            "episodes": len(seeds),
            "collision_rate": sum(collided) / len(seeds),
            "mean_speed_mps": sum(speeds.values()) / len(seeds),
            **aggregate,
        },
        "episodes": [
            {"seed": seed, "mean_speed_mps": speeds[seed], "collided": crash}
            for seed, crash in zip(seeds, collided, strict=True)
        ],
    }
    path.write_text(json.dumps(document))
    return path


def test_rows_pair_speeds_over_the_same_seeds(tmp_path):
    first = write_result(tmp_path / "a.json", "a", {1: 20.0, 2: 24.0, 3: 22.0}, [0, 0, 0])
    faster = write_result(tmp_path / "b.json", "b", {1: 21.0, 2: 25.0, 3: 23.5}, [0, 1, 0])
    elsewhere = write_result(tmp_path / "c.json", "c", {7: 21.0, 8: 25.0, 9: 23.0}, [0, 0, 0])
    slower = write_result(tmp_path / "d.json", "d", {1: 19.0, 2: 23.0, 3: 21.0}, [0, 0, 0])
    rows = comparison_rows([first, faster, elsewhere, slower])
    assert rows[0]["speed_difference_mps"] is None
    low, high = mean_interval([1.0, 1.0, 1.5])
    assert str(rows[1]["speed_difference_mps"]) == f"+1.167 [{low:+.3f}, {high:+.3f}]"
    assert rows[1]["collision_interval"] == collision_interval(1, 3)
    assert rows[2]["speed_difference_mps"] is None  # other seeds: nothing to pair
    assert rows[3]["speed_difference_mps"].mean_mps == pytest.approx(-1.0)  # still against a


def test_one_episode_has_no_intervals_but_still_compares(tmp_path):
    rows = comparison_rows([write_result(tmp_path / "a.json", "a", {1: 20.0}, [1])])
    assert rows[0]["speed_interval_mps"] is None
    assert "| 1 | 1..1 | 1.000 | [0.207, 1.000] | 20.000 | - | - |" in comparison_table(
        rows, markdown=True
    )


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"config": {}, "aggregate": {}}, "not a rollout or baseline result"),
        (
            {
                "config": {"stack": {"planner": "a", "controller": "mpc"}, "seed": 0},
                "aggregate": {"episodes": 0},
                "episodes": [],
            },
            "no finished episode",  # Ctrl-C before the first episode finished
        ),
    ],
)
def test_rows_name_the_file_that_cannot_be_compared(tmp_path, document, message):
    bad = tmp_path / "card.json"
    bad.write_text(json.dumps(document))
    with pytest.raises(ConfigError, match=f"card.json: {message}"):
        comparison_rows([bad])


def test_rows_refuse_repeated_seeds(tmp_path):
    twice = write_result(tmp_path / "twice.json", "a", {1: 20.0, 2: 21.0}, [0, 0])
    document = json.loads(twice.read_text())
    document["episodes"][1]["seed"] = 1
    twice.write_text(json.dumps(document))
    with pytest.raises(ConfigError, match="twice.json: a seed appears more than once"):
        comparison_rows([twice])


def test_plot_draws_every_row(tmp_path):
    rows = comparison_rows(
        [
            write_result(tmp_path / "a.json", "a", {1: 20.0, 2: 24.0}, [0, 0]),
            write_result(tmp_path / "b.json", "b", {1: 26.0, 2: 27.0}, [1, 0]),
        ]
    )
    (axis,) = comparison_figure(rows).axes
    assert [text.get_text() for text in axis.get_legend().get_texts()] == ["a", "b"]
    points = [container.lines[0].get_xydata()[0].tolist() for container in axis.containers]
    assert points == [[0.0, 22.0], [0.5, 26.5]]
    plot_comparison(rows, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_command_plots_the_committed_results(tmp_path):
    # `drive compare` as typed, through its entry point in this process (test_cli launches one)
    compared = drive_in_process(
        "compare", "docs/results/highway-default.json", "docs/results/highway-rules.json",
        "--markdown", "--plot", str(tmp_path / "frontier.png"),
    )  # fmt: skip
    assert compared.returncode == 0, compared.stderr
    header, _, default, rules = compared.stdout.strip().splitlines()
    assert "95% interval" in header and "paired" in header
    assert "| 0.000 | [0.000, 0.037] |" in default
    assert "| -2.522 [" in rules  # the rules drive slower than the default on the same seeds
    assert (tmp_path / "frontier.png").stat().st_size > 10_000


def test_compare_command_pools_the_committed_seeds_used_for_no_choice():
    runs = ("fresh", "unseen", "spare")  # seeds 300000.., 400000.. and 500000..
    compared = drive_in_process(
        "compare",
        "+".join(f"docs/results/seeds/{run}-default.json" for run in runs),
        "+".join(f"docs/results/seeds/{run}-rules-bold.json" for run in runs),
        "--markdown",
    )
    assert compared.returncode == 0, compared.stderr
    _, _, default, rules_bold = compared.stdout.strip().splitlines()
    assert "| default | mpc | 300 | 300000..500099 | 0.003 |" in default  # 1 crash in 300
    assert "| 0.003 | [0.001, 0.019] | 24.997 |" in rules_bold
    assert "| -0.132 [-0.287, +0.024] |" in rules_bold  # as the README says, the other way round


def test_a_pool_of_one_stacks_runs_is_one_row_over_all_their_seeds(tmp_path):
    early = write_result(
        tmp_path / "a1.json", "a", {1: 20.0, 2: 24.0}, [0, 1], mean_return=30.0, planner_overrides=4
    )
    late = write_result(
        tmp_path / "a2.json",
        "a",
        {3: 22.0, 4: 26.0, 5: 21.0},
        [0, 0, 1],
        mean_return=35.0,
        planner_overrides=2,
    )
    other = write_result(
        tmp_path / "b.json", "b", {1: 21.0, 2: 23.0, 3: 23.0, 4: 27.0, 5: 20.0}, [0] * 5
    )
    pooled, compared = comparison_rows([Path(f"{early}+{late}"), other])
    assert (pooled["episodes"], pooled["seeds"]) == (5, "1..5")
    assert pooled["collision_rate"] == pytest.approx(2 / 5)
    assert pooled["collision_interval"] == collision_interval(2, 5)
    assert pooled["mean_speed_mps"] == pytest.approx(113.0 / 5)
    assert pooled["mean_return"] == pytest.approx((2 * 30.0 + 3 * 35.0) / 5)
    assert pooled["planner_overrides"] == 6
    # the pool pairs with a run of the same five seeds
    assert compared["speed_difference_mps"].mean_mps == pytest.approx((1 - 1 + 1 + 1 - 1) / 5)


def test_a_pool_of_different_runs_or_repeated_seeds_is_refused_by_name(tmp_path):
    a = write_result(tmp_path / "a.json", "a", {1: 20.0, 2: 24.0}, [0, 0])
    b = write_result(tmp_path / "b.json", "b", {3: 20.0, 4: 24.0}, [0, 0])
    again = write_result(tmp_path / "a-again.json", "a", {2: 20.0, 3: 24.0}, [0, 0])
    merge = write_result(tmp_path / "a-merge.json", "a", {5: 20.0, 6: 24.0}, [0, 0])
    document = json.loads(merge.read_text())
    document["config"]["scenario"] = "merge"
    merge.write_text(json.dumps(document))
    with pytest.raises(ConfigError, match=r"b\.json: its stack .*'b'.* differs from .*'a'"):
        comparison_rows([Path(f"{a}+{b}")])
    with pytest.raises(ConfigError, match=r"a-merge\.json: its scenario merge differs"):
        comparison_rows([Path(f"{a}+{merge}")])
    with pytest.raises(ConfigError, match=r"a-again\.json: seed 2 is also in an earlier file"):
        comparison_rows([Path(f"{a}+{again}")])
    with pytest.raises(ConfigError, match=r"missing\.json: cannot be read"):
        comparison_rows([Path(f"{a}+{tmp_path / 'missing.json'}")])


def test_a_pool_counts_overrides_only_where_every_run_counted_them(tmp_path):
    counted = write_result(tmp_path / "a1.json", "a", {1: 20.0}, [0], planner_overrides=5)
    uncounted = write_result(tmp_path / "a2.json", "a", {2: 21.0}, [0])
    for pool in (f"{counted}+{uncounted}", f"{uncounted}+{counted}"):
        (row,) = comparison_rows([Path(pool)])
        assert row["planner_overrides"] == "-"
