"""Builders of hand-made scenes for unit tests (no simulator needed); waits on child processes."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from typing import IO

import numpy as np

from perception.base import SceneState
from planning.base import Plan
from sims.dataset import FrameSpec
from sims.groundtruth import (
    CENTRELINE_STEP_M,
    LOOKAHEAD_M,
    LOOKBEHIND_M,
    Centreline,
    EgoState,
    LaneGeometry,
    LaneId,
    VehicleState,
)

LANE_WIDTH_M = 4.0


def straight_lane(
    index: int, *, ego_x_m: float = 0.0, speed_limit_mps: float = 30.0
) -> LaneGeometry:
    """A straight lane along +x at y = 4 * index, sampled around ``ego_x_m`` like the simulator does."""
    station = np.arange(-LOOKBEHIND_M, LOOKAHEAD_M + CENTRELINE_STEP_M / 2, CENTRELINE_STEP_M)
    centreline = Centreline(
        x_m=ego_x_m + station,
        y_m=np.full_like(station, LANE_WIDTH_M * index),
        heading_rad=np.zeros_like(station),
        station_m=station,
    )
    return LaneGeometry(
        lane=LaneId("0", "1", index),
        width_m=LANE_WIDTH_M,
        speed_limit_mps=speed_limit_mps,
        centreline=centreline,
    )


def ring_lane(radius_m: float = 20.0) -> LaneGeometry:
    """A lane round a circle of ``radius_m`` centred on the origin, counter-clockwise from
    (radius, 0), where its heading is pi/2; stations every 2 m for 120 m (the roundabout's ring)."""
    station = np.arange(0.0, 120.0, 2.0)
    angle = station / radius_m
    centreline = Centreline(
        x_m=radius_m * np.cos(angle),
        y_m=radius_m * np.sin(angle),
        heading_rad=angle + np.pi / 2,
        station_m=station,
    )
    return LaneGeometry(LaneId("a", "b", 0), LANE_WIDTH_M, 10.0, centreline)


def ego_at(
    lane: int, *, x_m: float = 0.0, speed_mps: float = 25.0, y_offset_m: float = 0.0
) -> EgoState:
    return EgoState(
        x_m=x_m,
        y_m=LANE_WIDTH_M * lane + y_offset_m,
        heading_rad=0.0,
        speed_mps=speed_mps,
        length_m=5.0,
        width_m=2.0,
        lane=LaneId("0", "1", lane),
        crashed=False,
        on_road=True,
        box_on_road=True,
    )


def car(vehicle_id: int, lane: int, x_m: float, speed_mps: float) -> VehicleState:
    return VehicleState(
        vehicle_id=vehicle_id,
        x_m=x_m,
        y_m=LANE_WIDTH_M * lane,
        heading_rad=0.0,
        speed_mps=speed_mps,
        length_m=5.0,
        width_m=2.0,
    )


def highway_scene(
    *,
    ego_lane: int = 1,
    lanes: int = 3,
    ego_speed_mps: float = 25.0,
    vehicles=(),
    time_s: float = 10.0,
) -> SceneState:
    """A straight multi-lane scene with the ego at x = 0; lanes are the ego's and its neighbours."""
    indices = [i for i in (ego_lane - 1, ego_lane, ego_lane + 1) if 0 <= i < lanes]
    return SceneState(
        time_s=time_s,
        ego=ego_at(ego_lane, speed_mps=ego_speed_mps),
        vehicles=tuple(vehicles),
        lanes=tuple(straight_lane(i) for i in indices),
    )


def cruise_plan(lane: int, speed_mps: float) -> Plan:
    """A plan to cruise at ``speed_mps`` in straight lane ``lane``."""
    geometry = straight_lane(lane)
    return Plan(
        target_lane=geometry.lane,
        target_speed_mps=speed_mps,
        centreline=geometry.centreline,
        decision="cruise",
    )


# The frames of the vision tests: 128 x 32 px at 2 px/m, so vehicles are the real 10 x 4 px.
VISION_FRAMES = FrameSpec(width_px=128, height_px=32, scaling_px_per_m=2.0, stack=2, stride_steps=2)


# The cut-in cases that PolicyExecutor's tests and the batched safety layer's share, as
# (centre ahead of the ego [m], speed [m/s], heading [rad], vetoed): a car in lane 3 while the ego
# changes from lane 1 into lane 2 at 25 m/s, with the default's margins and the cut-in check. A
# heading of -0.15 rad at 17 m/s moves it towards lane 2 at 2.5 m/s; the ego closes on it at
# 8.2 m/s, so it counts up to a bumper gap of 10 + 8.2 * 3 = 34.6 m.
CUT_INS = [
    (30.0, 17.0, -0.15, True),  # moving in, 25 m ahead: vetoed
    (30.0, 17.0, 0.0, False),  # keeping its lane (and beyond the 10 m clearance)
    (30.0, 17.0, 0.15, False),  # moving away
    (30.0, 25.0, -0.15, False),  # moving in, but at our speed: 25 m is beyond 10 + 0.3 * 3
    (60.0, 17.0, -0.15, False),  # moving in, 55 m ahead
    (-8.0, 17.0, -0.15, False),  # moving in, behind us
]


def wait_for(condition: Callable[[], bool], *, timeout_s: float, poll_s: float = 0.05) -> bool:
    """Poll ``condition`` until it holds or ``timeout_s`` passes; return whether it held.

    For tests that wait on something a child process does (a file appears, a line is printed):
    they stop waiting as soon as it happens, and fail at the deadline rather than hang.
    """
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)
    return True


