"""The lateral reference after a lane switch: a quintic (minimum-jerk) ease onto the new centreline.

The plan names a target lane; when it switches, the reference offset eases from where the ego is to
zero over ``duration_s``. Controllers that track this reference (MPC, highway-env's builtin law) are
compared on the same path.
"""

from __future__ import annotations

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
