"""Video frames that show what the stack thinks, one switchable layer at a time.

Over the simulator's own rendering (which draws the true vehicles) each frame can show:

* ``plan``: the planner's target lane centreline ahead of the ego (green);
* ``mpc``: the path the MPC predicted over its horizon when it chose this command (magenta dots);
* ``perception``: the vehicles as the perceiver saw them, boxes drawn over the true ones (cyan);
* ``vetoes``: a red frame and a label for a second after a safety layer overrode the planner;
* ``chart``: a strip chart of the last seconds of speed and acceleration under the frame.

A banner on top carries time, speed, decision, target lane and return, as it always has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from drive.episode.record import Recorder
from drive.episode.stack import Stack
from sims.env import SimEnv
from sims.overlay import draw_box, draw_path, enlarge, strip_chart
from sims.video import with_banner

if TYPE_CHECKING:  # the loop draws its frames through this module
    from drive.episode.loop import LoopStep

LAYERS = ("plan", "mpc", "perception", "vetoes", "chart")
"""Every layer, in drawing order; all are on by default."""
CHART_HEIGHT_PX = 60  # per unit of --scale
CHART_WINDOW_S = 8.0  # [s] of history across the chart
VETO_HOLD_S = 1.0  # [s] a veto stays on screen this long
PLAN_AHEAD_M = 80.0  # [m] of the plan's centreline drawn ahead of the ego
SPEED_RANGE_MPS = (0.0, 40.0)  # the chart's speed axis
ACCELERATION_RANGE_MPS2 = (-6.0, 4.0)  # the chart's acceleration axis
GREEN, MAGENTA, CYAN, RED = (60, 220, 60), (230, 40, 230), (0, 230, 255), (230, 30, 30)


@dataclass(frozen=True)
class VideoStyle:
    """Which layers a video shows, and how much its frames are enlarged.

    :param layers: names from :data:`LAYERS`.
    :param scale: each frame is enlarged this many times in each direction (1: as rendered).
    """

    layers: tuple[str, ...] = LAYERS
    scale: int = 1

    def __post_init__(self) -> None:
        unknown = [name for name in self.layers if name not in LAYERS]
        if unknown:
            raise ValueError(f"unknown video layer {unknown[0]!r}; valid: {', '.join(LAYERS)}")
        if not 1 <= self.scale <= 8:
            raise ValueError(f"scale must be 1..8, got {self.scale}")

    @classmethod
    def parse(cls, layers: str, *, scale: int = 1) -> VideoStyle:
        """From a command line's ``--layers plan,mpc`` (``all`` or ``none`` also work)."""
        if layers.strip() == "all":
            return cls(scale=scale)
        names = tuple(name.strip() for name in layers.split(",") if name.strip())
        return cls(layers=() if names == ("none",) else names, scale=scale)


class MindView:
    """Draws each step of one episode with the layers of ``style``.

    :param style: which layers, what scale.
    :param sim: the simulator that rendered the frame (for its pixel map).
    :param stack: the stack driving (its controller's prediction, its planner's overrides).
    """

    def __init__(self, style: VideoStyle, *, sim: SimEnv, stack: Stack) -> None:
        self.style = style
        self.sim = sim
        self.stack = stack
        self._overrides = 0
        self._veto_until_s = -1.0

    def frame(self, image: np.ndarray, step: LoopStep, recorder: Recorder) -> np.ndarray:
        """The video frame of one step: the rendering, the layers, the banner and the chart.

        :param image: the simulator's rendering after the step.
        :param step: the step: what the stack perceived, planned and commanded.
        :param recorder: the episode so far (banner text, chart history).
        :return: an RGB frame.
        """
        layers, scale = self.style.layers, self.style.scale
        picture = enlarge(image, scale).copy()
        pixels = self.sim.pixel_map(scale=scale)
        if "plan" in layers:
            line = step.plan.centreline
            ahead = (line.station_m >= -5.0) & (line.station_m <= PLAN_AHEAD_M)
            draw_path(
                picture, pixels, line.x_m[ahead], line.y_m[ahead], GREEN, thickness_px=scale + 1
            )
        if "mpc" in layers and (path := self.stack.controller.prediction) is not None:
            draw_path(picture, pixels, path.x_m, path.y_m, MAGENTA, thickness_px=scale, dots=True)
        if "perception" in layers:
            for vehicle in step.scene.vehicles:
                draw_box(
                    picture,
                    pixels,
                    x_m=vehicle.x_m,
                    y_m=vehicle.y_m,
                    heading_rad=vehicle.heading_rad,
                    length_m=vehicle.length_m,
                    width_m=vehicle.width_m,
                    colour=CYAN,
                    thickness_px=max(1, scale),
                )
        text = recorder.banner(step.sim, step.plan)
        time_s = step.sim.frame.truth.time_s
        if "vetoes" in layers:
            overrides = self.stack.planner.overrides
            if overrides > self._overrides:
                self._veto_until_s = time_s + VETO_HOLD_S
            self._overrides = overrides
            if time_s <= self._veto_until_s:
                height, width = picture.shape[:2]
                cv2.rectangle(picture, (0, 0), (width - 1, height - 1), RED, 2 * scale)
                text = f"VETO | {text}"
        framed = with_banner(picture, text)
        if "chart" in layers:
            framed = np.concatenate([framed, self._chart(recorder, framed.shape[1])], axis=0)
        return framed

    def _chart(self, recorder: Recorder, width_px: int) -> np.ndarray:
        speeds = np.array([row.speed_mps for row in recorder.rows])
        accelerations = np.diff(speeds, prepend=speeds[:1]) / recorder.dt_s
        return strip_chart(
            width_px,
            CHART_HEIGHT_PX * self.style.scale,
            [
                ("speed m/s", speeds, SPEED_RANGE_MPS, CYAN),
                ("accel m/s2", accelerations, ACCELERATION_RANGE_MPS2, MAGENTA),
            ],
            window=max(2, int(round(CHART_WINDOW_S / recorder.dt_s))),
        )
