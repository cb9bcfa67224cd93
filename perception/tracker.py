"""A multi-object tracker between the detections and the planner (issue 31).

Each track is a constant-velocity Kalman filter over the state ``(x, y, vx, vy)`` in the world
frame [m, m/s] (Bar-Shalom et al. 2001, "Estimation with Applications to Tracking and Navigation",
ch. 6: the discrete white-noise acceleration model). A detection measures all four: the CNN reads
positions and relative velocities off a stack of frames, and the ego's own velocity turns the
latter into world velocities. Every step the tracker

1. predicts every track to the detections' time;
2. pairs tracks and confident detections by the Hungarian algorithm
   (``scipy.optimize.linear_sum_assignment``) on the distance from the predicted position, pairs
   farther apart than ``gate_m`` refused; then pairs the confirmed tracks left over with the
   faint detections (presence between ``keep_score`` and ``birth_score``) the same way, as
   ByteTrack does (Zhang et al. 2022, "ByteTrack: Multi-Object Tracking by Associating Every
   Detection Box"): a vehicle the network reads faintly for a few frames (one standing on the
   border of two of its cells shares its presence between them) keeps its track, while a faint
   detection never starts one;
3. updates each paired track with its detection;
4. starts a tentative track from every unpaired confident detection (birth), confirms a track after
   ``confirm_hits`` paired steps, and drops a track missed ``max_misses`` steps in a row, or a
   tentative track missed once (death). Tracks born on the first step after a reset are confirmed
   at once: no earlier step could have confirmed them, and a planner shown an empty road acts on
   it (issue 31: on highway-v0 the rule planner, driving from pixels, started its first lane
   change on an empty scene). SORT reports tracks during its first ``min_hits`` frames for the
   same reason (Bewley et al. 2016, "Simple Online and Realtime Tracking").

Confirmed tracks are reported with identities that persist for as long as the track lives, and
with the filter's velocities, which are far steadier than one frame's, and headings along them
(see docs/perception.md).
Hand-written because it is 4-state linear algebra: filterpy's ``KalmanFilter`` would add a
dependency for the two equations of :func:`kalman_predict` and :func:`kalman_update`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from sims.strict import ConfigError, described

STATE = 4  # x, y, vx, vy
# [m/s] faster than this, a track's heading is its filtered velocity's direction; slower, the last
# detection's. The filtered direction is steadier: on highway-v0 seed 100000 (300 steps, vehicles
# within 50 m) the heading error fell from 0.013 to 0.007 rad on average, 0.065 to 0.040 at the 95th
# percentile, and the lateral drift a planner extrapolates over 1.5 s from 0.38 to 0.22 m.
HEADING_FROM_VELOCITY_MPS = 2.0


@dataclass(frozen=True)
class TrackerConfig:
    """The tracker's noise model and its track-management rules."""

    acceleration_std_mps2: float = described(
        2.0, "Process noise: the white acceleration's standard deviation [m/s2].", minimum=0.0
    )
    position_std_m: float = described(
        0.3, "A detection's position error, standard deviation [m].", minimum=0.0
    )
    velocity_std_mps: float = described(
        1.0, "A detection's velocity error, standard deviation [m/s].", minimum=0.0
    )
    unread_velocity_std_mps: float = described(
        5.0,
        "A detection's velocity error before its frames show motion, standard deviation [m/s].",
        minimum=0.0,
    )
    gate_m: float = described(
        4.0, "A detection farther than this from a track's prediction is not its [m].", minimum=0.0
    )
    confirm_hits: int = described(2, "Paired steps before a track is reported.", minimum=1)
    birth_score: float = described(
        0.5, "A detection this confident or more may start a track (presence probability)."
    )
    keep_score: float = described(
        0.2, "A fainter detection down to this may only continue a confirmed track.", minimum=0.0
    )
    max_misses: int = described(4, "Missed steps in a row before a track is dropped.", minimum=1)
    confirm_first_step: bool = described(
        True, "Tracks born on an episode's first step are reported at once."
    )

    def velocity_std_of(self, detection: Detection) -> float:
        """A detection's velocity error, standard deviation [m/s]: larger before its frames
        show motion."""
        return self.velocity_std_mps if detection.velocity_read else self.unread_velocity_std_mps

    def __post_init__(self) -> None:
        for name in ("position_std_m", "velocity_std_mps", "unread_velocity_std_mps", "gate_m"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.acceleration_std_mps2 < 0:
            raise ConfigError(
                f"acceleration_std_mps2 must be >= 0, got {self.acceleration_std_mps2}"
            )
        for name in ("confirm_hits", "max_misses"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.keep_score <= self.birth_score <= 1:
            raise ConfigError(
                f"need 0 <= keep_score <= birth_score <= 1, got keep_score {self.keep_score} "
                f"and birth_score {self.birth_score}"
            )


@dataclass(frozen=True)
class Detection:
    """One detected road user in the world frame.

    :param x_m: position [m].
    :param y_m: position [m].
    :param vx_mps: velocity [m/s].
    :param vy_mps: velocity [m/s].
    :param heading_rad: the heading the detector read [rad].
    :param score: the detector's confidence, a presence probability in [0, 1].
    :param velocity_read: False where the frames the detector read showed no motion yet (a camera's
        first steps, before its stack of frames has filled): the velocity is then a guess, and the
        tracker trusts it as :attr:`TrackerConfig.unread_velocity_std_mps` says.
    """

    x_m: float
    y_m: float
    vx_mps: float
    vy_mps: float
    heading_rad: float
    score: float = 1.0
    velocity_read: bool = True


@dataclass(frozen=True)
class TrackedObject:
    """A confirmed track: a persistent identity, the filtered state and its uncertainty.

    :param track_id: stable while the track lives (from 1, never reused within an episode).
    :param position_std_m: the filter's standard deviation of the position (the larger axis) [m].
    :param speed_std_mps: the filter's standard deviation of the speed: of the velocity along its
        direction (along the heading where the track stands still) [m/s].
    """

    track_id: int
    x_m: float
    y_m: float
    vx_mps: float
    vy_mps: float
    heading_rad: float
    position_std_m: float
    speed_std_mps: float

    @property
    def speed_mps(self) -> float:
        """The filtered speed [m/s]."""
        return math.hypot(self.vx_mps, self.vy_mps)


def transition(dt_s: float) -> np.ndarray:
    """The constant-velocity transition matrix over ``dt_s`` [s], ``(4, 4)``."""
    matrix = np.eye(STATE)
    matrix[0, 2] = matrix[1, 3] = dt_s
    return matrix


def process_noise(dt_s: float, acceleration_std_mps2: float) -> np.ndarray:
    """The discrete white-noise acceleration model's covariance over ``dt_s`` [s], ``(4, 4)``.

    :param acceleration_std_mps2: the white acceleration's standard deviation, per axis [m/s2].
    """
    block = np.array([[dt_s**4 / 4, dt_s**3 / 2], [dt_s**3 / 2, dt_s**2]])
    noise = np.zeros((STATE, STATE))
    for axis in (0, 1):  # x with vx, y with vy
        index = np.ix_([axis, axis + 2], [axis, axis + 2])
        noise[index] = block
    return noise * acceleration_std_mps2**2


def kalman_predict(
    mean: np.ndarray, covariance: np.ndarray, dt_s: float, acceleration_std_mps2: float
) -> tuple[np.ndarray, np.ndarray]:
    """The Kalman prediction ``dt_s`` [s] ahead under constant velocity, of one state or a batch.

    :param mean: ``(..., 4)`` states x, y [m], vx, vy [m/s].
    :param covariance: ``(..., 4, 4)``.
    :return: the predicted means and covariances.
    """
    step = transition(dt_s)
    predicted = step @ covariance @ step.T + process_noise(dt_s, acceleration_std_mps2)
    return mean @ step.T, predicted


def kalman_update(
    mean: np.ndarray, covariance: np.ndarray, measured: np.ndarray, noise: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The Kalman update with a measurement of the whole state (the observation matrix is I), of
    one state or a batch.

    :param mean: ``(..., 4)`` the predicted states.
    :param covariance: ``(..., 4, 4)`` their covariances.
    :param measured: ``(..., 4)`` the measured x, y [m], vx, vy [m/s].
    :param noise: ``(..., 4, 4)`` the measurements' covariances.
    :return: the updated means and covariances (Joseph's form, which stays symmetric).
    """
    innovation_covariance = covariance + noise
    # The gain P S^-1, as the solution of S^T K^T = P^T (both symmetric).
    gain = np.swapaxes(np.linalg.solve(innovation_covariance, covariance), -1, -2)
    keep = np.eye(STATE) - gain
    updated = keep @ covariance @ np.swapaxes(keep, -1, -2) + gain @ noise @ np.swapaxes(
        gain, -1, -2
    )
    innovation = (measured - mean)[..., None]
    return mean + (gain @ innovation)[..., 0], updated


class MultiObjectTracker:
    """Tracks detections from step to step; see the module docstring.

    The tracks live in arrays, one row each (states, covariances, identities, headings, hits and
    misses), so that a step predicts and updates every track in one batched operation.

    :param config: the noise model and the track rules.
    """

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.reset()

    def _measurement_noise(self, detections: tuple[Detection, ...]) -> np.ndarray:
        """``(n, 4, 4)``: each detection's measurement covariance (diagonal)."""
        config = self.config
        velocity_std = np.array([config.velocity_std_of(d) for d in detections]).reshape(-1)
        variances = np.zeros((len(detections), STATE))
        variances[:, :2] = config.position_std_m**2
        variances[:, 2:] = velocity_std[:, None] ** 2
        return variances[:, :, None] * np.eye(STATE)

    def reset(self) -> None:
        """Forget every track (a new episode); identities start again from 1."""
        self._means = np.zeros((0, STATE))
        self._covariances = np.zeros((0, STATE, STATE))
        self._ids = np.zeros(0, dtype=np.int64)
        self._headings = np.zeros(0)
        self._hits = np.zeros(0, dtype=np.int64)
        self._misses = np.zeros(0, dtype=np.int64)
        self._next_id = 1
        self._time_s: float | None = None

    def update(
        self, detections: tuple[Detection, ...], *, time_s: float
    ) -> tuple[TrackedObject, ...]:
        """Advance to ``time_s`` [s], take this step's detections and report the confirmed tracks.

        :param detections: what the detector found at ``time_s``.
        :param time_s: the detections' time; never earlier than the previous step's.
        :return: the confirmed tracks, ordered by identity.
        :raises ValueError: ``time_s`` earlier than the previous step's.
        """
        first_step = self._time_s is None
        dt_s = 0.0 if self._time_s is None else time_s - self._time_s
        if dt_s < 0:
            raise ValueError(f"time went back from {self._time_s} s to {time_s} s")
        self._time_s = time_s
        config = self.config
        self._means, self._covariances = kalman_predict(
            self._means, self._covariances, dt_s, config.acceleration_std_mps2
        )
        measured = np.array(
            [(d.x_m, d.y_m, d.vx_mps, d.vy_mps) for d in detections], dtype=float
        ).reshape(-1, STATE)
        scores = np.array([d.score for d in detections], dtype=float)
        noise = self._measurement_noise(detections)
        confident = np.flatnonzero(scores >= config.birth_score)
        faint = np.flatnonzero((scores >= config.keep_score) & (scores < config.birth_score))
        tracks, paired = self._associate(measured, np.arange(len(self._ids)), confident)
        left = np.setdiff1d(np.flatnonzero(self._hits >= config.confirm_hits), tracks)
        kept, faintly = self._associate(measured, left, faint)
        tracks, paired = np.concatenate([tracks, kept]), np.concatenate([paired, faintly])
        if len(tracks):
            self._means[tracks], self._covariances[tracks] = kalman_update(
                self._means[tracks],
                self._covariances[tracks],
                measured[paired],
                noise[paired],
            )
            self._headings[tracks] = [detections[index].heading_rad for index in paired]
            self._hits[tracks] += 1
        missed = np.ones(len(self._ids), dtype=bool)
        missed[tracks] = False
        self._misses = np.where(missed, self._misses + 1, 0)
        confirmed = self._hits >= config.confirm_hits
        self._keep((self._misses == 0) | (confirmed & (self._misses < config.max_misses)))
        born = np.setdiff1d(confident, paired)
        confirmed_at_birth = first_step and config.confirm_first_step
        self._birth(
            measured[born],
            noise[born],
            [detections[index].heading_rad for index in born],
            hits=config.confirm_hits if confirmed_at_birth else 1,
        )
        reported = np.flatnonzero(self._hits >= config.confirm_hits)
        return tuple(self._report(int(row)) for row in reported)

    def _associate(
        self, measured: np.ndarray, tracks: np.ndarray, candidates: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Hungarian pairing of the track rows ``tracks`` with the detection rows ``candidates``
        on predicted-position distance, gated: the paired track and detection rows."""
        if not len(tracks) or not len(candidates):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        distance = np.linalg.norm(
            self._means[tracks, None, :2] - measured[None, candidates, :2], axis=-1
        )
        rows, columns = linear_sum_assignment(distance)
        within = distance[rows, columns] <= self.config.gate_m
        return tracks[rows[within]], candidates[columns[within]]

    def _keep(self, keep: np.ndarray) -> None:
        self._means, self._covariances = self._means[keep], self._covariances[keep]
        self._ids, self._headings = self._ids[keep], self._headings[keep]
        self._hits, self._misses = self._hits[keep], self._misses[keep]

    def _birth(
        self, measured: np.ndarray, noise: np.ndarray, headings: list[float], *, hits: int
    ) -> None:
        """Start a track at each measurement, its covariance the measurement's (``noise``), with
        ``hits`` paired steps (1: tentative)."""
        count = len(measured)
        self._means = np.concatenate([self._means, measured])
        self._covariances = np.concatenate([self._covariances, noise])
        self._ids = np.concatenate([self._ids, self._next_id + np.arange(count)])
        self._next_id += count
        self._headings = np.concatenate([self._headings, headings])
        self._hits = np.concatenate([self._hits, np.full(count, hits, dtype=np.int64)])
        self._misses = np.concatenate([self._misses, np.zeros(count, dtype=np.int64)])

    def _report(self, row: int) -> TrackedObject:
        x, y, vx, vy = (float(value) for value in self._means[row])
        covariance = self._covariances[row]
        moving = math.hypot(vx, vy) >= HEADING_FROM_VELOCITY_MPS
        heading = math.atan2(vy, vx) if moving else float(self._headings[row])
        direction = np.array([math.cos(heading), math.sin(heading)])
        return TrackedObject(
            track_id=int(self._ids[row]),
            x_m=x,
            y_m=y,
            vx_mps=vx,
            vy_mps=vy,
            heading_rad=heading,
            position_std_m=float(np.sqrt(max(covariance[0, 0], covariance[1, 1]))),
            speed_std_mps=float(np.sqrt(direction @ covariance[2:, 2:] @ direction)),
        )