class StreamLines:
    """A child process's text stream, read line by line in a thread: a test can wait for a line
    with a deadline, and the child never blocks on a full pipe."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: list[str] = []
        self._closed = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self._lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def wait_for(self, text: str, *, timeout_s: float) -> bool:
        """Wait until a line holding ``text`` has been read; False at the deadline or at the end
        of the stream without one."""

        def seen() -> bool:
            return any(text in line for line in self._lines)

        with self._changed:
            self._changed.wait_for(lambda: seen() or self._closed, timeout=timeout_s)
            return seen()

    def text(self, *, timeout_s: float = 60.0) -> str:
        """Everything the stream held, once it has ended (the child has exited)."""
        self._thread.join(timeout_s)
        with self._changed:
            return "".join(self._lines)


def drive_in_process(*args: str) -> subprocess.CompletedProcess:
    """``drive ARGS`` through the console script's entry point (``drive.cli.main``: its exit codes
    and one-line errors) in this test process, with its stdout and stderr captured.

    For refusals and other quick runs of a command whose launch in a fresh interpreter (seconds of
    imports) another test already covers; the result reads like ``subprocess.run``'s. Warnings
    land on its stderr as a fresh interpreter would print them (deprecations left out), so a test
    of a one-line error still sees them.
    """
    from drive.cli.main import main

    stdout, stderr = io.StringIO(), io.StringIO()
    argv, sys.argv = sys.argv, ["drive", *args]
    code: int = 0
    try:
        with (
            warnings.catch_warnings(record=True) as caught,
            contextlib.redirect_stdout(stdout),
            contextlib.redirect_stderr(stderr),
        ):
            warnings.resetwarnings()
            warnings.simplefilter("default")  # Python's own filters, as on a fresh start
            for quiet in (
                DeprecationWarning,
                PendingDeprecationWarning,
                ImportWarning,
                ResourceWarning,
            ):
                warnings.simplefilter("ignore", quiet)
            try:
                main()
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    finally:
        sys.argv = argv
    printed = "".join(
        warnings.formatwarning(w.message, w.category, w.filename, w.lineno) for w in caught
    )
    return subprocess.CompletedProcess(
        ["drive", *args], code, stdout.getvalue(), printed + stderr.getvalue()
    )
