"""A multi-object tracker between the detections and the planner (issue 31).

Each track is a constant-velocity Kalman filter over the state ``(x, y, vx, vy)`` in the world
frame [m, m/s] (Bar-Shalom et al. 2001, "Estimation with Applications to Tracking and Navigation",
ch. 6: the discrete white-noise acceleration model). A detection measures all four: the CNN reads
positions and relative velocities off a stack of frames, and the ego's own velocity turns the
latter into world velocities. Every step the tracker

1. predicts every track to the detections' time;
2. pairs tracks and detections by the Hungarian algorithm (``scipy.optimize.linear_sum_assignment``)
   on the distance from the predicted position, pairs farther apart than ``gate_m`` refused;
3. updates each paired track with its detection;
4. starts a tentative track from every unpaired detection (birth), confirms a track after
   ``confirm_hits`` paired steps, and drops a track missed ``max_misses`` steps in a row, or a
   tentative track missed once (death).

Confirmed tracks are reported with identities that persist for as long as the track lives, and
with the filter's velocities, which are far steadier than one frame's (see docs/perception.md).
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


@dataclass(frozen=True)
class TrackerConfig:
    """The tracker's noise model and its track-management rules."""

    acceleration_std_mps2: float = described(
        3.0, "Process noise: the white acceleration's standard deviation [m/s2].", minimum=0.0
    )
    position_std_m: float = described(
        0.3, "A detection's position error, standard deviation [m].", minimum=0.0
    )
    velocity_std_mps: float = described(
        1.0, "A detection's velocity error, standard deviation [m/s].", minimum=0.0
    )
    gate_m: float = described(
        4.0, "A detection farther than this from a track's prediction is not its [m].", minimum=0.0
    )
    confirm_hits: int = described(2, "Paired steps before a track is reported.", minimum=1)
    max_misses: int = described(4, "Missed steps in a row before a track is dropped.", minimum=1)

    def __post_init__(self) -> None:
        for name in ("position_std_m", "velocity_std_mps", "gate_m"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.acceleration_std_mps2 < 0:
            raise ConfigError(
                f"acceleration_std_mps2 must be >= 0, got {self.acceleration_std_mps2}"
            )
        for name in ("confirm_hits", "max_misses"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class Detection:
    """One detected road user in the world frame.

    :param x_m: position [m].
    :param y_m: position [m].
    :param vx_mps: velocity [m/s].
    :param vy_mps: velocity [m/s].
    :param heading_rad: the heading the detector read [rad].
    """

    x_m: float
    y_m: float
    vx_mps: float
    vy_mps: float
    heading_rad: float


@dataclass(frozen=True)
class TrackedObject:
    """A confirmed track: a persistent identity, the filtered state and its uncertainty.

    :param track_id: stable while the track lives (from 1, never reused within an episode).
    :param position_std_m: the filter's standard deviation of the position (the larger axis) [m].
    """

    track_id: int
    x_m: float
    y_m: float
    vx_mps: float
    vy_mps: float
    heading_rad: float
    position_std_m: float

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
    """The Kalman prediction ``dt_s`` [s] ahead under constant velocity.

    :param mean: ``(4,)`` state x, y [m], vx, vy [m/s].
    :param covariance: ``(4, 4)``.
    :return: the predicted mean and covariance.
    """
    step = transition(dt_s)
    return step @ mean, step @ covariance @ step.T + process_noise(dt_s, acceleration_std_mps2)


def kalman_update(
    mean: np.ndarray, covariance: np.ndarray, measured: np.ndarray, noise: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The Kalman update with a measurement of the whole state (the observation matrix is I).

    :param measured: ``(4,)`` the measured x, y [m], vx, vy [m/s].
    :param noise: ``(4, 4)`` the measurement's covariance.
    :return: the updated mean and covariance (Joseph's form, which stays symmetric).
    """
    innovation_covariance = covariance + noise
    gain = np.linalg.solve(innovation_covariance.T, covariance.T).T  # P S^-1
    keep = np.eye(STATE) - gain
    updated = keep @ covariance @ keep.T + gain @ noise @ gain.T
    return mean + gain @ (measured - mean), updated


class _Track:
    """A track's filter and bookkeeping (internal, mutable state of :class:`MultiObjectTracker`)."""

    def __init__(self, track_id: int, detection: Detection, covariance: np.ndarray) -> None:
        self.track_id = track_id
        self.mean = np.array([detection.x_m, detection.y_m, detection.vx_mps, detection.vy_mps])
        self.covariance = covariance.copy()
        self.heading_rad = detection.heading_rad
        self.hits = 1
        self.misses = 0


class MultiObjectTracker:
    """Tracks detections from step to step; see the module docstring.

    :param config: the noise model and the track rules.
    """

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        variances = [self.config.position_std_m**2] * 2 + [self.config.velocity_std_mps**2] * 2
        self._measurement_noise = np.diag(variances)
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._time_s: float | None = None

    def reset(self) -> None:
        """Forget every track (a new episode); identities start again from 1."""
        self._tracks, self._next_id, self._time_s = [], 1, None

    def update(
        self, detections: tuple[Detection, ...], *, time_s: float
    ) -> tuple[TrackedObject, ...]:
        """Advance to ``time_s`` [s], take this step's detections and report the confirmed tracks.

        :param detections: what the detector found at ``time_s``.
        :param time_s: the detections' time; never earlier than the previous step's.
        :return: the confirmed tracks, ordered by identity.
        :raises ValueError: ``time_s`` earlier than the previous step's.
        """
        dt_s = 0.0 if self._time_s is None else time_s - self._time_s
        if dt_s < 0:
            raise ValueError(f"time went back from {self._time_s} s to {time_s} s")
        self._time_s = time_s
        config = self.config
        for track in self._tracks:
            track.mean, track.covariance = kalman_predict(
                track.mean, track.covariance, dt_s, config.acceleration_std_mps2
            )
        pairs, unpaired = self._associate(detections)
        for track_index, detection_index in pairs:
            self._correct(self._tracks[track_index], detections[detection_index])
        paired_tracks = {track_index for track_index, _ in pairs}
        survivors = []
        for index, track in enumerate(self._tracks):
            if index not in paired_tracks:
                track.misses += 1
            confirmed = track.hits >= config.confirm_hits
            if track.misses == 0 or (confirmed and track.misses < config.max_misses):
                survivors.append(track)
        for index in unpaired:
            survivors.append(_Track(self._next_id, detections[index], self._measurement_noise))
            self._next_id += 1
        self._tracks = survivors
        return tuple(
            self._report(track) for track in self._tracks if track.hits >= config.confirm_hits
        )

    def _associate(
        self, detections: tuple[Detection, ...]
    ) -> tuple[list[tuple[int, int]], list[int]]:
        """Hungarian pairing on predicted-position distance, gated; the unpaired detections."""
        if not self._tracks or not detections:
            return [], list(range(len(detections)))
        predicted = np.array([track.mean[:2] for track in self._tracks])
        measured = np.array([(d.x_m, d.y_m) for d in detections])
        distance = np.linalg.norm(predicted[:, None, :] - measured[None, :, :], axis=-1)
        rows, columns = linear_sum_assignment(distance)
        pairs = [
            (int(r), int(c))
            for r, c in zip(rows, columns, strict=True)
            if distance[r, c] <= self.config.gate_m
        ]
        taken = {c for _, c in pairs}
        return pairs, [index for index in range(len(detections)) if index not in taken]

    def _correct(self, track: _Track, detection: Detection) -> None:
        measured = np.array([detection.x_m, detection.y_m, detection.vx_mps, detection.vy_mps])
        track.mean, track.covariance = kalman_update(
            track.mean, track.covariance, measured, self._measurement_noise
        )
        track.heading_rad = detection.heading_rad
        track.hits += 1
        track.misses = 0

    @staticmethod
    def _report(track: _Track) -> TrackedObject:
        x, y, vx, vy = (float(value) for value in track.mean)
        spread = float(np.sqrt(max(track.covariance[0, 0], track.covariance[1, 1])))
        return TrackedObject(
            track_id=track.track_id,
            x_m=x,
            y_m=y,
            vx_mps=vx,
            vy_mps=vy,
            heading_rad=track.heading_rad,
            position_std_m=spread,
        )
