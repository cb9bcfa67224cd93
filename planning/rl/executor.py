"""What a policy's decision means: the lane to drive in and the cruise speed, executed by rule.

The policy decides once per decision period (1 s) among :data:`ACTIONS`: keep the lane or change one
lane left or right, and lower, keep or raise its cruise speed by :data:`SPEED_STEP_MPS`. Between
decisions the :class:`PolicyExecutor` turns that intent into a :class:`~planning.base.Plan` at the
control rate, exactly as the rule planner would with that lane and cruise speed: it follows the
leader of its lane with IDM (the car-following model of highway-env's own traffic) or IDM+, at the
time gap of its :class:`ExecutorConfig`, and during a lane change the leaders of both lanes bound the
speed.

The optional safety layer is separate and counted: it vetoes a requested lane change into a gap
smaller than its :class:`SafetyMargins` (by default the rule planner's) or on a bend, or while a
vehicle in the lane beyond is beside the gap, and aborts a change whose gap closes; with
``cut_in_check`` it also vetoes and aborts a change while a vehicle of the lane beyond moves into the
target lane ahead of the ego. It never changes into a lane with oncoming traffic ahead. With
``stopping_check`` it holds the ego's speed to one from which it can still stop behind its leader
braking hard (RSS's safe distance, :func:`~planning.safety.safe_following_speed_mps`), and vetoes a
change into a lane whose leader it is already too fast to stop behind. With
``wait_for_gap`` a vetoed change is not dropped: it starts at the first control step, before the
next decision, at which the layer allows it. On roads with crossing traffic, a decision to go (the
``road`` interface's) is held back, and the ego yields as the rule planner would, while the rule
planner's conflict test (:func:`~planning.rules.first_conflict_gap_m`) finds crossing traffic it
can still stop for. With the layer off, every requested change is carried out, and the ego goes
when told. The checks themselves live in :mod:`planning.safety`, shared with the rule planner and with the
batched engine's layer (:mod:`planning.rl.batched_safety`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from perception.base import SceneState
from planning.neighbours import Neighbours
from planning.rules import RulePlanner, RulesConfig
from planning.safety import (
    FarLane,
    cut_in,
    far_lane_conflict,
    safe_following_speed_mps,
    stopping_acceleration_mps2,
)
from sims.frenet import heading_at, to_frenet, velocity_in_lane
from sims.groundtruth import LaneGeometry
from sims.idm import CarFollowing, check_car_following
from sims.strict import described


@dataclass(frozen=True)
class Action:
    """One discrete decision: lane change (-1 left, 0 keep, +1 right), cruise-speed change, and
    whether to yield to crossing traffic (the rule planner's check) or go this period."""

    lane_change: int
    speed_change: int
    label: str
    yields: bool = True


ACTIONS: tuple[Action, ...] = tuple(
    Action(lane, speed, f"{lane_label}/{speed_label}")
    for lane, lane_label in ((-1, "left"), (0, "keep"), (1, "right"))
    for speed, speed_label in ((-1, "slower"), (0, "same"), (1, "faster"))
)
# The decisions of a policy for every road (planning.rl.interface "road"): each of ACTIONS, yielding to
# crossing traffic as the rule planner does, or going through it for the next period (issue 30: the
# rules' yielding, a constant-velocity prediction of every crossing vehicle, is what makes them slow
# at the intersection and the roundabout; the policy learns when going is safe).
ROAD_ACTIONS: tuple[Action, ...] = tuple(
    Action(
        action.lane_change, action.speed_change, f"{action.label}/{junction}", junction == "yield"
    )
    for action in ACTIONS
    for junction in ("yield", "go")
)
SPEED_STEP_MPS = 2.5  # [m/s] one "slower" or "faster" changes the cruise speed by this much
MIN_CRUISE_MPS = 17.5  # [m/s] the lowest cruise speed the policy can ask for
MAX_CRUISE_MPS = 30.0  # [m/s] the highest: highway-env rewards speed up to 30 m/s
INITIAL_CRUISE_MPS = 25.0  # [m/s] the cruise speed at the start of an episode
_RULES = RulesConfig()
TIME_GAP_S = _RULES.idm.time_gap_s  # [s] the executor's default IDM time gap
# The safety layer also vetoes a change while a vehicle in the lane beyond the target is alongside
# or less than a clearance ahead: it may move into the same gap at the same moment, as highway-env's
# traffic does (its MOBIL does not see an ego that has not yet crossed the line).
FAR_LANE_CLEARANCE_M = 20.0  # [m] bumper gap; the default clearance
# The cut-in check (planning.safety.cut_in) vetoes a change, and aborts one whose ego has not yet
# crossed the line, while a vehicle of the lane beyond moves into the target lane ahead.


@dataclass(frozen=True)
class SafetyMargins:
    """What the safety layer asks of a gap before the ego changes into it; by default the rule
    planner's (:class:`~planning.rules.RulesConfig`) and the far-lane check."""

    min_front_gap_m: float = described(
        _RULES.min_front_gap_m, "Safety layer: bumper gap to the new leader [m]."
    )
    min_rear_gap_m: float = described(
        _RULES.min_rear_gap_m, "Safety layer: bumper gap to the new follower [m]."
    )
    # inf lifts the bound
    max_imposed_braking_mps2: float = described(
        _RULES.max_imposed_braking_mps2,
        "Safety layer: how hard the new follower may have to brake [m/s2]; inf.",
    )
    far_lane_check: bool = described(
        True, "Safety layer: no change while the lane beyond has a vehicle beside the gap."
    )
    far_lane_clearance_m: float = described(
        FAR_LANE_CLEARANCE_M,
        "Safety layer: how far ahead in the lane beyond counts as beside [m].",
    )
    wait_for_gap: bool = described(
        False, "Safety layer: a vetoed change starts once allowed, until the next decision."
    )
    cut_in_check: bool = described(
        False, "Safety layer: no change, and abort one, while the lane beyond cuts in ahead."
    )
    stopping_check: bool = described(
        False,
        "Safety layer: no faster than the ego can still stop from behind a leader braking hard.",
    )

    def __post_init__(self) -> None:
        for name in ("far_lane_check", "wait_for_gap", "cut_in_check", "stopping_check"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        for name in ("min_front_gap_m", "min_rear_gap_m", "far_lane_clearance_m"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be at least 0, got {getattr(self, name)}")
        if not self.max_imposed_braking_mps2 > 0:
            raise ValueError(
                f"max_imposed_braking_mps2 must be positive, got {self.max_imposed_braking_mps2}"
            )


@dataclass(frozen=True)
class ExecutorConfig:
    """How the executor drives a policy's decisions: the car-following model and its time gap, and
    the margins of the safety layer (where it is on).

    A policy is trained with one and must be deployed with the same; its card records it.
    """

    car_following: CarFollowing = "idm"
    time_gap_s: float = TIME_GAP_S  # [s]
    margins: SafetyMargins = SafetyMargins()
    # [m/s2] bounds the speed in curves; the rule planner's 2.5 by default. The roads' policies
    # drive their curves nearer nuPlan's comfort bound (4.89), as the traffic they keep up with.
    lateral_acceleration_mps2: float = _RULES.comfort_lateral_acceleration_mps2

    def __post_init__(self) -> None:
        check_car_following(self.car_following)
        if not self.time_gap_s > 0:
            raise ValueError(f"time_gap_s must be positive, got {self.time_gap_s}")
        if not 0 < self.lateral_acceleration_mps2 <= 10:
            raise ValueError(
                f"lateral_acceleration_mps2 must be in (0, 10], got {self.lateral_acceleration_mps2}"
            )

    def rules(self) -> RulesConfig:
        """The rule planner's tuning with this car following, time gap, gap margins and lateral
        acceleration in curves."""
        return replace(
            _RULES,
            car_following=self.car_following,
            idm=replace(_RULES.idm, time_gap_s=self.time_gap_s),
            min_front_gap_m=self.margins.min_front_gap_m,
            min_rear_gap_m=self.margins.min_rear_gap_m,
            max_imposed_braking_mps2=self.margins.max_imposed_braking_mps2,
            comfort_lateral_acceleration_mps2=self.lateral_acceleration_mps2,
        )


DEFAULT_EXECUTOR = ExecutorConfig()  # highway-env's IDM at its 1.5 s, as the traffic drives


class PolicyExecutor(RulePlanner):
    """Executes a policy's decisions at the control rate; see the module docstring.

    :param safety_layer: veto and abort lane changes into gaps smaller than the margins allow, and
        yield at conflicts with crossing traffic whatever the decision.
    :param executor_config: the ego's car following and the safety layer's margins.
    """

    def __init__(
        self, *, safety_layer: bool, executor_config: ExecutorConfig = DEFAULT_EXECUTOR
    ) -> None:
        self.safety_layer = safety_layer
        self.executor_config = executor_config
        super().__init__(executor_config.rules())

    def reset(self) -> None:
        super().reset()
        self.cruise_mps = INITIAL_CRUISE_MPS
        self.decisions = 0
        self._overrides = 0  # lane changes vetoed or aborted, decisions to go held back
        self._held_back = False  # the safety layer made the current decision to go yield
        self._slowed = False  # the stopping check bounded the speed since the last decision
        self._waiting = 0  # a vetoed change (-1 left, +1 right) waiting for its gap; 0: none
        self.yields = True  # the last decision yields to crossing traffic

    @property
    def overrides(self) -> int:
        """Lane changes the safety layer vetoed or aborted, decisions to go it held back at a
        conflict with crossing traffic, and decisions whose speed its stopping check bounded, this
        episode."""
        return self._overrides

    @property
    def changing_direction(self) -> int:
        """-1 while changing lane to the left, +1 to the right, 0 otherwise."""
        if self._changing_to is None:
            return 0
        return -1 if self._direction == "change_left" else 1

    def decide(self, action: Action, scene: SceneState) -> None:
        """Take the policy's decision for the next period.

        A lane change is ignored while another one is under way or where there is no lane.
        """
        self.decisions += 1
        self.yields = action.yields
        self._held_back = False
        self._slowed = False
        self.cruise_mps = float(
            np.clip(
                self.cruise_mps + action.speed_change * SPEED_STEP_MPS,
                MIN_CRUISE_MPS,
                MAX_CRUISE_MPS,
            )
        )
        self._waiting = 0
        if self._changing_to is None and self._leaves_oncoming_lane(scene, action):
            return
        if action.lane_change == 0 or self._changing_to is not None:
            return
        target = scene.lane(scene.ego.lane.index + action.lane_change)
        if target is None:
            return
        if self._vetoes(scene, target):
            self._overrides += 1
            if self.executor_config.margins.wait_for_gap:
                self._waiting = action.lane_change
            return
        self._start_change(target, action.lane_change)

    def _leaves_oncoming_lane(self, scene: SceneState, action: Action) -> bool:
        """With the layer, head back right from a lane that the map says oncoming traffic drives
        down (two-way-v0's overtaking lane, where the policy may have pulled out), at once if that
        change is safe, else as soon as it is (waiting for the gap); one override unless the policy
        asked for it. Returns whether that took the decision's lane change."""
        current = scene.lane(scene.ego.lane.index)
        right = scene.lane(scene.ego.lane.index + 1)
        if not self.safety_layer or current is None or right is None:
            return False
        if not current.carries_oncoming:
            return False
        if action.lane_change != 1:
            self._overrides += 1
        if self._vetoes(scene, right):
            self._waiting = 1
        else:
            self._start_change(right, 1)
        return True

    def _vetoes(self, scene: SceneState, target: LaneGeometry) -> bool:
        """The safety layer (if on) refuses to start a change into ``target`` now."""
        if not self.safety_layer:
            return False
        if target.carries_oncoming or _oncoming(scene, target):
            return True  # no overtaking in oncoming traffic's lane (two-way-v0)
        if self.executor_config.margins.stopping_check and self._too_fast_behind(scene, target):
            return True  # e.g. into merge-v0's ending lane, towards the obstacle at its end
        if not self._is_safe(scene, target, fraction=1.0) or self._bends(
            target, scene.ego.speed_mps
        ):
            return True
        margins = self.executor_config.margins
        if not (margins.far_lane_check or margins.cut_in_check):
            return False
        far = _far_lane(scene, target)  # projected once for both checks
        clearance_m = margins.far_lane_clearance_m
        return bool(
            (margins.far_lane_check and far_lane_conflict(far, clearance_m))
            or (margins.cut_in_check and cut_in(far, scene.ego.speed_mps, clearance_m))
        )

    def _start_change(self, target: LaneGeometry, lane_change: int) -> None:
        """Head for ``target``, ``lane_change`` lanes over (-1 left, +1 right)."""
        self._changing_to = target.lane.index
        self._direction = "change_left" if lane_change < 0 else "change_right"

    def _choose_change(self, scene: SceneState, current: LaneGeometry) -> LaneGeometry | None:
        return None  # lane changes come from the policy, through decide()

    def _update_change(self, scene: SceneState, current: LaneGeometry) -> None:
        """End a change on arrival; with the layer, abort it (counted as an override); or start
        the change waiting for its gap (there is none while a change is under way)."""
        if self._changing_to is not None:
            target = scene.lane(self._changing_to)
            underway = target is not None and target.lane != current.lane
            super()._update_change(scene, current)
            self._overrides += int(underway and self._changing_to is None)
        elif self._waiting:
            waiting_for = scene.lane(current.lane.index + self._waiting)
            if waiting_for is not None and not self._vetoes(scene, waiting_for):
                self._start_change(waiting_for, self._waiting)
                self._waiting = 0

    def _must_abort(self, scene: SceneState, current: LaneGeometry, target: LaneGeometry) -> bool:
        """Without the layer, never; with it, the target's gap closed or (with the cut-in check)
        the lane beyond moves into the target lane. Not the rules' braking test: the layer is
        what the batched engine's executor does (:mod:`planning.rl.batched`), which the shipped
        policies were trained with."""
        if not self.safety_layer:
            return False
        if not self._is_safe(scene, target, fraction=self.config.abort_fraction):
            return True
        margins = self.executor_config.margins
        return margins.cut_in_check and bool(
            cut_in(_far_lane(scene, target), scene.ego.speed_mps, margins.far_lane_clearance_m)
        )

    def _turn_back(self, scene: SceneState, current: LaneGeometry) -> None:
        """The layer drops an aborted change and follows in the lane the ego is in, as the batched
        engine's executor does; the rule planner's return to the lane it came from is not theirs
        yet (the batched executor and the policies trained on it would change with it)."""
        self._end_change(scene)

    def _desired_speed(self, lane: LaneGeometry, speed_mps: float) -> float:
        return min(self.cruise_mps, super()._desired_speed(lane, speed_mps))

    def _too_fast_behind(self, scene: SceneState, lane: LaneGeometry) -> bool:
        """The ego is faster than it could still stop from behind its leader in ``lane``."""
        return scene.ego.speed_mps > _safe_speed_mps(self._neighbours(scene, lane))

    def _following(self, scene: SceneState, lane: LaneGeometry, near: Neighbours) -> float:
        """Car following; with the layer's stopping check, braking wherever the ego is faster than
        it can still stop from behind its leader braking hard (RSS's proper response,
        :func:`planning.safety.stopping_acceleration_mps2`), one override per decision it brakes."""
        following = super()._following(scene, lane, near)
        if not (self.safety_layer and self.executor_config.margins.stopping_check):
            return following
        bound = stopping_acceleration_mps2(scene.ego.speed_mps, _safe_speed_mps(near))
        if bound >= following:
            return following
        if not self._slowed:
            self._overrides += 1
            self._slowed = True
        return bound

    def _yield_acceleration(self, scene: SceneState, lane: LaneGeometry) -> float:
        """The rule planner's yielding where the last decision yields. Where it goes, the safety
        layer (if on) still yields to a conflict the ego can stop for, as it vetoes an unsafe lane
        change: one override per decision held back."""
        if not (self.yields or self.safety_layer):
            return math.inf  # going, unguarded: no conflict test to run
        yielding = super()._yield_acceleration(scene, lane)
        if self.yields or not math.isfinite(yielding):
            return yielding
        if not self._held_back:
            self._overrides += 1
            self._held_back = True
        return yielding


def _safe_speed_mps(near: Neighbours) -> float:
    """The fastest speed from which the ego still stops behind ``near``'s leader
    (:func:`planning.safety.safe_following_speed_mps`); ``inf`` without a leader."""
    if near.lead_gap_m is None or near.lead_speed_mps is None:
        return math.inf
    return safe_following_speed_mps(near.lead_gap_m, near.lead_speed_mps)


def _oncoming(scene: SceneState, target: LaneGeometry) -> bool:
    """A vehicle ahead in ``target`` drives against it: two-way-v0's oncoming traffic, whose lane
    lies over the ego's left lane (highway-env names them as two lanes). Headings are compared with
    the lane's where each vehicle is, so that a ring road's traffic is not taken for oncoming."""
    if not scene.vehicles:
        return False
    ego, line = scene.ego, target.centreline
    xs = np.array([v.x_m for v in scene.vehicles], dtype=np.float64)
    ys = np.array([v.y_m for v in scene.vehicles], dtype=np.float64)
    stations, offsets = to_frenet(line, xs, ys)
    ego_station, _ = to_frenet(line, np.array(ego.x_m), np.array(ego.y_m))
    lane_headings = heading_at(line, stations)
    headings = np.array([v.heading_rad for v in scene.vehicles])
    against = np.cos(headings - lane_headings) < 0
    in_lane = np.abs(offsets) < target.width_m / 2
    return bool(np.any(against & in_lane & (stations > ego_station)))


def _far_lane(scene: SceneState, target: LaneGeometry) -> FarLane[np.ndarray]:
    """The lane beyond ``target`` as :class:`~planning.safety.FarLane` sees it, for one perceived scene. Perception reports the ego's lane and
    its neighbours only, so the lane beyond is found in ``target``'s frame: a centre between a half
    and one and a half lane widths from ``target``'s, on the side away from the ego."""
    ego, vehicles = scene.ego, scene.vehicles
    xs = np.array([v.x_m for v in vehicles], dtype=np.float64)
    ys = np.array([v.y_m for v in vehicles], dtype=np.float64)
    stations, offsets = to_frenet(target.centreline, xs, ys)
    ego_station, ego_offset = to_frenet(target.centreline, np.array(ego.x_m), np.array(ego.y_m))
    away = -np.sign(float(ego_offset))  # +1 where the lane beyond has higher offsets
    lane_heading = heading_at(target.centreline, stations)
    turns = np.array([v.heading_rad for v in vehicles]) - lane_heading
    speeds = np.array([v.speed_mps for v in vehicles], dtype=np.float64)
    speed_along, rightward = velocity_in_lane(speeds, turns)
    beyond = away * offsets
    half_lengths = (np.array([v.length_m for v in vehicles]) + ego.length_m) / 2
    ahead_m = stations - float(ego_station)
    in_far_lane = (beyond > target.width_m / 2) & (beyond < 1.5 * target.width_m)
    return FarLane(
        present=in_far_lane & (ahead_m > -half_lengths),
        ahead_m=ahead_m,
        half_lengths_m=half_lengths,
        speed_along_mps=speed_along,
        speed_towards_mps=-away * rightward,
    )
