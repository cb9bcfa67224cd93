"""``CnnPerceiver``: the other road users read off rendered bird's-eye frames by the shipped network.

The perceiver keeps the last frames the simulator rendered around the ego and, at every step, runs
:class:`~perception.cnn.StnPerceptionNet` on the newest stack (the frames its dataset was made with,
:attr:`~sims.dataset.FrameSpec.stride_steps` apart; until the stack has filled, the oldest frame
stands in for the missing ones). Slots whose presence probability passes
:data:`~perception.evaluate.PRESENCE_THRESHOLD` become vehicles.

The ego's own state and the lane geometry come from localisation and the map, which the simulator's
ground truth stands for here, as it does for any camera-based stack: the camera sees the others.
"""

from __future__ import annotations

import math
from collections import deque
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from perception.base import Perceiver, SceneState
from perception.cnn import StnPerceptionNet, unscale_slots
from perception.device import resolve_device
from perception.evaluate import PRESENCE_THRESHOLD
from perception.tracker import Detection, MultiObjectTracker, TrackerConfig
from sims.constants import VEHICLE_LENGTH_M, VEHICLE_WIDTH_M
from sims.dataset import FrameSpec, card_frame_spec
from sims.env import SimFrame
from sims.groundtruth import EgoState, VehicleState
from sims.reading import checked_state, read_json, refusing
from sims.strict import ConfigError

SHIPPED_WEIGHTS = Path(__file__).parent / "weights" / "stn-cnn"
# The first shipped network, trained on highway-v0 frames only (issue 31 retrained it on every road).
HIGHWAY_WEIGHTS = Path(__file__).parent / "weights" / "stn-cnn-highway"
# A single detection's errors, as the tracker models them: the untracked perceiver reports them.
DETECTION_NOISE = TrackerConfig()


def card_frames(folder: Path) -> FrameSpec:
    """The window the network in ``folder`` reads (its card's frame spec)."""
    return card_frame_spec(folder, kind="perception", trainer="drive train-perception")


def load_network(folder: Path, *, device: str = "cpu") -> tuple[StnPerceptionNet, dict]:
    """The network in ``folder`` (``best.safetensors`` and ``card.json``), ready for inference.

    :return: the network (batch norms folded) and its card.
    """
    weights, card_path = folder / "best.safetensors", folder / "card.json"
    for path in (weights, card_path):
        if not path.exists():
            raise ConfigError(f"{folder}: no {path.name}; train one with `drive train-perception`")
    card = read_json(card_path, "perception card", allow_nan=True)
    with refusing(card_path, "perception card"):
        network = StnPerceptionNet(
            card_frames(folder),
            width=card["config"]["width"],
            # Cards written before the option was added trained on the pixels as drawn.
            pixels=card["config"].get("pixels", "rgb"),
        )
    with refusing(weights, "safetensors weights file"):
        tensors = load_file(weights)
    network.load_state_dict(checked_state(tensors, network.state_dict(), path=weights))
    return network.for_inference().to(device), card


class CnnPerceiver(Perceiver):
    """Perceives the other vehicles from frames with the network in ``folder``; see the module docstring.

    :param folder: the trained network (the shipped one by default).
    :param device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
    """

    def __init__(self, folder: Path = SHIPPED_WEIGHTS, *, device: str = "auto") -> None:
        super().__init__()
        self.device = resolve_device(device)
        self.network, self.card = load_network(folder, device=self.device)
        self.frames: FrameSpec = self.network.frames
        self.camera = self.frames
        self._frames: deque[np.ndarray] = deque(maxlen=self._history)
        self._frames_seen = 0  # since the last reset
        self._next_id = 0

    @property
    def _history(self) -> int:
        """Frames kept: from the stack's oldest frame to the newest."""
        return (self.frames.stack - 1) * self.frames.stride_steps + 1

    def reset(self) -> None:
        self._frames.clear()
        self._frames_seen = 0

    def _perceive(self, frame: SimFrame) -> SceneState:
        if frame.image is None:
            raise RuntimeError(
                "CnnPerceiver needs rendered frames: build SimEnv with its camera view"
            )
        expected = (self.frames.height_px, self.frames.width_px)
        if frame.image.shape[:2] != expected:
            raise RuntimeError(
                f"frames of {frame.image.shape[:2]} px, the network reads {expected}"
            )
        if not self._frames:
            self._frames.extend([frame.image] * (self._history - 1))
        self._frames.append(frame.image)
        self._frames_seen += 1
        # Until the stack has filled, repeated frames show the others not moving, or moving over
        # fewer steps than the network was trained on: its velocities are guesses then.
        velocity_read = self._frames_seen >= self._history
        stack = np.concatenate(list(self._frames)[:: self.frames.stride_steps], axis=-1)
        with torch.inference_mode():
            output = self.network(torch.from_numpy(stack[None]).to(self.device))
        slots = unscale_slots(output.slots[0]).cpu().numpy()
        truth = frame.truth
        detections = tuple(
            detection(row, truth.ego, velocity_read=velocity_read)
            for row in slots
            if row[0] > self._least_presence
        )
        vehicles = self._vehicles(detections, time_s=truth.time_s)
        return SceneState(time_s=truth.time_s, ego=truth.ego, vehicles=vehicles, lanes=truth.lanes)

    @property
    def _least_presence(self) -> float:
        """Slots more present than this become detections."""
        return PRESENCE_THRESHOLD

    def _vehicles(
        self, detections: tuple[Detection, ...], *, time_s: float
    ) -> tuple[VehicleState, ...]:
        """This step's road users from its detections: here each detection as it is, a new road
        user every step (:class:`TrackedCnnPerceiver` tracks them instead).

        :param detections: the network's detections in the world frame.
        :param time_s: the frame's time [s].
        :return: the scene's vehicles.
        """
        vehicles = []
        for found in detections:
            self._next_id += 1  # detections are not tracked: each one is a new road user
            vehicles.append(
                _vehicle_state(
                    -self._next_id,
                    found.x_m,
                    found.y_m,
                    found.vx_mps,
                    found.vy_mps,
                    heading_rad=found.heading_rad,
                    speed_std_mps=DETECTION_NOISE.velocity_std_of(found),
                )
            )
        return tuple(vehicles)


