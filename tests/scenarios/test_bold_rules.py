"""``rules-bold`` in closed loop: the rule baseline with the shipped RL planner's margins.

The README's comparison rests on it driving much faster than ``rules`` without crashing; this pins
one highway-v0 episode of each (the evaluation's seed 100001, 40 s through the MPC), run through the
plugin's ``drive_episode`` fixture.
"""

from __future__ import annotations

import pytest


@pytest.mark.scenarios
def test_bold_rules_overtake_where_the_rules_wait(drive_episode):
    bold = drive_episode("highway", seed=100_001, planner="rules-bold").metrics
    rules = drive_episode("highway", seed=100_001, planner="rules").metrics
    assert not bold.collided and not rules.collided
    assert bold.mean_speed_mps > rules.mean_speed_mps + 2.0  # 25.9 against 22.6 m/s when measured
    assert bold.lane_changes > rules.lane_changes
    assert bold.min_time_gap_s < 1.0 < rules.min_time_gap_s  # it follows at 0.6 s, the rules at 1.5
