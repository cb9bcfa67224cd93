"""The CNN + spatial-transformer perception: identity warp at start, a loss that learns, figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from drive.runs.frame_dataset import generate
from perception.cnn import (
    INFERENCE_BLOCK_FRAMES,
    StnPerceptionNet,
    hue_blind,
    relative_to_frame,
    scale_targets,
    stack_channels,
    unscale_slots,
)
from perception.evaluate import figures
from perception.losses import match_slots, perception_loss
from perception.train import PerceptionTrainConfig, train_perception, with_defaults
from sims.dataset import LANE_ROWS, SLOTS, DatasetConfig, FrameSpec
from sims.strict import ConfigError

SMALL = FrameSpec(width_px=128, height_px=32, scaling_px_per_m=1.0, stack=2, stride_steps=3)


def test_spatial_transformer_starts_as_the_identity_warp():
    torch.manual_seed(0)
    model = StnPerceptionNet(SMALL)
    images = torch.randint(0, 255, (2, SMALL.height_px, SMALL.width_px, 3 * SMALL.stack))
    features = model.stem(images.permute(0, 3, 1, 2).float() / 255)
    warped, theta = model.transformer(features)
    identity = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]).expand(2, 2, 3)
    torch.testing.assert_close(theta, identity)
    torch.testing.assert_close(warped, features, atol=1e-5, rtol=0)
    torch.testing.assert_close(model(images).theta, identity)


def test_slots_sit_on_their_cells_and_inference_folding_and_blocks_change_nothing():
    torch.manual_seed(0)
    model = StnPerceptionNet(SMALL, width=8).eval()
    nn.init.zeros_(model.slot_head.weight)
    nn.init.zeros_(model.slot_head.bias[1:])
    batch = INFERENCE_BLOCK_FRAMES + 3  # the inference copy reads two blocks, the last short
    images = torch.randint(0, 255, (batch, SMALL.height_px, SMALL.width_px, 3 * SMALL.stack))
    slots = unscale_slots(model(images).slots)
    # 128 x 32 px at 1 px/m in cells of 8 px: 16 x 4 cells, the first centred 60 m behind, 12 m left
    assert slots.shape == (batch, 64, 7)
    torch.testing.assert_close(slots[0, 0, 1:3], torch.tensor([-60.0, -12.0]))
    torch.testing.assert_close(slots[0, 17, 1:3], torch.tensor([-52.0, -4.0]))
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-1, 1)
                module.running_var.uniform_(0.5, 2)
        inference = model.for_inference()
        reference, fused = model(images), inference(images)
    assert inference.block_frames == INFERENCE_BLOCK_FRAMES and model.block_frames is None
    for name in ("slots", "occupancy", "ego_lane", "theta"):
        torch.testing.assert_close(
            getattr(fused, name), getattr(reference, name), atol=1e-4, rtol=1e-4
        )


def test_frames_read_relative_to_their_colour_ignore_brightness_and_channel_gains():
    # A grey road (0.4) with a white marking and a dark blue vehicle, two frames of a stack.
    frame = torch.full((1, 6, 4, 8), 0.4)  # channels first
    frame[:, :, 0, :] = 1.0
    frame[:, 0:2, 2, 3:5] = 0.1
    normalised = relative_to_frame(frame)
    mean = frame.mean(dim=(2, 3), keepdim=True)
    torch.testing.assert_close(normalised, (frame - mean) / mean)
    gains = torch.tensor([0.6, 1.2, 0.9, 0.6, 1.2, 0.9]).view(1, 6, 1, 1)
    torch.testing.assert_close(relative_to_frame(frame * gains), normalised)
    # A channel black on average is divided by the floor, not by zero.
    assert torch.isfinite(relative_to_frame(torch.zeros(1, 3, 4, 8))).all()
    model = StnPerceptionNet(SMALL, width=4, pixels="relative").eval()
    images = torch.randint(20, 120, (2, SMALL.height_px, SMALL.width_px, 3 * SMALL.stack))
    with torch.no_grad():
        dim, bright = model(images).slots, model(images * 2).slots
    torch.testing.assert_close(dim, bright, atol=1e-4, rtol=1e-4)


def test_hue_blind_pixels_read_a_vehicle_alike_whatever_its_hue_or_channel_order():
    # A grey road with one vehicle, drawn in two hues of the same saturation and value.
    def frame(rgb: tuple[float, float, float]) -> torch.Tensor:
        pixels = torch.full((1, 3, 8, 16), 0.4)  # channels first
        pixels[0, :, 2:4, 5:9] = torch.tensor(rgb).view(3, 1, 1)
        return pixels

    yellow, pale_blue = frame((0.8, 0.8, 0.1)), frame((0.5, 0.6, 0.8))
    violet_like_yellow = frame((0.45, 0.1, 0.8))  # hue 0.75: yellow's value and chroma
    read = hue_blind(yellow)
    assert read.shape == (1, 2, 8, 16)
    torch.testing.assert_close(hue_blind(violet_like_yellow), read)
    torch.testing.assert_close(hue_blind(frame((0.8, 0.1, 0.8))), read)  # magenta
    torch.testing.assert_close(hue_blind(yellow[:, [2, 0, 1]]), read)
    assert not torch.allclose(hue_blind(pale_blue), read)  # another chroma reads otherwise
    model = StnPerceptionNet(SMALL, width=4, pixels="hue-blind").eval()
    assert model.stem[0][0].in_channels == 2 * SMALL.stack
    images = torch.randint(0, 255, (2, SMALL.height_px, SMALL.width_px, 3 * SMALL.stack))
    with torch.no_grad():  # frames as uint8 stacks and as float pixels read alike
        from_images = model(images).slots
        from_pixels = model.forward_pixels(images.permute(0, 3, 1, 2).float() / 255).slots
    torch.testing.assert_close(from_images, from_pixels)
    with pytest.raises(ValueError, match="unknown pixels 'grey'; valid: rgb, relative, hue-blind"):
        StnPerceptionNet(SMALL, pixels="grey")


def test_frame_stacks_become_channels_oldest_first():
    frames = np.arange(2 * 3 * 2 * 4 * 3, dtype=np.uint8).reshape(2, 3, 2, 4, 3)
    stacked = stack_channels(frames)
    assert stacked.shape == (2, 2, 4, 9)
    np.testing.assert_array_equal(stacked[1, 1, 2, 3:6], frames[1, 1, 1, 2])


def test_slots_are_matched_as_a_set():
    targets = torch.zeros(1, SLOTS, 7)
    targets[0, 0, :3] = torch.tensor([1.0, 0.5, 0.0])
    targets[0, 1, :3] = torch.tensor([1.0, -0.5, 0.25])
    slots = torch.zeros(1, SLOTS, 7)
    slots[0, 7, 1:3] = torch.tensor([-0.5, 0.25])  # slot 7 sits on label 1, slot 3 on label 0
    slots[0, 3, 1:3] = torch.tensor([0.5, 0.0])
    rows, labels = match_slots(slots, targets)[0]
    assert dict(zip(rows.tolist(), labels.tolist(), strict=True)) == {3: 0, 7: 1}


def test_figures_are_perfect_for_perfect_predictions():
    vehicles = np.zeros((1, SLOTS, 7), dtype=np.float32)
    vehicles[0, 0] = [1, 20, 4, -2, 0, 1, 0]
    vehicles[0, 1] = [1, 60, 0, 3, 0, 1, 0]  # beyond 50 m: counted for presence, not for errors
    occupancy = np.zeros((1, LANE_ROWS, SMALL.cells))
    occupancy[0, 3, 2] = 1
    labels = {"vehicles": vehicles, "occupancy": occupancy, "ego_lane": np.array([2])}
    perfect = figures(vehicles.copy(), occupancy.copy(), np.array([2]), labels)
    assert perfect.presence_f1 == 1 and perfect.position_mae_m == 0
    assert perfect.occupancy_iou == 1 and perfect.ego_lane_accuracy == 1
    shifted = vehicles.copy()
    shifted[0, 0, 1] += 1.0  # 1 m off
    assert figures(shifted, occupancy, np.array([2]), labels).position_mae_m == pytest.approx(1.0)


def test_a_tiny_training_run_lowers_the_loss_and_keeps_the_best_weights(tmp_path):
    config = DatasetConfig(
        scenario="lead-brake-close", episodes=1, sample_every_steps=15, frames=SMALL
    )
    generate(config, tmp_path / "data")
    history = train_perception(
        PerceptionTrainConfig(epochs=6, batch_size=4, width=8, device="cpu"),
        tmp_path / "data",
        tmp_path / "data",
        tmp_path / "run",
    )
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert (tmp_path / "run" / "best.safetensors").exists()
    assert (tmp_path / "run" / "card.json").exists()
    resumed = train_perception(
        PerceptionTrainConfig(epochs=7, batch_size=4, width=8, device="cpu"),
        tmp_path / "data",
        tmp_path / "data",
        tmp_path / "run",
        resume=True,
    )
    assert [record["epoch"] for record in resumed] == list(range(1, 8))
    assert [r["train_loss"] for r in resumed[:6]] == [r["train_loss"] for r in history]
    with pytest.raises(ConfigError, match="already holds"):
        train_perception(
            PerceptionTrainConfig(epochs=1, width=8, device="cpu"),
            tmp_path / "data",
            tmp_path / "data",
            tmp_path / "run",
        )


def test_loss_has_every_term():
    model = StnPerceptionNet(SMALL, width=8)
    images = torch.randint(0, 255, (3, SMALL.height_px, SMALL.width_px, 3 * SMALL.stack))
    vehicles = torch.zeros(3, SLOTS, 7)
    vehicles[:, 0] = torch.tensor([1.0, 10.0, 0.0, 1.0, 0.0, 1.0, 0.0])
    terms = perception_loss(
        model(images), vehicles, torch.zeros(3, LANE_ROWS, SMALL.cells), torch.tensor([0, 1, 2])
    )
    assert terms.total.requires_grad
    assert min(terms.presence, terms.kinematics, terms.occupancy, terms.ego_lane) > 0
    assert scale_targets(vehicles)[0, 0, 1] == pytest.approx(10 / 64)


def test_the_heading_weight_scales_the_headings_part_of_the_kinematics_loss():
    torch.manual_seed(0)
    model = StnPerceptionNet(SMALL, width=8)
    images = torch.randint(0, 255, (2, SMALL.height_px, SMALL.width_px, 3 * SMALL.stack))
    vehicles = torch.zeros(2, SLOTS, 7)
    vehicles[:, 0] = torch.tensor([1.0, 10.0, 0.0, 1.0, 0.0, 0.8, 0.6])  # turned 37 degrees
    labels = (torch.zeros(2, LANE_ROWS, SMALL.cells), torch.tensor([0, 1]))
    with torch.no_grad():
        output = model(images)
        one, three = (
            perception_loss(output, vehicles, *labels, heading_weight=w).kinematics for w in (1, 3)
        )
    # The slots the loss pairs with the two vehicles, and their headings' L1 (cos and sin).
    targets = scale_targets(vehicles)
    pairs = match_slots(output.slots, targets)
    headings = sum(
        float((output.slots[b, rows[0], 5:] - targets[b, 0, 5:]).abs().sum())
        for b, (rows, _) in enumerate(pairs)
    )
    # Weight 3 adds twice the headings' L1 to weight 1's mean over 2 pairs x 6 terms.
    assert three - one == pytest.approx(2 * headings / 12, rel=1e-4)
    with pytest.raises(ConfigError, match="heading_weight"):
        PerceptionTrainConfig(heading_weight=-1.0)


def test_the_turn_weight_counts_a_turned_vehicle_more_in_the_kinematics_mean():
    torch.manual_seed(0)
    model = StnPerceptionNet(SMALL, width=8)
    images = torch.randint(0, 255, (1, SMALL.height_px, SMALL.width_px, 3 * SMALL.stack))
    vehicles = torch.zeros(1, SLOTS, 7)
    vehicles[0, 0] = torch.tensor([1.0, 10.0, 0.0, 1.0, 0.0, 0.8, 0.6])  # turned 37 degrees
    vehicles[0, 1] = torch.tensor([1.0, -20.0, 4.0, 0.0, 0.0, 1.0, 0.0])  # straight
    labels = (torch.zeros(1, LANE_ROWS, SMALL.cells), torch.tensor([0]))
    with torch.no_grad():
        output = model(images)
        plain, weighted = (
            perception_loss(output, vehicles, *labels, turn_weight=w).kinematics for w in (0, 5)
        )
    targets = scale_targets(vehicles)
    rows, columns = match_slots(output.slots, targets)[0]
    l1 = {
        int(c): float((output.slots[0, r, 1:] - targets[0, c, 1:]).abs().mean())
        for r, c in zip(rows, columns, strict=True)
    }
    assert plain == pytest.approx((l1[0] + l1[1]) / 2, rel=1e-5)
    # The turned vehicle counts 1 + 5 x 0.6 = 4 times, the straight one once.
    assert weighted == pytest.approx((4 * l1[0] + l1[1]) / 5, rel=1e-5)
    with pytest.raises(ConfigError, match="turn_weight"):
        PerceptionTrainConfig(turn_weight=-1.0)


def test_the_kept_epoch_is_the_lowest_loss_or_the_best_f1():
    from perception.train import selection_key

    records = [
        {"validation_loss": 4.0, "presence_f1": 0.0, "position_mae_m": float("nan")},
        {"validation_loss": 5.0, "presence_f1": 0.9, "position_mae_m": 0.6},
        {"validation_loss": 5.5, "presence_f1": 0.9, "position_mae_m": 0.5},
    ]
    assert min(records, key=lambda r: selection_key(r, "loss")) is records[0]
    assert min(records, key=lambda r: selection_key(r, "f1")) is records[2]
    with pytest.raises(ConfigError, match="select must be one of loss, f1"):
        PerceptionTrainConfig(select="recall")


def test_lane_terms_skip_roads_without_lane_labels_and_the_warp_learns_to_undo_the_zoom():
    torch.manual_seed(0)
    model = StnPerceptionNet(SMALL, width=8)
    images = torch.randint(0, 255, (2, SMALL.height_px, SMALL.width_px, 3 * SMALL.stack))
    output = model(images)
    vehicles = torch.zeros(2, SLOTS, 7)
    occupancy = torch.zeros(2, LANE_ROWS, SMALL.cells)
    # A lane index the ego-lane head has no class for: harmless where the road has no lane labels.
    lanes = torch.tensor([1, 9])
    terms = perception_loss(
        output, vehicles, occupancy, lanes, lane_labels=torch.tensor([1, 0]), zoom=None
    )
    alone = perception_loss(
        type(output)(output.slots[:1], output.occupancy[:1], output.ego_lane[:1], output.theta[:1]),
        vehicles[:1],
        occupancy[:1],
        lanes[:1],
    )
    assert terms.ego_lane == pytest.approx(alone.ego_lane)
    assert terms.occupancy == pytest.approx(alone.occupancy) and terms.theta == 0.0
    # The warp starts at the identity: its L1 to diag(1.2, 1.2) is 2 * 0.2 / 6 per sample.
    zoomed = perception_loss(
        output, vehicles, occupancy, lanes[:1].repeat(2), zoom=torch.tensor([1.2, 1.2])
    )
    assert zoomed.theta == pytest.approx(0.4 / 6, rel=1e-4)


def test_adversarial_training_perturbs_the_batch_within_its_ball(tmp_path):
    from perception.train import PerceptionTrainer

    config = PerceptionTrainConfig(
        epochs=1, width=8, device="cpu", adversarial_epsilon=8.0, adversarial_steps=2
    )
    trainer = PerceptionTrainer(config, tmp_path, tmp_path, tmp_path / "run")
    torch.manual_seed(0)
    trainer.model = StnPerceptionNet(SMALL, width=8)
    images = torch.randint(0, 255, (4, SMALL.height_px, SMALL.width_px, 3 * SMALL.stack))
    pixels = images.permute(0, 3, 1, 2).float() / 255
    batch = {
        "vehicles": torch.zeros(4, SLOTS, 7),
        "occupancy": torch.zeros(4, LANE_ROWS, SMALL.cells),
        "ego_lane": torch.zeros(4, dtype=torch.long),
    }
    batch["vehicles"][:, 0] = torch.tensor([1.0, 10.0, 0.0, 1.0, 0.0, 1.0, 0.0])
    mixed = trainer._adversarial(pixels, batch, seed=0)
    change = (mixed - pixels).abs().amax(dim=(1, 2, 3))
    assert (change[:2] > 4 / 255).all() and (change[:2] <= 8 / 255 + 1e-6).all()
    assert (change[2:] == 0).all()  # adversarial_share 0.5: the rest stays clean
    assert trainer.model.training
    with pytest.raises(ConfigError, match="adversarial_share"):
        PerceptionTrainConfig(adversarial_share=1.5)


def test_datasets_labelled_before_issue_31_load_with_their_defaults_and_padded_slots():
    old = {
        "images": np.zeros((2, 1, 4, 8, 3), dtype=np.uint8),
        "vehicles": np.ones((2, 10, 7), dtype=np.float32),
    }
    loaded = with_defaults(old)
    assert loaded["vehicles"].shape == (2, SLOTS, 7)
    assert (loaded["vehicles"][:, :10] == 1).all() and (loaded["vehicles"][:, 10:] == 0).all()
    assert (loaded["zoom"] == 1).all() and (loaded["lane_labels"] == 1).all()
    with pytest.raises(ConfigError, match="augment_zoom"):
        PerceptionTrainConfig(augment_zoom=1.5)
