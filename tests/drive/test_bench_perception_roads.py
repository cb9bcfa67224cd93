"""``drive bench perception --roads``: one table of F1 per road and render variation."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import numpy as np
from safetensors.torch import save_file
from typer.testing import CliRunner

from drive.bench.bench_perception_roads import visible
from drive.cli import app
from perception.cnn import StnPerceptionNet
from perception.train import PerceptionTrainConfig
from tests.helpers import VISION_FRAMES


def test_a_zoom_in_drops_the_labels_it_pushes_out_of_the_frame():
    vehicles = np.zeros((1, 3, 7), dtype=np.float32)
    vehicles[0, 0, :3] = (1, 55.0, 0.0)  # 55 m ahead: out of a 64 m half window zoomed by 1.2
    vehicles[0, 1, :3] = (1, -50.0, 3.0)  # 50 m behind: still in
    vehicles[0, 2, :3] = (1, 10.0, 15.0)  # 15 m to the side: out of 16 m / 1.2
    kept = visible({"vehicles": vehicles}, 1.2, (64.0, 16.0))["vehicles"]
    np.testing.assert_array_equal(kept[0, :, 0], [0, 1, 0])
    assert visible({"vehicles": vehicles}, 0.9, (64.0, 16.0))["vehicles"] is vehicles


def test_bench_perception_over_roads_writes_one_row_per_road_and_every_variation(
    vision_data, tmp_path
):
    weights = tmp_path / "net"
    weights.mkdir()
    network = StnPerceptionNet(VISION_FRAMES, width=4)
    state = {k: v.contiguous() for k, v in network.state_dict().items()}
    save_file(state, weights / "best.safetensors")
    card = {"config": asdict(PerceptionTrainConfig(width=4)), "frame_spec": asdict(VISION_FRAMES)}
    (weights / "card.json").write_text(json.dumps(card))
    roads, unseen = tmp_path / "roads", tmp_path / "unseen"
    for folder in (roads, unseen):
        folder.mkdir()
        (folder / "lead-brake-close").symlink_to(vision_data)
    out = tmp_path / "roads.json"
    arguments = ["bench", "perception", "--weights", str(weights), "--roads", str(roads)]
    arguments += ["--unseen-colours", str(unseen), "--json", str(out)]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert "lead-brake-close" in result.output and "Tracker" in result.output
    document = json.loads(out.read_text())
    assert list(document["roads"]) == ["lead-brake-close", "all roads"]
    row = document["roads"]["lead-brake-close"]
    assert list(row) == [
        "clean",
        "brightness 0.5",
        "brightness 1.5",
        "zoom 0.9",
        "zoom 1.1",
        "noise 8/255",
        "blur 1 px",
        "unseen-colours",
        "pgd 4/255",
    ]
    assert row["clean"] == document["roads"]["all roads"]["clean"]  # one road: pooled is the same
    assert all(0 <= figures["presence_f1"] <= 1 for figures in row.values())
    assert document["tracker"]["tracker_ms_per_step"] > 0
    missing = CliRunner().invoke(app, ["bench", "perception", "--roads", str(tmp_path / "none")])
    assert "no dataset folders" in str(missing.exception)


def test_bench_perception_refuses_held_out_frames_of_another_window(vision_data, tmp_path):
    weights = tmp_path / "net"
    weights.mkdir()
    wider = replace(VISION_FRAMES, width_px=VISION_FRAMES.width_px + 64)
    network = StnPerceptionNet(wider, width=4)
    save_file(
        {k: v.contiguous() for k, v in network.state_dict().items()}, weights / "best.safetensors"
    )
    card = {"config": asdict(PerceptionTrainConfig(width=4)), "frame_spec": asdict(wider)}
    (weights / "card.json").write_text(json.dumps(card))
    roads = tmp_path / "roads"
    roads.mkdir()
    (roads / "lead-brake-close").symlink_to(vision_data)
    arguments = ["bench", "perception", "--weights", str(weights), "--roads", str(roads)]
    result = CliRunner().invoke(app, [*arguments, "--json", str(tmp_path / "roads.json")])
    assert result.exit_code != 0
    assert f"--frame-width-px {wider.width_px}" in str(result.exception)
    assert not (tmp_path / "roads.json").exists()
