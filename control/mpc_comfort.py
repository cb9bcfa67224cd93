"""``mpc-comfort``: the MPC of :mod:`control.mpc` with a jerk-limited speed reference.

:class:`~control.mpc.MpcController` ramps its speed reference at the rate the plan asks from the
first step on, and stops the ramp dead at the target: each new braking request, and each stop,
is a jolt that nuPlan's comfort test (4.13 m/s3 of filtered jerk) fails. This one tracks
:func:`control.reference.speed_reference_mps` instead: the acceleration changes by at most 3 m/s3
while the plan asks for comfortable braking or less, and eases to zero as the speed reaches the
target; braking asked beyond 3 m/s2 gets a jerk allowance that grows to the QP's hard limit at
4 m/s2, and beyond that the plan's ramp itself. Everything else (horizon, QP, bounds, the lateral
reference) is the MPC's.
"""

from __future__ import annotations

import numpy as np

from control.mpc import MpcController
from control.reference import speed_reference_mps


class ComfortMpcController(MpcController):
    """:class:`~control.mpc.MpcController` with a jerk-limited speed reference. See the module
    docstring."""

    def _speed_reference(self, speed_mps: float, target_mps: float) -> np.ndarray:
        """Speed over the horizon (:func:`~control.reference.speed_reference_mps`), starting from
        the acceleration applied at the last step."""
        config = self.config
        return speed_reference_mps(
            speed_mps,
            target_mps,
            float(self._previous[0]),
            step_s=self.step_s,
            steps=config.horizon_steps,
            horizon_s=config.plan_horizon_s,
            max_acceleration_mps2=config.comfort_acceleration_mps2,
            max_braking_mps2=config.max_braking_mps2,
            max_jerk_mps3=config.max_jerk_mps3,
        )
