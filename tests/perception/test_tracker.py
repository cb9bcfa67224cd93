"""The multi-object tracker: its Kalman equations by hand, then birth, death, gating and identities."""

from __future__ import annotations

import numpy as np
import pytest

from perception.tracker import (
    Detection,
    MultiObjectTracker,
    TrackerConfig,
    kalman_predict,
    kalman_update,
    process_noise,
)
from sims.strict import ConfigError

DT_S = 1 / 15


def test_prediction_moves_the_mean_at_constant_velocity_and_adds_the_process_noise():
    mean, covariance = kalman_predict(np.array([0.0, 0.0, 1.0, 2.0]), np.zeros((4, 4)), 0.5, 2.0)
    np.testing.assert_allclose(mean, [0.5, 1.0, 1.0, 2.0])
    # 4 m2/s4 times [[dt^4/4, dt^3/2], [dt^3/2, dt^2]] at dt = 0.5 s, per axis
    np.testing.assert_allclose(covariance[np.ix_([0, 2], [0, 2])], [[0.0625, 0.25], [0.25, 1.0]])
    np.testing.assert_allclose(covariance[np.ix_([1, 3], [1, 3])], [[0.0625, 0.25], [0.25, 1.0]])
    assert covariance[0, 1] == covariance[0, 3] == 0.0
    np.testing.assert_allclose(process_noise(0.0, 3.0), np.zeros((4, 4)))


def test_an_update_with_equal_uncertainties_lands_halfway_and_halves_the_variance():
    mean, covariance = kalman_update(
        np.zeros(4), np.eye(4), np.array([2.0, -4.0, 1.0, 0.0]), np.eye(4)
    )
    np.testing.assert_allclose(mean, [1.0, -2.0, 0.5, 0.0])
    np.testing.assert_allclose(covariance, 0.5 * np.eye(4))


def _detections(time_s: float, rng: np.random.Generator, noise_mps: float) -> tuple[Detection, ...]:
    """Two vehicles in neighbouring lanes at 20 and 25 m/s, with noisy velocities."""
    return tuple(
        Detection(
            x_m=start + speed * time_s + rng.normal(0, 0.2),
            y_m=lane + rng.normal(0, 0.1),
            vx_mps=speed + rng.normal(0, noise_mps),
            vy_mps=rng.normal(0, noise_mps),
            heading_rad=0.0,
        )
        for start, lane, speed in ((10.0, 0.0, 20.0), (-15.0, 4.0, 25.0))
    )


def test_tracks_keep_their_identities_and_smooth_the_velocities():
    rng = np.random.default_rng(0)
    tracker = MultiObjectTracker()
    errors_raw, errors_filtered = [], []
    for step in range(60):
        time_s = step * DT_S
        detections = _detections(time_s, rng, noise_mps=1.5)
        # The detector shuffles its output order; the tracker must not care.
        tracks = tracker.update(detections[::-1] if step % 2 else detections, time_s=time_s)
        assert [track.track_id for track in tracks] == [1, 2]  # from the first step on
        if step >= 30:
            for track, speed in zip(tracks, (20.0, 25.0), strict=True):
                errors_filtered.append(abs(track.speed_mps - speed))
            errors_raw.extend(
                abs(d.vx_mps - s) for d, s in zip(detections, (20.0, 25.0), strict=True)
            )
    assert np.mean(errors_filtered) < 0.5 * np.mean(errors_raw)
    for track in tracks:  # moving: the heading is the filtered velocity's direction
        assert track.heading_rad == pytest.approx(np.arctan2(track.vy_mps, track.vx_mps))


def test_a_standing_track_keeps_the_detected_heading():
    tracker = MultiObjectTracker()
    for step in range(3):
        tracks = tracker.update((Detection(5.0, 2.0, 0.0, 0.0, 1.2),), time_s=step * DT_S)
    (standing,) = tracks
    assert standing.heading_rad == 1.2 and standing.speed_mps == 0.0


def test_a_missed_track_coasts_then_dies_and_a_far_detection_is_a_new_track():
    tracker = MultiObjectTracker(TrackerConfig(confirm_hits=2, max_misses=3, gate_m=4.0))

    def seen(x_m: float) -> tuple[Detection, ...]:
        return (Detection(x_m, 0.0, 10.0, 0.0, 0.0),)

    assert tracker.update((), time_s=-0.1) == ()  # past the first step
    assert tracker.update(seen(0.0), time_s=0.0) == ()  # born, not yet confirmed
    (track,) = tracker.update(seen(1.0), time_s=0.1)
    assert track.track_id == 1
    # Missed twice: still reported, coasting at its velocity, and less certain.
    (coasting,) = tracker.update((), time_s=0.2)
    (coasting_more,) = tracker.update((), time_s=0.3)
    assert coasting_more.x_m == pytest.approx(coasting.x_m + 0.1 * coasting.vx_mps)
    assert coasting_more.position_std_m > coasting.position_std_m > track.position_std_m
    # Found again within the gate: the same identity.
    (again,) = tracker.update(seen(4.0), time_s=0.4)
    assert again.track_id == 1
    # Three misses in a row: dropped.
    for time_s in (0.5, 0.6):
        assert len(tracker.update((), time_s=time_s)) == 1
    assert tracker.update((), time_s=0.7) == ()
    # A detection far from every prediction starts a track with a new identity.
    tracker.update(seen(100.0), time_s=0.8)
    (fresh,) = tracker.update(seen(101.0), time_s=0.9)
    assert fresh.track_id == 2
    tracker.reset()
    assert tracker.update(seen(0.0), time_s=0.0)[0].track_id == 1  # the first step's: at once
    assert tracker.update(seen(1.0), time_s=0.1)[0].track_id == 1


