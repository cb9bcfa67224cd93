"""The sparse QP of a linear time-varying MPC on highway-env's bicycle, for OSQP, updated in place.

State ``z = (lateral error e_y [m], heading error e_psi [rad], speed v [m/s])`` relative to a reference
path; input ``u = (acceleration a [m/s2], slip angle beta [rad])``. Using the slip angle as the input
makes the model linear in it: highway-env's yaw rate is ``v sin(beta) / (L / 2)``. Steering is
recovered as ``delta = atan(2 tan(beta))``. The model is linearised around a speed schedule ``v_k``
(Euler steps of ``h`` seconds, as highway-env integrates):

    e_y[k+1]   = e_y[k] + h v_k (e_psi[k] + beta[k])
    e_psi[k+1] = e_psi[k] + h (2 v_k / L) beta[k] - h kappa_k v_k
    v[k+1]     = v[k] + h a[k]

The sparsity pattern never changes, so each solve only rewrites the numbers that depend on ``v_k``,
``kappa_k``, the reference and the bounds, and OSQP keeps its factorisation and warm start. We write
the QP by hand rather than through a modelling layer (cvxpy, CasADi) because rebuilding it in Python
every step costs milliseconds; updating the arrays in place keeps the whole step under one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import osqp
import scipy.sparse as sparse

STATES = 3
INPUTS = 2


@dataclass(frozen=True)
class QpWeights:
    """Quadratic costs of the MPC (per step, on squared errors in SI units)."""

    lateral: float = 4.0
    heading: float = 4.0
    speed: float = 1.0
    acceleration: float = 0.2
    slip: float = 20.0
    jerk: float = 8.0  # on (a[k] - a[k-1])^2
    slip_rate: float = 1500.0  # on (beta[k] - beta[k-1])^2
    terminal_factor: float = 4.0  # the last state's cost is this many times a step's


@dataclass(frozen=True)
class QpBounds:
    """Per-solve bounds: actuation, rates, and the speed-dependent slip limits."""

    min_acceleration_mps2: np.ndarray  # (N,)
    max_acceleration_mps2: np.ndarray  # (N,)
    max_slip_rad: np.ndarray  # (N,) symmetric bound on beta
    max_acceleration_step_mps2: float  # jerk limit x h
    max_slip_step_rad: float  # slip-rate limit x h


class LtvMpcQp:
    """Holds the OSQP problem for a horizon of ``horizon_steps`` steps of ``step_s`` seconds."""

    def __init__(
        self, *, horizon_steps: int, step_s: float, length_m: float, weights: QpWeights
    ) -> None:
        self.n = horizon_steps
        self.h = step_s
        self.length_m = length_m
        self.weights = weights
        self._nz = STATES * (self.n + 1)
        self._nx = self._nz + INPUTS * self.n
        self._hessian = self._build_hessian()
        self._build_constraint_pattern()
        self.predicted_states: np.ndarray | None = None  # (N + 1, 3) of the last solve, or None
        self._solver = osqp.OSQP()
        zeros = np.zeros(self._rows)
        self._solver.setup(
            self._hessian,
            np.zeros(self._nx),
            self._constraints,
            zeros,
            zeros,
            verbose=False,
            warm_starting=True,
            polishing=False,
            eps_abs=1e-4,
            eps_rel=1e-4,
            max_iter=4000,
        )

    # --- Set-up: fixed sparsity patterns ---------------------------------------------------------

    def _z(self, k: int, i: int) -> int:
        return STATES * k + i

    def _u(self, k: int, i: int) -> int:
        return self._nz + INPUTS * k + i

    def _build_hessian(self) -> sparse.csc_matrix:
        w = self.weights
        diagonal = np.zeros(self._nx)
        for k in range(1, self.n + 1):
            factor = w.terminal_factor if k == self.n else 1.0
            diagonal[self._z(k, 0)] = 2 * w.lateral * factor
            diagonal[self._z(k, 1)] = 2 * w.heading * factor
            diagonal[self._z(k, 2)] = 2 * w.speed * factor
        rate = (w.jerk, w.slip_rate)
        rows, cols = list(range(self._nx)), list(range(self._nx))
        values: list[float] = [float(d) for d in diagonal]
        for k in range(self.n):
            for i, (own, change) in enumerate(zip((w.acceleration, w.slip), rate, strict=True)):
                # sum_k change * (u_k - u_{k-1})^2, with u_{-1} the input applied last (a parameter,
                # so its cross term is linear): u_k appears in term k and, but for the last, term k+1.
                rows.append(self._u(k, i))
                cols.append(self._u(k, i))
                values.append(2 * own + 2 * change * (1 + (k < self.n - 1)))
                if k > 0:
                    rows.append(self._u(k - 1, i))
                    cols.append(self._u(k, i))
                    values.append(-2 * change)
        full = sparse.csc_matrix((values, (rows, cols)), shape=(self._nx, self._nx))
        return sparse.triu(full, format="csc")  # OSQP reads the upper triangle

    def _build_constraint_pattern(self) -> None:
        """Rows: initial state, dynamics, input bounds, input-rate bounds.

        There is no hard ``v >= 0`` row: with jerk limits it makes the QP infeasible near a standstill
        (a car braking at 6 m/s2 cannot stop its deceleration in time). The speed reference never goes
        below zero and the controller never commands reversing instead.
        """
        rows: list[int] = []
        cols: list[int] = []
        row = 0
        self._initial_rows = slice(0, STATES)
        for i in range(STATES):
            rows.append(row + i)
            cols.append(self._z(0, i))
        row += STATES
        self._dynamics_start = row
        # For each step: z_{k+1} - A_k z_k - B_k u_k = c_k, entries in a fixed order.
        for k in range(self.n):
            r = row + STATES * k
            entries = [
                (r + 0, self._z(k + 1, 0)),
                (r + 0, self._z(k, 0)),
                (r + 0, self._z(k, 1)),
                (r + 0, self._u(k, 1)),
                (r + 1, self._z(k + 1, 1)),
                (r + 1, self._z(k, 1)),
                (r + 1, self._u(k, 1)),
                (r + 2, self._z(k + 1, 2)),
                (r + 2, self._z(k, 2)),
                (r + 2, self._u(k, 0)),
            ]
            for er, ec in entries:
                rows.append(er)
                cols.append(ec)
        row += STATES * self.n
        self._bound_start = row
        for k in range(self.n):
            for i in range(INPUTS):
                rows.append(row + INPUTS * k + i)
                cols.append(self._u(k, i))
        row += INPUTS * self.n
        self._rate_start = row
        for k in range(self.n):
            for i in range(INPUTS):
                rows.append(row + INPUTS * k + i)
                cols.append(self._u(k, i))
                if k > 0:
                    rows.append(row + INPUTS * k + i)
                    cols.append(self._u(k - 1, i))
        row += INPUTS * self.n
        self._rate_end = row
        self._rows = row
        self._coo_rows = np.array(rows)
        self._coo_cols = np.array(cols)
        # Find where each entry lands in CSC storage, to write values in place later.
        tags = np.arange(1, len(rows) + 1, dtype=np.float64)
        pattern = sparse.csc_matrix((tags, (self._coo_rows, self._coo_cols)), shape=(row, self._nx))
        self._csc_order = pattern.data.astype(np.int64) - 1
        self._constraints = sparse.csc_matrix(
            (self._values(np.ones(self.n)), (self._coo_rows, self._coo_cols)), shape=(row, self._nx)
        )
        # Only three entries per step depend on the speed schedule: their CSC slots, in the order
        # (e_y <- e_psi, e_y <- beta, e_psi <- beta) per step.
        first = STATES + np.arange(self.n) * 10
        coo_slots = np.stack([first + 2, first + 3, first + 6], axis=1).ravel()
        where_in_csc = np.empty_like(self._csc_order)
        where_in_csc[self._csc_order] = np.arange(len(self._csc_order))
        self._speed_slots = where_in_csc[coo_slots]
        self._lower = np.zeros(row)
        self._upper = np.zeros(row)
        self._gradient = np.zeros(self._nx)
        weights = self.weights
        state_weights = np.array([weights.lateral, weights.heading, weights.speed])
        factors = np.ones((self.n, 1))
        factors[-1] = weights.terminal_factor
        self._reference_scale = -2.0 * state_weights * factors

    def _values(self, speeds: np.ndarray) -> np.ndarray:
        """Constraint-matrix values in COO order for a speed schedule ``speeds`` (N,)."""
        h, n = self.h, self.n
        dynamics = np.empty((n, 10))
        dynamics[:, 0] = 1.0
        dynamics[:, 1] = -1.0
        dynamics[:, 2] = -h * speeds
        dynamics[:, 3] = -h * speeds
        dynamics[:, 4] = 1.0
        dynamics[:, 5] = -1.0
        dynamics[:, 6] = -h * 2.0 * speeds / self.length_m
        dynamics[:, 7] = 1.0
        dynamics[:, 8] = -1.0
        dynamics[:, 9] = -h
        rates = np.ones(INPUTS + 2 * INPUTS * (n - 1))
        rates[INPUTS:] = np.tile([1.0, -1.0], INPUTS * (n - 1))
        return np.concatenate([np.ones(STATES), dynamics.ravel(), np.ones(INPUTS * n), rates])

    # --- Per-step solve ------------------------------------------------------------------------------

    def solve(
        self,
        *,
        initial_state: np.ndarray,
        speeds: np.ndarray,
        curvatures: np.ndarray,
        reference: np.ndarray,
        previous_input: np.ndarray,
        bounds: QpBounds,
    ) -> np.ndarray | None:
        """Solve for the input sequence.

        :param initial_state: ``(e_y, e_psi, v)`` now.
        :param speeds: the speed schedule ``v_k`` the model is linearised around, shape (N,).
        :param curvatures: path curvature at each step [1/m], shape (N,).
        :param reference: wanted states ``(e_y, e_psi, v)`` for steps 1..N, shape (N, 3).
        :param previous_input: the input applied last step ``(a, beta)``.
        :param bounds: actuation and rate bounds.
        :return: inputs of shape (N, 2), or None if OSQP did not solve the problem.
        """
        w, n, h = self.weights, self.n, self.h
        speed_values = np.empty((n, 3))
        speed_values[:, 0] = -h * speeds
        speed_values[:, 1] = -h * speeds
        speed_values[:, 2] = -h * 2.0 * speeds / self.length_m

        gradient = self._gradient
        gradient[STATES : self._nz] = (self._reference_scale * reference).ravel()
        gradient[self._u(0, 0)] = -2 * w.jerk * previous_input[0]
        gradient[self._u(0, 1)] = -2 * w.slip_rate * previous_input[1]

        lower, upper = self._lower, self._upper
        lower[:STATES] = upper[:STATES] = initial_state
        dyn = slice(self._dynamics_start + 1, self._bound_start, STATES)  # the e_psi rows
        lower[dyn] = upper[dyn] = -h * curvatures * speeds
        bounds_low = lower[self._bound_start : self._rate_start].reshape(n, INPUTS)
        bounds_high = upper[self._bound_start : self._rate_start].reshape(n, INPUTS)
        bounds_low[:, 0] = bounds.min_acceleration_mps2
        bounds_high[:, 0] = bounds.max_acceleration_mps2
        bounds_low[:, 1] = -bounds.max_slip_rad
        bounds_high[:, 1] = bounds.max_slip_rad
        steps = np.array([bounds.max_acceleration_step_mps2, bounds.max_slip_step_rad])
        rate_low = lower[self._rate_start : self._rate_end].reshape(n, INPUTS)
        rate_high = upper[self._rate_start : self._rate_end].reshape(n, INPUTS)
        rate_low[:] = -steps
        rate_high[:] = steps
        # The first step's rate bound is on u_0 itself, around the input applied last; it is clipped
        # into the input bounds so that a bound that moved (speed-dependent slip) stays feasible.
        first_low = np.clip(previous_input - steps, bounds_low[0], bounds_high[0])
        first_high = np.clip(previous_input + steps, bounds_low[0], bounds_high[0])
        rate_low[0], rate_high[0] = first_low, np.maximum(first_high, first_low)
        self._solver.update(
            q=gradient, l=lower, u=upper, Ax=speed_values.ravel(), Ax_idx=self._speed_slots
        )
        result = self._solver.solve(raise_error=False)
        if result.info.status_val not in (
            osqp.SolverStatus.OSQP_SOLVED,
            osqp.SolverStatus.OSQP_SOLVED_INACCURATE,
        ) or not np.all(np.isfinite(result.x)):
            self.predicted_states = None
            return None
        self.predicted_states = result.x[: self._nz].reshape(n + 1, STATES).copy()
        return result.x[self._nz :].reshape(n, INPUTS)
