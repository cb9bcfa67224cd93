"""Perception datasets: stacks of rendered bird's-eye frames around the ego, with exact labels.

A sample is ``FrameSpec.stack`` consecutive frames (``stride_steps`` simulation steps apart, oldest
first, so that velocities can be seen), rendered by highway-env centred on the ego, and the ground
truth of the last one:

* ``vehicles`` ``(SLOTS, 7)``: the nearest vehicles in view, nearest first: presence, dx, dy [m],
  dvx, dvy [m/s] relative to the ego in the world frame, cosine and sine of the relative heading;
* ``occupancy`` ``(LANE_ROWS, CELLS)``: 1 where a vehicle's centre lies, by lane relative to the
  ego's lane (rows, left to right) and by ``CELL_M`` of distance (columns, back to front);
* ``ego_lane``: the ego's lane index;
* ``zoom``: the frame's pixels per metre over the window's (:mod:`sims.render_variation`; 1 when
  the frames are drawn as highway-env draws them), which the spatial transformer learns to undo;
* ``lane_labels``: 1 on a straight highway; 0 on other roads (roundabouts, intersections...),
  where the occupancy grid (left empty) and the ego's lane (0) mean nothing and are not learnt;
* ``scene`` ``(stack, SCENE_ROWS, 6)`` float64, one block per frame: the ego (row 0) and the vehicles
  in or near that frame's window, nearest first, as presence, x, y [m] in the world, heading [rad],
  length, width [m]. With ``lanes`` (the road's lane count) this is all it takes to redraw the
  frame's layout or its vehicles' boxes (:mod:`perception.layout`), for each frame of the stack.

Samples are written in shards (``shard-00000.npz``...) of whole episodes; ``manifest.json`` lists
the finished shards with their seeds, so an interrupted generation resumes at the first missing one.
Both are written atomically.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sims.constants import LANE_WIDTH_M
from sims.files import atomic_path, remove_temporaries, write_json
from sims.groundtruth import EgoState, GroundTruth, VehicleState
from sims.reading import expect, read_json, refusing
from sims.render_variation import variation_ranges
from sims.strict import ConfigError

# Vehicles labelled per sample, nearest first: every vehicle the window shows (dense-slow shows up
# to 20; with 10, the eleventh was unlabelled and a detection of it a false positive, issue 31).
SLOTS = 24
LANE_ROWS = 7  # occupancy rows: lanes -3..+3 relative to the ego's
CELL_M = 8.0  # [m] occupancy column length
SCENE_ROWS = 24  # vehicles kept per frame in ``scene``, the ego included
SCENE_MARGIN_M = 6.0  # [m] vehicles this far outside the window can still show part of themselves
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class FrameSpec:
    """What a sample looks like: the rendered window and the frame stack."""

    width_px: int = 256
    height_px: int = 64
    scaling_px_per_m: float = 2.0
    stack: int = 3
    stride_steps: int = 2

    def __post_init__(self) -> None:
        for name in ("width_px", "height_px", "stack", "stride_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.scaling_px_per_m <= 0:
            raise ConfigError(f"scaling_px_per_m must be > 0, got {self.scaling_px_per_m}")

    @property
    def half_length_m(self) -> float:
        """Half the window's length: vehicles up to this far ahead or behind are in view [m]."""
        return self.width_px / self.scaling_px_per_m / 2

    @property
    def half_width_m(self) -> float:
        """Half the window's width [m]."""
        return self.height_px / self.scaling_px_per_m / 2

    def shows(self, dx_m: float, dy_m: float, *, zoom: float = 1.0) -> bool:
        """Whether a point this far from the ego (world axes) lies in the window, drawn at ``zoom``
        times the pixels per metre (a zoom above 1 shows less; one below shows more, but only
        the window's own extent is labelled).

        :param dx_m: offset along x [m].
        :param dy_m: offset along y [m].
        """
        reach = max(zoom, 1.0)
        return abs(dx_m) <= self.half_length_m / reach and abs(dy_m) <= self.half_width_m / reach

    @property
    def cells(self) -> int:
        """Occupancy columns over the window's length."""
        return max(1, math.ceil(2 * self.half_length_m / CELL_M))

    def view(self) -> dict[str, Any]:
        """highway-env's rendering keys for this window, centred on the ego."""
        return {
            "screen_width": self.width_px,
            "screen_height": self.height_px,
            "scaling": self.scaling_px_per_m,
            "centering_position": [0.5, 0.5],
        }


