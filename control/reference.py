"""The references the controllers track.

The lateral reference after a lane switch is a quintic (minimum-jerk) ease onto the new
centreline: the plan names a target lane; when it switches, the reference offset eases from where
the ego is to zero over ``duration_s``. Controllers that track it (MPC, highway-env's builtin law)
are compared on the same path. The speed reference of ``mpc-comfort``
(:func:`speed_reference_mps`) reaches the plan's target speed with a bounded jerk.
"""

from __future__ import annotations

import math

import numpy as np

from sims.groundtruth import LaneId


def quintic_ease(progress: np.ndarray) -> np.ndarray:
    """Minimum-jerk blend from 0 to 1 for progress in [0, 1] (clipped outside)."""
    p = np.clip(progress, 0.0, 1.0)
    return p**3 * (10 - 15 * p + 6 * p**2)


# [s] over a 4 m lane the quintic peaks at 5.77 x 4 / 2.5^2 = 3.7 m/s2 of lateral acceleration,
# under the MPC's 4.5 m/s2 bound (it was 3 s, 2.6 m/s2: too slow for the gaps the RL planner takes)
LANE_CHANGE_DURATION_S = 2.5


class LaneChangeReference:
    """Tracks the plan's lane and returns the wanted lateral offset from its centreline over time.

    :param duration_s: length of the transition [s].
    :param min_offset_m: a switch with a smaller offset (a new road edge, say) is not eased.
    """

    def __init__(
        self, *, duration_s: float = LANE_CHANGE_DURATION_S, min_offset_m: float = 0.5
    ) -> None:
        self.duration_s = duration_s
        self.min_offset_m = min_offset_m
        self.reset()

    def reset(self) -> None:
        self._lane: LaneId | None = None
        self._start_s = 0.0
        self._offset_m = 0.0

    def update(self, lane: LaneId, offset_m: float, time_s: float) -> None:
        """Note the plan's lane at ``time_s``; a new lane index starts a transition from ``offset_m``."""
        if self._lane is None or lane.index != self._lane.index:
            # A small offset (an aborted change, a new road edge) is tracked directly; it must not
            # inherit the previous transition, which was measured from another centreline.
            self._start_s = time_s
            self._offset_m = offset_m if abs(offset_m) >= self.min_offset_m else 0.0
        self._lane = lane

    def offset_m(self, times_s: np.ndarray | float) -> np.ndarray:
        """Wanted offset from the plan's centreline [m] at ``times_s``."""
        progress = (np.asarray(times_s, dtype=np.float64) - self._start_s) / self.duration_s
        return self._offset_m * (1.0 - quintic_ease(progress))


# [m/s3] the speed reference's acceleration changes no faster than this while the plan asks for
# comfortable braking or less: under nuPlan's 4.13 m/s3 bound on the filtered longitudinal jerk
COMFORT_JERK_MPS3 = 3.0
# [m/s2] from this braking on, the jerk allowed grows with the braking asked, up to the MPC's hard
# limit at URGENT_BRAKING_MPS2, so that comfort never holds back braking that safety needs
COMFORT_BRAKING_MPS2 = 3.0
# [m/s2] a plan that asks to brake harder than this is urgent: the reference brakes as the plan
# asks at once, as before comfort was considered. nuPlan's comfort bound is 4.05 m/s2.
URGENT_BRAKING_MPS2 = 4.0


def ramp_reference_mps(
    speed_mps: float,
    target_mps: float,
    *,
    step_s: float,
    steps: int,
    horizon_s: float,
    max_acceleration_mps2: float,
    max_braking_mps2: float,
) -> np.ndarray:
    """The plan's own speed ramp [m/s]: the acceleration it asks (the gap to its target speed over
    ``horizon_s``, bounded) from the next step on, stopping at the target, never negative. ``mpc``
    tracks it; :func:`speed_reference_mps` brakes by it when braking is urgent.

    :param speed_mps: the ego's speed now [m/s].
    :param target_mps: the plan's target speed [m/s].
    :param step_s: the MPC's step [s].
    :param steps: the horizon's length in steps.
    :param horizon_s: how far ahead the plan wants its target speed [s].
    :param max_acceleration_mps2: the most acceleration asked [m/s2].
    :param max_braking_mps2: the most braking asked [m/s2].
    :return: ``steps`` speeds, one per step from the next on [m/s].
    """
    change_mps = target_mps - speed_mps
    wanted_mps2 = float(np.clip(change_mps / horizon_s, -max_braking_mps2, max_acceleration_mps2))
    ramp_mps = np.clip(
        wanted_mps2 * (step_s * np.arange(1, steps + 1)), -abs(change_mps), abs(change_mps)
    )
    return np.maximum(speed_mps + ramp_mps, 0.0)