class TrackedCnnPerceiver(CnnPerceiver):
    """:class:`CnnPerceiver` with a multi-object tracker (:mod:`perception.tracker`) between the
    detections and the scene: persistent identities and Kalman-filtered velocities.

    :param folder: the trained network (the shipped one by default).
    :param device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
    :param tracker: the tracker's settings (the defaults by default).
    """

    def __init__(
        self,
        folder: Path = SHIPPED_WEIGHTS,
        *,
        device: str = "auto",
        tracker: TrackerConfig | None = None,
    ) -> None:
        super().__init__(folder, device=device)
        self.tracker = MultiObjectTracker(tracker)

    def reset(self) -> None:
        super().reset()
        self.tracker.reset()

    @property
    def _least_presence(self) -> float:
        """Fainter slots too: they may continue a confirmed track (the tracker's ``keep_score``)."""
        return self.tracker.config.keep_score

    def _vehicles(
        self, detections: tuple[Detection, ...], *, time_s: float
    ) -> tuple[VehicleState, ...]:
        """The tracker's confirmed tracks, with its filtered velocities and identities."""
        return tuple(
            _vehicle_state(
                track.track_id,
                track.x_m,
                track.y_m,
                track.vx_mps,
                track.vy_mps,
                heading_rad=track.heading_rad,
                speed_std_mps=track.speed_std_mps,
            )
            for track in self.tracker.update(detections, time_s=time_s)
        )


def detection(row: np.ndarray, ego: EgoState, *, velocity_read: bool = True) -> Detection:
    """A detected slot (presence, dx, dy, dvx, dvy, cos, sin) in world coordinates.

    :param row: the slot in metres and m/s relative to the ego (:func:`~perception.cnn.unscale_slots`).
    :param ego: the ego's state at the frame.
    :param velocity_read: whether the frames showed motion (:attr:`Detection.velocity_read`).
    :return: the detection's world position, velocity and heading.
    """
    presence, dx, dy, dvx, dvy, cos, sin = (float(value) for value in row)
    return Detection(
        x_m=ego.x_m + dx,
        y_m=ego.y_m + dy,
        vx_mps=ego.speed_mps * math.cos(ego.heading_rad) + dvx,
        vy_mps=ego.speed_mps * math.sin(ego.heading_rad) + dvy,
        heading_rad=ego.heading_rad + math.atan2(sin, cos),
        score=presence,
        velocity_read=velocity_read,
    )


def _vehicle_state(
    vehicle_id: int,
    x_m: float,
    y_m: float,
    vx_mps: float,
    vy_mps: float,
    *,
    heading_rad: float,
    speed_std_mps: float,
) -> VehicleState:
    """A road user of the scene, of the standard size (the network does not read sizes), with how
    far its speed may be off [m/s]."""
    return VehicleState(
        vehicle_id=vehicle_id,
        x_m=x_m,
        y_m=y_m,
        heading_rad=heading_rad,
        speed_mps=math.hypot(vx_mps, vy_mps),
        length_m=VEHICLE_LENGTH_M,
        width_m=VEHICLE_WIDTH_M,
        speed_std_mps=speed_std_mps,
    )


class HighwayTrackedCnnPerceiver(TrackedCnnPerceiver):
    """:class:`TrackedCnnPerceiver` with the network trained on highway-v0 frames only, kept for
    comparison (``--perception cnn-highway``).

    :param device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
    """

    def __init__(self, *, device: str = "auto") -> None:
        super().__init__(HIGHWAY_WEIGHTS, device=device)