def card_frame_spec(folder: Path, *, kind: str, trainer: str) -> FrameSpec:
    """The window a trained network's card (``folder/card.json``) records.

    :param kind: what the card describes, for messages ("perception", "detector").
    :param trainer: the command that trains one, named when the card is missing.
    :raises ConfigError: no card, or a card without a valid frame spec, naming the file.
    """
    card_path = folder / "card.json"
    if not card_path.exists():
        raise ConfigError(f"{folder}: no card.json; train one with `{trainer}`")
    card = read_json(card_path, f"{kind} card", allow_nan=True)
    with refusing(card_path, f"{kind} card"):
        return FrameSpec(**card["frame_spec"])


def label(
    truth: GroundTruth, spec: FrameSpec, *, zoom: float = 1.0, straight: bool = True
) -> dict[str, np.ndarray]:
    """The labels of one sample from the ground truth of its last frame; see the module docstring.

    :param truth: the ground truth of the sample's last frame.
    :param spec: the window the network reads.
    :param zoom: the frame was rendered at ``zoom`` times ``spec``'s pixels per metre
        (:mod:`sims.render_variation`): only vehicles within both windows are labelled.
    :param straight: the road is a straight highway whose lane index counts lanes from the left;
        elsewhere the occupancy grid and the ego's lane have no meaning and ``lane_labels`` is 0.
    :return: ``vehicles``, ``occupancy``, ``ego_lane``, ``zoom`` and ``lane_labels``.
    """
    ego = truth.ego
    ego_vx = ego.speed_mps * math.cos(ego.heading_rad)
    ego_vy = ego.speed_mps * math.sin(ego.heading_rad)
    lane_centre_y = ego.lane.index * LANE_WIDTH_M  # the straight highway's lanes
    rows: list[tuple[float, list[float]]] = []
    occupancy = np.zeros((LANE_ROWS, spec.cells), dtype=np.uint8)
    for vehicle in truth.vehicles:
        dx, dy = vehicle.x_m - ego.x_m, vehicle.y_m - ego.y_m
        if not spec.shows(dx, dy, zoom=zoom):
            continue
        relative_heading = vehicle.heading_rad - ego.heading_rad
        rows.append(
            (
                math.hypot(dx, dy),
                [
                    1.0,
                    dx,
                    dy,
                    vehicle.speed_mps * math.cos(vehicle.heading_rad) - ego_vx,
                    vehicle.speed_mps * math.sin(vehicle.heading_rad) - ego_vy,
                    math.cos(relative_heading),
                    math.sin(relative_heading),
                ],
            )
        )
        row = round((vehicle.y_m - lane_centre_y) / LANE_WIDTH_M) + LANE_ROWS // 2
        column = int((dx + spec.half_length_m) // CELL_M)
        if straight and 0 <= row < LANE_ROWS and 0 <= column < spec.cells:
            occupancy[row, column] = 1
    rows.sort(key=lambda item: item[0])
    vehicles = np.zeros((SLOTS, 7), dtype=np.float32)
    for slot, (_, features) in enumerate(rows[:SLOTS]):
        vehicles[slot] = features
    return {
        "vehicles": vehicles,
        "occupancy": occupancy,
        "ego_lane": np.int64(ego.lane.index if straight else 0),
        "zoom": np.float32(zoom),
        "lane_labels": np.uint8(straight),
    }


def shows_turned(
    truth: GroundTruth, spec: FrameSpec, *, min_turn_deg: float, zoom: float = 1.0
) -> bool:
    """Whether the window shows a vehicle whose heading differs from the ego's by at least
    ``min_turn_deg`` (either way, up to 90 degrees: oncoming traffic does not count).

    :param truth: the ground truth at the frame.
    :param spec: the rendered window, centred on the ego.
    :param min_turn_deg: the least difference [deg]; 0: always true.
    :param zoom: the frame is drawn at ``zoom`` times ``spec``'s pixels per metre (as
        :func:`label`: only vehicles within both windows count).
    """
    if min_turn_deg <= 0:
        return True
    ego = truth.ego
    for vehicle in truth.vehicles:
        if not spec.shows(vehicle.x_m - ego.x_m, vehicle.y_m - ego.y_m, zoom=zoom):
            continue
        relative = vehicle.heading_rad - ego.heading_rad
        turn_deg = abs(math.degrees(math.atan2(math.sin(relative), math.cos(relative))))
        if min_turn_deg <= turn_deg <= 90:
            return True
    return False


def scene_rows(truth: GroundTruth, spec: FrameSpec) -> np.ndarray:
    """The ``scene`` block of one frame; see the module docstring.

    :param truth: the ground truth at the frame.
    :param spec: the rendered window, centred on the ego.
    :return: ``(SCENE_ROWS, 6)`` float64: presence, x_m, y_m, heading_rad, length_m, width_m.
    """
    ego = truth.ego
    near = [
        vehicle
        for vehicle in truth.vehicles
        if abs(vehicle.x_m - ego.x_m) <= spec.half_length_m + SCENE_MARGIN_M
        and abs(vehicle.y_m - ego.y_m) <= spec.half_width_m + SCENE_MARGIN_M
    ]
    near.sort(key=lambda vehicle: math.hypot(vehicle.x_m - ego.x_m, vehicle.y_m - ego.y_m))
    rows = np.zeros((SCENE_ROWS, 6), dtype=np.float64)
    kept: list[EgoState | VehicleState] = [ego]
    kept.extend(near[: SCENE_ROWS - 1])
    for row, item in enumerate(kept):
        rows[row] = (1.0, item.x_m, item.y_m, item.heading_rad, item.length_m, item.width_m)
    return rows


@dataclass(frozen=True)
class DatasetConfig:
    """A dataset: which scenario, how many episodes from which seed, how they are sampled."""

    scenario: str = "highway"
    episodes: int = 100
    episodes_per_shard: int = 10
    seed: int = 0
    sample_every_steps: int = 15  # one sample per second at highway-env's 15 Hz
    frames: FrameSpec = FrameSpec()
    variation: str = "none"  # how the frames are drawn: a name of sims.render_variation.VARIATIONS
    # [deg] keep only stacks that start with a vehicle in view turned at least this much from the
    # ego's heading (0: every stack). Lane changers are one vehicle in thirty of the plain
    # datasets, and the network read them as driving straight (issue 31, turned_vehicles.py).
    min_turn_deg: float = 0.0

    def __post_init__(self) -> None:
        variation_ranges(self.variation)  # an unknown name is refused here, naming the valid ones
        if not 0 <= self.min_turn_deg < 90:
            raise ConfigError(f"min_turn_deg must lie in [0, 90), got {self.min_turn_deg}")
        for name in ("episodes", "episodes_per_shard", "sample_every_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        # A sample's stack must be rendered whole before the next one starts (the generator keeps
        # one stack pending); a shorter period silently gave datasets without a sample.
        reach = (self.frames.stack - 1) * self.frames.stride_steps
        if self.sample_every_steps <= reach:
            raise ConfigError(
                f"sample_every_steps must be > {reach} (a stack of {self.frames.stack} frames "
                f"{self.frames.stride_steps} steps apart), got {self.sample_every_steps}"
            )

    @property
    def shards(self) -> int:
        return math.ceil(self.episodes / self.episodes_per_shard)

    def shard_seeds(self, shard: int) -> list[int]:
        """The episode seeds of shard ``shard``."""
        first = self.seed + shard * self.episodes_per_shard
        return list(range(first, min(first + self.episodes_per_shard, self.seed + self.episodes)))


class ShardStore:
    """The shards and manifest of a dataset folder; see the module docstring.

    :param out: the folder.
    :param config: the dataset; a folder made with another configuration is refused, naming the
        first key that differs.
    """

    def __init__(self, out: Path, config: DatasetConfig) -> None:
        self.out, self.config = out, config
        out.mkdir(parents=True, exist_ok=True)
        remove_temporaries(out)  # a killed run's half-written shard or manifest
        self.manifest = self._load_manifest()

    def _load_manifest(self) -> dict[str, Any]:
        path = self.out / MANIFEST
        wanted = asdict(self.config)
        if not path.exists():
            return {"config": wanted, "shards": []}
        manifest = read_json(path, "dataset manifest")
        with refusing(path, "dataset manifest"):
            made = manifest["config"]
            for entry in manifest["shards"]:
                expect(entry["shard"], int, path=path, key="shard")
                expect(entry["samples"], int, path=path, key="samples")
        defaults = asdict(DatasetConfig())  # keys that older manifests lack hold their default
        for key, value in wanted.items():
            if made.get(key, defaults[key]) != value:
                raise ConfigError(
                    f"{path}: made with {key}={made.get(key, defaults[key])!r}, asked for "
                    f"{value!r}; choose another --out or the same settings"
                )
        return manifest

    def done(self, shard: int) -> bool:
        """Whether shard ``shard`` is already written."""
        return any(entry["shard"] == shard for entry in self.manifest["shards"])

    def write(self, shard: int, samples: list[dict[str, np.ndarray]], seeds: list[int]) -> Path:
        """Write one shard atomically and record it in the manifest (a shard whose episodes all
        ended before their first sample is recorded with no file)."""
        path = self.out / f"shard-{shard:05d}.npz"
        if samples:
            arrays: dict[str, Any] = {
                key: np.stack([sample[key] for sample in samples]) for key in samples[0]
            }
            with atomic_path(path) as temporary:
                np.savez_compressed(temporary, **arrays)
        self.manifest["shards"].append(
            {
                "shard": shard,
                "file": path.name if samples else None,
                "seeds": seeds,
                "samples": len(samples),
            }
        )
        self.manifest["shards"].sort(key=lambda entry: entry["shard"])
        self._write_manifest()
        return path

    def _write_manifest(self) -> None:
        write_json(self.out / MANIFEST, self.manifest)


def load_shards(out: Path) -> dict[str, np.ndarray]:
    """Every finished shard of the dataset in ``out``, concatenated (images ``(S, stack, H, W, 3)``)."""
    manifest_path = out / MANIFEST
    if not manifest_path.exists():
        raise ConfigError(f"{out}: no {MANIFEST}; generate the dataset with `drive dataset`")
    manifest = read_json(manifest_path, "dataset manifest")
    parts: dict[str, list[np.ndarray]] = {}
    with refusing(manifest_path, "dataset manifest"):
        files = [
            expect(entry["file"], (str, type(None)), path=manifest_path, key="file")
            for entry in manifest["shards"]
        ]
    for name in files:
        if name is None:
            continue
        if Path(name).name != name:
            raise ConfigError(
                f"{manifest_path}: shard file {name!r} is not a file of the dataset's folder"
            )
        with (
            refusing(out / name, "dataset shard"),
            np.load(out / name, allow_pickle=False) as shard,
        ):
            for key in shard.files:
                parts.setdefault(key, []).append(shard[key])
    with refusing(manifest_path, "dataset (its shards do not fit together)"):
        return {key: np.concatenate(values) for key, values in parts.items()}
