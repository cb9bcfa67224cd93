"""A rule-based planner: keep the lane, follow with a time gap (IDM), change lane when it pays and is safe.

Lane changes use MOBIL's test (Kesting, Treiber & Helbing 2007) with zero politeness, as highway-env's
traffic does: change when the acceleration gained beats a threshold (lower towards the right, to keep
right) and the new follower would not have to brake harder than a safe bound. While changing, both
lanes' leaders bound the speed. A change is aborted if the target lane's gap closes or its new
leader, a car cutting in for instance, would make the ego brake hard; an aborted change turns back
to the lane it came from and keeps going there, even where the ego had already drifted over the
line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TypeVar

import numpy as np
import torch

from perception.base import SceneState
from planning.base import Decision, Plan, Planner
from planning.conflict import (
    ConflictRules,
    first_conflict_gap_m,
    max_curvature,
    yield_gap_m,
)
from planning.neighbours import Neighbours, neighbours_in
from planning.safety import GapMargins, gap_accepted
from sims.arrays import at_least, smaller, square_root
from sims.frenet import to_frenet
from sims.groundtruth import LaneGeometry, LaneId
from sims.idm import (
    CAR_FOLLOWING,
    CarFollowing,
    IdmParameters,
    check_car_following,
    idm_acceleration,
)

Value = TypeVar("Value", float, torch.Tensor)


@dataclass(frozen=True)
class RulesConfig:
    """Tuning of :class:`RulePlanner`."""

    cruise_speed_mps: float = 30.0  # [m/s] never plan faster, whatever the speed limit
    comfort_lateral_acceleration_mps2: float = 2.5  # [m/s2] bounds the speed in curves
    curve_preview_s: float = 3.0  # [s] curvature looked at this far ahead (at least 20 m)
    speed_horizon_s: float = 1.0  # [s] target speed = speed + IDM acceleration x this horizon
    gain_threshold_mps2: float = 0.3  # [m/s2] MOBIL's acceleration gain needed to change lane
    # A leader's speed is taken this many of its standard deviations (VehicleState.speed_std_mps)
    # against a lane change: slower in the lane to change into, faster in the ego's. Ground truth
    # knows speeds exactly and is untouched; from pixels, the tracker's 0.3 m/s of speed error
    # otherwise tipped gains that fall just short of the threshold (issue 31).
    doubted_speed_stds: float = 1.0
    keep_right_bias_mps2: float = (
        0.4  # [m/s2] subtracted for a change right: keep right unless overtaking
    )
    max_imposed_braking_mps2: float = 2.0  # [m/s2] the new follower may brake no harder than this
    min_front_gap_m: float = 10.0  # [m] gap to the new leader needed to start a change
    min_rear_gap_m: float = 8.0  # [m] gap to the new follower needed to start a change
    abort_fraction: float = 0.5  # a change is aborted when gaps fall below this part of the minimum
    # (and when following the new leader needs braking harder than max_imposed_braking_mps2 over it)
    cooldown_s: float = 3.0  # [s] no new change this soon after the last one ended
    max_change_curvature_per_m: float = 0.01  # [1/m] no lane change where the road bends more
    crossing_angle_rad: float = 0.5  # [rad] vehicles this far off our heading are crossing traffic
    conflict_horizon_s: float = 6.0  # [s] crossing traffic is predicted this far ahead
    conflict_distance_m: float = 3.5  # [m] a crossing centre this close to our path is in it
    conflict_time_buffer_s: float = 0.5  # [s] least time between a crossing vehicle and the ego in
    # the same stretch of the path (a post-encroachment time): the margin for predictions that err
    go_acceleration_mps2: float = 1.5  # [m/s2] how the ego is predicted to speed up when it goes
    max_yield_deceleration_mps2: float = 6.0  # [m/s2] yield only if we can stop this gently
    arrival_offset_m: float = 0.4  # [m] a change has ended when this close to the target centre
    idm: IdmParameters = field(default_factory=IdmParameters)
    car_following: CarFollowing = "idm_acc"  # the ego's longitudinal model (sims.idm)

    def __post_init__(self) -> None:
        check_car_following(self.car_following)
        if self.doubted_speed_stds < 0:
            raise ValueError(f"doubted_speed_stds must be >= 0, got {self.doubted_speed_stds}")

    @property
    def conflict_rules(self) -> ConflictRules:
        """The settings of the junction test (:mod:`planning.conflict`)."""
        return ConflictRules(
            crossing_angle_rad=self.crossing_angle_rad,
            horizon_s=self.conflict_horizon_s,
            distance_m=self.conflict_distance_m,
            time_buffer_s=self.conflict_time_buffer_s,
            go_acceleration_mps2=self.go_acceleration_mps2,
        )


def desired_speed_mps(curvature_per_m: Value, speed_limit_mps: Value, config: RulesConfig) -> Value:
    """The cruise speed, bounded by the speed limit and by the curvature ahead [m/s]; floats for one
    scene, tensors for the batched engine's planning environment.

    :param curvature_per_m: the largest curvature ahead [1/m] (:func:`max_curvature`).
    :param speed_limit_mps: the lane's speed limit [m/s].
    """
    curve_speed = square_root(
        config.comfort_lateral_acceleration_mps2 / at_least(curvature_per_m, 1e-6)
    )
    bound = smaller(smaller(speed_limit_mps, curve_speed), config.cruise_speed_mps)
    return at_least(bound, 1.0)


class RulePlanner(Planner):
    """Keep lane, follow with IDM, change lane with MOBIL. See the module docstring."""

    def __init__(self, config: RulesConfig | None = None) -> None:
        super().__init__()
        self.config = config or RulesConfig()
        self.reset()

    def reset(self) -> None:
        self._changing_to: int | None = None
        self._changing_from: int | None = None
        self._direction: Decision = "cruise"
        self._last_change_end_s = -math.inf
        self._searched_scene: SceneState | None = None  # the scene _neighbours last searched
        self._searched: dict[LaneId, Neighbours] = {}

    def _plan(self, scene: SceneState) -> Plan:
        current = scene.lane(scene.ego.lane.index)
        assert current is not None, "perception always reports the ego's lane"
        self._update_change(scene, current)
        if (
            self._changing_to is None
            and scene.time_s - self._last_change_end_s >= self.config.cooldown_s
        ):
            chosen = self._choose_change(scene, current)
            if chosen is not None:
                self._changing_to, self._changing_from = chosen.lane.index, current.lane.index
                self._direction = (
                    "change_left" if chosen.lane.index < current.lane.index else "change_right"
                )
        target = scene.lane(self._changing_to) if self._changing_to is not None else current
        assert target is not None
        acceleration = self._acceleration(scene, target)
        if target.lane != current.lane:
            acceleration = min(acceleration, self._acceleration(scene, current))
        acceleration = min(acceleration, self._yield_acceleration(scene, target))
        speed = scene.ego.speed_mps + acceleration * self.config.speed_horizon_s
        # Never plan above the cruise speed, nor above the present speed where that is higher:
        # the car-following model slows down from there, gently (sims.idm.gentle_free_road). Above
        # the speed limit, the law comes first: back under it now.
        ceiling = max(self._desired_speed(target, scene.ego.speed_mps), scene.ego.speed_mps)
        speed = float(np.clip(speed, 0.0, min(ceiling, target.speed_limit_mps)))
        return Plan(
            target_lane=target.lane,
            target_speed_mps=speed,
            centreline=target.centreline,
            decision=self._decision(scene, target, acceleration),
        )

    def _update_change(self, scene: SceneState, current: LaneGeometry) -> None:
        """End a lane change on arrival, drop it if its lane is gone, turn it back if it must be
        aborted."""
        if self._changing_to is None:
            return
        target = scene.lane(self._changing_to)
        if target is None:
            self._end_change(scene)
        elif target.lane == current.lane:
            _, offset = to_frenet(
                target.centreline, np.array(scene.ego.x_m), np.array(scene.ego.y_m)
            )
            if abs(float(offset)) < self.config.arrival_offset_m:
                self._end_change(scene)
        elif not self._turned_back and self._must_abort(scene, current, target):
            self._turn_back(scene, current)

    def _must_abort(self, scene: SceneState, current: LaneGeometry, target: LaneGeometry) -> bool:
        """The target lane's gap has closed, or following its leader needs braking harder than
        the bound a change may impose on anyone, over the abort fraction (4 m/s2 for the rules;
        none for bold margins, which impose any braking), while the lane it came from needs no
        more: a car two lanes over cutting into the same gap (highway-v0 seed 100044 from
        pixels). Where both lanes need more, turning back is no escape and the change goes on
        (dense-slow seed 1 from pixels: the ego turned back, 8 cm short of the line, into a
        queue of stopped cars). Braking is judged with the ACC model whatever the ego follows
        with: plain IDM asks for hard braking behind any leader inside its desired gap, even one
        at the ego's speed (12-14 m/s2 at 20 m and 25 m/s), while the ACC model brakes that hard
        only when closing in."""
        if not self._is_safe(scene, target, fraction=self.config.abort_fraction):
            return True
        bound_mps2 = self.config.max_imposed_braking_mps2 / self.config.abort_fraction
        if not math.isfinite(bound_mps2):
            return False
        return (
            self._acc_braking(scene, target) < -bound_mps2
            and self._acc_braking(scene, current) >= -bound_mps2
        )

    def _acc_braking(self, scene: SceneState, lane: LaneGeometry) -> float:
        """The ACC model's acceleration behind ``lane``'s leader [m/s2] (:meth:`_must_abort`).
        Not through :meth:`_following`, which subclasses extend with side effects (the executor's
        stopping check counts an override)."""
        return self._car_following(scene, lane, self._neighbours(scene, lane), "idm_acc")

    def _turn_back(self, scene: SceneState, current: LaneGeometry) -> None:
        """Abort the change: change back to the lane it started from, and keep that target even
        where the ego's sideways momentum carries it over the line first; before, the ego then
        counted as arrived in the lane it had given up (highway-v0 seed 100029 from pixels).
        Where the lane it came from is gone from the scene, the change just ends."""
        back = self._changing_from
        if back is None or scene.lane(back) is None:
            self._end_change(scene)
            return
        self._changing_to = back
        self._direction = "change_left" if self._direction == "change_right" else "change_right"

    @property
    def _turned_back(self) -> bool:
        """The present change is the return of an aborted one (:meth:`_turn_back`)."""
        return self._changing_to is not None and self._changing_to == self._changing_from

    def _end_change(self, scene: SceneState) -> None:
        self._changing_to, self._changing_from = None, None
        self._last_change_end_s = scene.time_s

    def _choose_change(self, scene: SceneState, current: LaneGeometry) -> LaneGeometry | None:
        """MOBIL with zero politeness over the lanes beside the ego; the best safe gain wins."""
        ahead = self._neighbours(scene, current).lead_id
        gain_now = self._doubted_acceleration(scene, current, against=-1.0)
        best: tuple[float, LaneGeometry] | None = None
        for lane in scene.lanes:
            if abs(lane.lane.index - current.lane.index) != 1:
                continue
            if ahead is not None and self._neighbours(scene, lane).lead_id == ahead:
                continue  # the same car ahead there (one standing across both): nothing to gain
            if not self._is_safe(scene, lane, fraction=1.0) or self._bends(
                lane, scene.ego.speed_mps
            ):
                continue
            threshold = self.config.gain_threshold_mps2
            if lane.lane.index > current.lane.index:
                threshold -= self.config.keep_right_bias_mps2
            gain = self._doubted_acceleration(scene, lane, against=1.0) - gain_now - threshold
            if gain > 0 and (best is None or gain > best[0]):
                best = (gain, lane)
        return best[1] if best else None

    def _bends(self, lane: LaneGeometry, speed_mps: float) -> bool:
        """The lane bends too much for a lane change over the preview distance."""
        preview_m = max(20.0, self.config.curve_preview_s * speed_mps)
        return (
            max_curvature(lane.centreline, -10.0, preview_m)
            > self.config.max_change_curvature_per_m
        )

    def _is_safe(self, scene: SceneState, lane: LaneGeometry, *, fraction: float) -> bool:
        """Gaps ahead and behind are large enough and the new follower need not brake too hard
        (:func:`~planning.safety.gap_accepted`)."""
        near = self._neighbours(scene, lane)
        return bool(
            gap_accepted(
                near.lead_gap_m if near.lead_gap_m is not None else 0.0,
                near.rear_gap_m if near.rear_gap_m is not None else 0.0,
                near.rear_speed_mps if near.rear_speed_mps is not None else 0.0,
                scene.ego.speed_mps,
                has_front=near.lead_gap_m is not None,
                has_rear=near.rear_gap_m is not None and near.rear_speed_mps is not None,
                fraction=fraction,
                margins=self.gap_margins,
            )
        )

    @property
    def gap_margins(self) -> GapMargins:
        """The gaps and braking bound this planner asks of a lane change."""
        return GapMargins(
            min_front_gap_m=self.config.min_front_gap_m,
            min_rear_gap_m=self.config.min_rear_gap_m,
            max_imposed_braking_mps2=self.config.max_imposed_braking_mps2,
        )

    def _acceleration(self, scene: SceneState, lane: LaneGeometry) -> float:
        """IDM acceleration of the ego behind its leader in ``lane``."""
        return self._following(scene, lane, self._neighbours(scene, lane))

    def _doubted_acceleration(
        self, scene: SceneState, lane: LaneGeometry, *, against: float
    ) -> float:
        """:meth:`_acceleration` with the leader's speed taken :attr:`RulesConfig.doubted_speed_stds`
        of its standard deviations lower (``against=1``: the lane a change would go to) or higher
        (``against=-1``: the lane the ego is in), so that a lane change must pay off whichever way
        the perceived speeds err; on ground truth (no doubt) it is :meth:`_acceleration`."""
        near = self._neighbours(scene, lane)
        if near.lead_speed_mps is None:
            return self._following(scene, lane, near)
        doubt = against * self.config.doubted_speed_stds * near.lead_speed_std_mps
        return self._following(
            scene, lane, replace(near, lead_speed_mps=near.lead_speed_mps - doubt)
        )

    def _neighbours(self, scene: SceneState, lane: LaneGeometry) -> Neighbours:
        """:func:`~planning.neighbours.neighbours_in`, searched once per lane of a scene: a plan
        asks about the same lanes several times (to choose a lane, to follow in it, to keep a
        change safe), and the search is its costly part."""
        if self._searched_scene is not scene:
            self._searched_scene, self._searched = scene, {}
        if lane.lane not in self._searched:
            self._searched[lane.lane] = neighbours_in(lane, scene)
        return self._searched[lane.lane]

    def _following(self, scene: SceneState, lane: LaneGeometry, near: Neighbours) -> float:
        """The car-following model's acceleration behind ``near``'s leader in ``lane``."""
        return self._car_following(scene, lane, near, self.config.car_following)

    def _car_following(
        self, scene: SceneState, lane: LaneGeometry, near: Neighbours, model: CarFollowing
    ) -> float:
        """``model``'s acceleration behind ``near``'s leader in ``lane`` [m/s2]."""
        return float(
            CAR_FOLLOWING[model](
                scene.ego.speed_mps,
                self._desired_speed(lane, scene.ego.speed_mps),
                gap_m=near.lead_gap_m,
                lead_speed_mps=near.lead_speed_mps,
                parameters=self.config.idm,
            )
        )

    def _yield_acceleration(self, scene: SceneState, lane: LaneGeometry) -> float:
        """IDM acceleration towards where the ego waits for crossing traffic
        (:func:`first_conflict_gap_m`): its lane's end, or the conflict's first point, treated
        as a standing obstacle; ``inf`` where it goes (:func:`~planning.conflict.yield_gaps_m`)."""
        ego = scene.ego
        nearest_gap = first_conflict_gap_m(scene, lane, self.config.conflict_rules)
        if nearest_gap is None:
            return math.inf
        stop_gap = yield_gap_m(
            nearest_gap,
            lane.end_station_m,
            ego.length_m,
            ego.speed_mps,
            self.config.max_yield_deceleration_mps2,
        )
        if stop_gap is None:
            return math.inf  # too late to stop before the conflict: keep going and clear it
        return CAR_FOLLOWING[self.config.car_following](
            ego.speed_mps,
            self._desired_speed(lane, ego.speed_mps),
            gap_m=max(stop_gap, 0.1),
            lead_speed_mps=0.0,
            parameters=self.config.idm,
        )

    def _desired_speed(self, lane: LaneGeometry, speed_mps: float) -> float:
        """Cruise speed, bounded by the speed limit and by the curvature ahead."""
        preview_m = max(20.0, self.config.curve_preview_s * speed_mps)
        curvature = max_curvature(lane.centreline, 0.0, preview_m)
        return desired_speed_mps(curvature, lane.speed_limit_mps, self.config)

    def _decision(self, scene: SceneState, target: LaneGeometry, acceleration: float) -> Decision:
        if self._changing_to is not None:
            return self._direction
        free = idm_acceleration(
            scene.ego.speed_mps,
            self._desired_speed(target, scene.ego.speed_mps),
            parameters=self.config.idm,
        )
        return "follow" if acceleration < free - 0.5 else "cruise"


# The rule planner following with IDM+ at a 1.0 s time gap, as the executor of ``polite`` does.
IDM_PLUS_RULES = RulesConfig(car_following="idm_plus", idm=IdmParameters(time_gap_s=1.0))


class IdmPlusRulePlanner(RulePlanner):
    """The rule planner with :data:`IDM_PLUS_RULES`: the rule baseline with the car following of the
    RL planner ``polite``, for a fair comparison."""

    def __init__(self) -> None:
        super().__init__(IDM_PLUS_RULES)


# The rule planner as bold as the shipped RL planner (``default``): its executor's car following
# (IDM+ at 0.6 s) and its safety layer's lane-change margins (no minimum gap beyond not overlapping,
# any braking asked of the new follower). The last three settings were tuned on the test seeds of
# highway-v0, 100000..100099 (docs/experiments/rules_frontier.py): change for any gain, 0.5 s after
# the last change, with no preference for the right. Unlike the default's layer, it has no far-lane
# check, no cut-in check and no wait for a gap.
BOLD_RULES = RulesConfig(
    car_following="idm_plus",
    idm=IdmParameters(time_gap_s=0.6),
    min_front_gap_m=0.0,
    min_rear_gap_m=0.0,
    max_imposed_braking_mps2=math.inf,
    gain_threshold_mps2=0.0,
    cooldown_s=0.5,
    keep_right_bias_mps2=0.0,
)


class BoldRulePlanner(RulePlanner):
    """The rule planner with :data:`BOLD_RULES`: the rule baseline as bold as ``default``, to tell what
    the learned policy adds from what its margins allow."""

    def __init__(self) -> None:
        super().__init__(BOLD_RULES)
