"""Layouts and boxes redrawn from the simulator's state: hand-computed cases and real frames."""

from __future__ import annotations

import numpy as np
import pytest

from drive.runs.frame_dataset import generate
from perception.layout import draw_layout, draw_markings, vehicle_boxes
from perception.vision_data import load_vision_frames
from sims.dataset import SCENE_ROWS, DatasetConfig, FrameSpec, scene_rows
from sims.groundtruth import EgoState, GroundTruth, LaneId, VehicleState
from sims.strict import ConfigError

SPEC = FrameSpec(width_px=64, height_px=32, scaling_px_per_m=1.0, stack=2, stride_steps=3)


def _scene(*vehicles: tuple[float, float, float]) -> np.ndarray:
    """A scene block: the ego at x = 100 m, y = 4 m, then vehicles (x, y, heading)."""
    rows = np.zeros((SCENE_ROWS, 6))
    for index, (x_m, y_m, heading_rad) in enumerate([(100.0, 4.0, 0.0), *vehicles]):
        rows[index] = (1.0, x_m, y_m, heading_rad, 5.0, 2.0)
    return rows


def test_scene_rows_put_the_ego_first_then_the_nearest_vehicles_near_the_window():
    ego = EgoState(
        x_m=100.0,
        y_m=4.0,
        heading_rad=0.1,
        speed_mps=25.0,
        length_m=5.0,
        width_m=2.0,
        lane=LaneId("0", "1", 1),
        crashed=False,
        on_road=True,
        box_on_road=True,
    )
    others = (
        VehicleState(0, 130.0, 4.0, 0.0, 20.0, 5.0, 2.0),
        VehicleState(1, 90.0, 8.0, 0.2, 30.0, 4.0, 2.5),
        VehicleState(2, 300.0, 4.0, 0.0, 30.0, 5.0, 2.0),  # 200 m ahead: out of the 64 m window
    )
    rows = scene_rows(GroundTruth(time_s=0.0, ego=ego, vehicles=others, lanes=()), SPEC)
    assert rows.shape == (SCENE_ROWS, 6)
    np.testing.assert_allclose(rows[0], [1, 100, 4, 0.1, 5, 2])
    np.testing.assert_allclose(rows[1], [1, 90, 8, 0.2, 4, 2.5])  # 10.8 m away, before 30 m
    np.testing.assert_allclose(rows[2], [1, 130, 4, 0, 5, 2])
    assert rows[3:].sum() == 0


def test_markings_follow_highway_env_stripes_and_edges():
    # Window origin (68, -12): boundaries at y = -2, 2, 6, 10, 14 -> rows 10, 14, 18, 22, 26.
    image = draw_markings(4, (68.0, -12.0), SPEC)
    assert image[10].all() and image[26].all()  # the road's edges are continuous
    assert not image[[0, 9, 11, 27, 31]].any()
    # Stripes start at multiples of 4.33 m and last 3 m. 15 * 4.33 = 64.95 m: that stripe ends
    # 0.05 m behind the origin, which highway-env's int() truncates to column 0; the next runs
    # 69.28..72.28 m, columns 1..4 (inclusive, as pygame draws lines).
    expected = np.zeros(SPEC.width_px, dtype=np.uint8)
    for k in range(15, 32):
        start, end = k * 4.33 - 68.0, k * 4.33 + 3.0 - 68.0
        expected[max(int(start), 0) : min(int(end), SPEC.width_px - 1) + 1] = 1
    for row in (14, 18, 22):
        np.testing.assert_array_equal(image[row], expected)
    assert expected[:13].all() and not expected[13]  # 4 px stripes, a gap every 4.33 m or so


def test_vehicles_are_their_rectangles_and_boxes_are_clipped_to_the_frame():
    spec = FrameSpec(width_px=64, height_px=32, scaling_px_per_m=2.0)  # 32 m x 16 m
    scene = _scene((110.0, 4.0, 0.0), (114.0, 0.0, 0.0), (90.0, 8.0, 0.5))
    layout = draw_layout(scene, 4, spec)
    # The ego's centre is pixel corner (32, 16); 5 m x 2 m is 10 x 4 px, where highway-env
    # blits it: columns 27..36, rows 14..17.
    np.testing.assert_array_equal(np.argwhere(layout[2]).min(axis=0), [14, 27])
    np.testing.assert_array_equal(np.argwhere(layout[2]).max(axis=0), [17, 36])
    assert layout[2].sum() == 40 and layout[1, 14:18, 47:57].all()  # and the car 10 m ahead
    boxes = vehicle_boxes(scene, spec)
    np.testing.assert_allclose(boxes[0], [27, 14, 37, 18])
    np.testing.assert_allclose(boxes[1], [47, 14, 57, 18])
    np.testing.assert_allclose(boxes[2], [55, 6, 64, 10])  # 14 m ahead: clipped at the edge
    rotated = boxes[3]  # 0.5 rad: the box around the turned 10 x 4 px rectangle
    width, height = 10 * np.cos(0.5) + 4 * np.sin(0.5), 10 * np.sin(0.5) + 4 * np.cos(0.5)
    np.testing.assert_allclose(
        rotated, [12 - width / 2, 24 - height / 2, 12 + width / 2, 24 + height / 2], rtol=1e-5
    )
    assert len(vehicle_boxes(_scene((118.4, 4.0, 0.0)), spec)) == 1  # 1 px in view: dropped


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    spec = FrameSpec(width_px=128, height_px=48, scaling_px_per_m=2.0, stack=2, stride_steps=3)
    folder = tmp_path_factory.mktemp("frames")
    config = DatasetConfig(
        scenario="lead-brake-close", episodes=1, sample_every_steps=45, frames=spec
    )
    generate(config, folder)
    return folder


def test_layouts_match_highway_env_frames_to_the_pixel(rendered):
    rendered = load_vision_frames([rendered])
    assert len(rendered) >= 4 and set(rendered.lanes) == {4}
    layouts = rendered.layouts()
    white = (rendered.images == 255).all(axis=-1)
    grey = (rendered.images == 100).all(axis=-1)
    vehicles = layouts[:, 1].astype(bool) | layouts[:, 2].astype(bool)
    assert white.sum() > 0 and not (white & ~layouts[:, 0].astype(bool)).any()
    hidden = layouts[:, 0].astype(bool) & ~white  # markings a vehicle is drawn over
    assert not (hidden & grey).any()
    painted = ~white & ~grey  # vehicles, outlines, lights
    # pygame's rotation of a turning car's sprite can shift its outline by a pixel, which the
    # rectangle does not follow; in this lane-changing scenario that is about 10 px a frame.
    assert (painted & vehicles).sum() >= 0.85 * painted.sum()


def test_datasets_without_scenes_are_refused(tmp_path):
    config = DatasetConfig(
        scenario="lead-brake-close", episodes=1, sample_every_steps=90, frames=SPEC
    )
    generate(config, tmp_path)
    shard = tmp_path / "shard-00000.npz"
    with np.load(shard) as data:
        older = {key: data[key] for key in data.files if key not in ("scene", "lanes")}
    np.savez(shard, **older)  # as `drive dataset` wrote them before scenes were recorded
    with pytest.raises(ConfigError, match="no 'scene' records"):
        load_vision_frames([tmp_path])