def test_tracks_born_on_the_first_step_are_reported_at_once_unless_told_otherwise():
    standing = (Detection(5.0, 2.0, 0.0, 0.0, 0.0),)
    tracker = MultiObjectTracker()
    (track,) = tracker.update(standing, time_s=0.0)
    assert track.track_id == 1 and track.x_m == 5.0
    patient = MultiObjectTracker(TrackerConfig(confirm_first_step=False))
    assert patient.update(standing, time_s=0.0) == ()
    assert len(patient.update(standing, time_s=0.1)) == 1
    # Only the first step's births: a track born later waits for its confirmation.
    assert len(tracker.update((*standing, Detection(40.0, 0.0, 0.0, 0.0, 0.0)), time_s=0.1)) == 1


def test_a_tentative_track_missed_once_is_dropped_and_time_cannot_go_back():
    tracker = MultiObjectTracker()
    tracker.update((), time_s=0.9)
    tracker.update((Detection(0.0, 0.0, 0.0, 0.0, 0.0),), time_s=1.0)  # a one-frame false positive
    assert tracker.update((), time_s=1.1) == ()
    assert tracker.update((Detection(0.0, 0.0, 0.0, 0.0, 0.0),), time_s=1.2) == ()
    with pytest.raises(ValueError, match="time went back"):
        tracker.update((), time_s=1.0)
    with pytest.raises(ConfigError, match="gate_m"):
        TrackerConfig(gate_m=0.0)


def test_faint_detections_continue_confirmed_tracks_but_never_start_one():
    # ByteTrack's second association: a vehicle read faintly (presence 0.3) for longer than a
    # track may coast keeps its identity and is updated; faint detections alone start nothing.
    tracker = MultiObjectTracker(TrackerConfig(max_misses=2, birth_score=0.5, keep_score=0.2))

    def seen(x_m: float, score: float, vx_mps: float = 10.0) -> tuple[Detection, ...]:
        return (Detection(x_m, 0.0, vx_mps, 0.0, 0.0, score=score),)

    tracker.update(seen(0.0, 0.9), time_s=0.0)
    tracker.update(seen(1.0, 0.9), time_s=0.1)
    for step in range(2, 6):  # four faint steps (two misses would have dropped it), standing
        (track,) = tracker.update(seen(2.0, 0.3, 0.0), time_s=step / 10)
        assert track.track_id == 1
    # Updated by the faint detections of a car standing at 2 m, not coasting on to 5 m at 10 m/s.
    assert track.x_m < 3.5 and track.vx_mps < 5.0
    assert tracker.update(seen(2.0, 0.1, 0.0), time_s=0.6)[0].track_id == 1  # too faint: a miss
    far = MultiObjectTracker()
    for step in range(4):
        assert far.update(seen(50.0 + step, 0.3), time_s=step / 10) == ()
    with pytest.raises(ConfigError, match="keep_score"):
        TrackerConfig(keep_score=0.6, birth_score=0.5)


def test_a_velocity_read_before_the_frames_showed_motion_counts_for_little():
    # A camera's first frames repeat: a car at 20 m/s reads as the ego's 25 m/s. Born from such
    # a guess, a track takes the first real reading nearly whole; born from a reading, it does not.
    def after_a_real_reading(velocity_read: bool) -> float:
        tracker = MultiObjectTracker()
        tracker.update(
            (Detection(0.0, 0.0, 25.0, 0.0, 0.0, velocity_read=velocity_read),), time_s=0.0
        )
        (track,) = tracker.update((Detection(2.0, 0.0, 20.0, 0.0, 0.0),), time_s=0.1)
        return track.vx_mps

    assert after_a_real_reading(velocity_read=False) == pytest.approx(20.0, abs=0.3)
    assert after_a_real_reading(velocity_read=True) > 22.0
    with pytest.raises(ConfigError, match="unread_velocity_std_mps"):
        TrackerConfig(unread_velocity_std_mps=0.0)


def test_a_tracks_speed_doubt_starts_at_the_readings_and_settles_as_readings_agree():
    # born from one reading at 1 m/s of error, then paired every step: the filter's speed error
    # falls towards its steady state (about 0.31 m/s at 15 Hz with 2 m/s2 of process noise); a
    # reading from frames that showed no motion starts it at 5 m/s
    rng = np.random.default_rng(1)
    tracker = MultiObjectTracker()
    doubts = []
    for step in range(40):
        time_s = step * DT_S
        tracks = tracker.update(_detections(time_s, rng, noise_mps=1.0), time_s=time_s)
        doubts.append(tracks[0].speed_std_mps)
    assert doubts[0] == pytest.approx(1.0)
    assert np.all(np.diff(doubts) <= 1e-12)
    assert doubts[-1] == pytest.approx(0.31, abs=0.02)
    unread = MultiObjectTracker()
    (track,) = unread.update(
        (Detection(0.0, 0.0, 25.0, 0.0, 0.0, velocity_read=False),), time_s=0.0
    )
    assert track.speed_std_mps == pytest.approx(5.0)