def speed_reference_mps(
    speed_mps: float,
    target_mps: float,
    acceleration_mps2: float,
    *,
    step_s: float,
    steps: int,
    horizon_s: float,
    max_acceleration_mps2: float,
    max_braking_mps2: float,
    max_jerk_mps3: float = 12.0,
) -> np.ndarray:
    """The speeds over the MPC's horizon that reach a plan's target speed smoothly [m/s].

    A planner's target speed is the speed it wants ``horizon_s`` from now, so the gap over that
    horizon is the acceleration it asks for. The reference moves from the acceleration applied now
    towards that acceleration, changing it by no more than the jerk allowed, holds it, and eases
    off as the speed nears the target so that the acceleration reaches zero there (a stop without
    a jolt); after an overshoot it comes back to the target. The jerk allowed is
    :data:`COMFORT_JERK_MPS3` up to :data:`COMFORT_BRAKING_MPS2` of braking asked, and grows to
    ``max_jerk_mps3`` at :data:`URGENT_BRAKING_MPS2`; beyond, the reference is the plan's ramp
    itself, at once.

    :param speed_mps: the ego's speed now [m/s].
    :param target_mps: the plan's target speed [m/s].
    :param acceleration_mps2: the acceleration applied at the last step [m/s2].
    :param step_s: the MPC's step [s].
    :param steps: the horizon's length in steps.
    :param horizon_s: how far ahead the plan wants its target speed [s].
    :param max_acceleration_mps2: the most acceleration the reference asks [m/s2].
    :param max_braking_mps2: the most braking the reference asks [m/s2].
    :param max_jerk_mps3: the MPC's hard jerk limit [m/s3].
    :return: ``steps`` speeds, one per step from the next on [m/s], never negative.
    """
    change_mps = target_mps - speed_mps
    asked_mps2 = float(np.clip(change_mps / horizon_s, -max_braking_mps2, max_acceleration_mps2))
    if asked_mps2 < -URGENT_BRAKING_MPS2:
        return ramp_reference_mps(
            speed_mps,
            target_mps,
            step_s=step_s,
            steps=steps,
            horizon_s=horizon_s,
            max_acceleration_mps2=max_acceleration_mps2,
            max_braking_mps2=max_braking_mps2,
        )
    urgency = float(
        np.clip(
            (-asked_mps2 - COMFORT_BRAKING_MPS2) / (URGENT_BRAKING_MPS2 - COMFORT_BRAKING_MPS2),
            0.0,
            1.0,
        )
    )
    jerk_step_mps2 = (COMFORT_JERK_MPS3 + urgency * (max_jerk_mps3 - COMFORT_JERK_MPS3)) * step_s
    speeds = np.empty(steps)
    speed, acceleration = speed_mps, acceleration_mps2
    for k in range(steps):
        remaining_mps = target_mps - speed
        # as much as the plan asked, held until the target is reached (as its ramp would be), or
        # what it takes to come back to the target within the horizon after an overshoot
        wanted_mps2 = max(abs(asked_mps2), abs(remaining_mps) / horizon_s)
        # The largest acceleration from which steps of jerk_step_mps2 down to zero still end on
        # the target: n steps cover (n + 1) n / 2 jerk steps of speed; solved for the first.
        easing_mps2 = jerk_step_mps2 * (
            math.sqrt(0.25 + 2.0 * abs(remaining_mps) / (jerk_step_mps2 * step_s)) - 0.5
        )
        goal_mps2 = math.copysign(min(wanted_mps2, easing_mps2), remaining_mps)
        # min/max, not np.clip: this loop runs every control step, and np.clip on a float costs
        # microseconds each
        acceleration += min(max(goal_mps2 - acceleration, -jerk_step_mps2), jerk_step_mps2)
        speed += acceleration * step_s
        if speed <= 0.0:  # at rest: no more braking to carry on with
            speed, acceleration = 0.0, 0.0
        speeds[k] = speed
    return speeds
