"""The GANs: network shapes, the DCGAN initialisation, training that learns and resumes exactly,
deterministic generation, and the ``drive train-gan`` command on a tiny dataset."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from drive.cli import app
from perception.gan import (
    DcganDiscriminator,
    DcganGenerator,
    MinibatchStd,
    PatchDiscriminator,
    UNetGenerator,
    generate_frames,
    load_cgan,
    load_dcgan,
    sample_frames,
)
from perception.gan_figures import image_figures
from perception.gan_losses import discriminator_loss, generator_loss
from perception.train_gan import GanTrainConfig, train_gan
from perception.vision_data import load_vision_frames
from sims.strict import ConfigError
from tests.helpers import VISION_FRAMES

SMALL = VISION_FRAMES


@pytest.fixture(scope="module")
def tiny(vision_data: Path) -> Path:
    """One short episode of 32 x 128 frames."""
    return vision_data


def test_networks_keep_the_frame_size():
    layouts = torch.zeros(2, 3, SMALL.height_px, SMALL.width_px)
    assert UNetGenerator(width=8)(layouts).shape == (2, 3, 32, 128)
    assert PatchDiscriminator(width=8)(layouts, layouts).shape == (2, 1, 2, 14)
    generator = DcganGenerator(latent=16, width=8, height_px=32, width_px=128)
    frames = generator(torch.zeros(2, 16))
    assert frames.shape == (2, 3, 32, 128)
    assert DcganDiscriminator(width=8, height_px=32, width_px=128)(frames).shape == (2,)
    with pytest.raises(ConfigError, match="multiples of 16"):
        DcganGenerator(height_px=40)


def test_minibatch_std_tells_a_collapsed_batch_from_a_varied_one():
    varied = torch.randn(4, 3, 32, 128)
    collapsed = varied[:1].expand(4, -1, -1, -1)
    spread = MinibatchStd()(varied)
    assert spread.shape == (4, 4, 32, 128) and (spread[:, 3] > 0.5).all()
    assert (MinibatchStd()(collapsed)[:, 3] == 0).all()
    discriminator = DcganDiscriminator(width=8, height_px=32, width_px=128, minibatch_std=True)
    assert discriminator(varied).shape == (4,)


def test_weights_start_from_the_dcgan_normal():
    torch.manual_seed(0)
    network = UNetGenerator(width=32)
    weights = torch.cat(
        [
            module.weight.flatten()
            for module in network.modules()
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d))
        ]
    )
    weights = weights.detach()
    assert abs(float(weights.mean())) < 1e-3
    assert float(weights.std()) == pytest.approx(0.02, rel=0.02)
    scales = [m.weight.detach() for m in network.modules() if isinstance(m, nn.BatchNorm2d)]
    assert scales  # the U-Net has batch norms, so the check below is not vacuous
    assert all(abs(float(scale.mean()) - 1) < 0.02 for scale in scales)


def test_cgan_learns_resumes_exactly_and_generates_deterministically(tiny, tmp_path):
    config = GanTrainConfig(kind="cgan", epochs=3, batch_size=8, width=8, device="cpu")
    history = train_gan(config, [tiny], None, tmp_path / "run")
    assert history[-1]["l1"] < history[0]["l1"]
    for name in ("best.safetensors", "card.json", "samples.png", "samples/epoch-003.png"):
        assert (tmp_path / "run" / name).exists()
    card = json.loads((tmp_path / "run" / "card.json").read_text())
    assert card["kept"]["validation_psnr_db"] == max(r["validation_psnr_db"] for r in history)
    train_gan(GanTrainConfig(**{**config.__dict__, "epochs": 2}), [tiny], None, tmp_path / "part")
    resumed = train_gan(config, [tiny], None, tmp_path / "part", resume=True)
    assert [r["l1"] for r in resumed] == [r["l1"] for r in history]
    with pytest.raises(ConfigError, match="already holds"):
        train_gan(config, [tiny], None, tmp_path / "run")

    generator = load_cgan(tmp_path / "run", device="cpu")
    frames = load_vision_frames([tiny])
    layouts = frames.layouts(np.arange(5))
    generated = generate_frames(generator, layouts, device="cpu", batch_size=2)
    assert generated.dtype == np.uint8 and generated.shape == (5, 32, 128, 3)
    np.testing.assert_array_equal(generated, generate_frames(generator, layouts, device="cpu"))
    psnr_db, ssim = image_figures(frames.images[:5], frames.images[:5])
    assert psnr_db > 80 and ssim == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="not a dcgan"):
        load_dcgan(tmp_path / "run", device="cpu")


def test_dcgan_trains_and_samples_deterministically(tiny, tmp_path):
    config = GanTrainConfig(kind="dcgan", steps=3, batch_size=8, width=8, device="cpu")
    train_gan(config, [tiny], None, tmp_path / "run")
    generator = load_dcgan(tmp_path / "run", device="cpu")
    first = sample_frames(generator, 5, seed=3, device="cpu", batch_size=2)
    assert first.dtype == np.uint8 and first.shape == (5, 32, 128, 3)
    np.testing.assert_array_equal(first, sample_frames(generator, 5, seed=3, device="cpu"))
    assert not np.array_equal(first, sample_frames(generator, 5, seed=4, device="cpu"))


def test_hinge_losses_match_their_definition():
    real, fake = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-2.0, 0.0, 1.0])
    # real: max(0, 1 - [2, 0.5, -1]) = [0, 0.5, 2]; fake: max(0, 1 + [-2, 0, 1]) = [0, 1, 2].
    loss = discriminator_loss("hinge", real, fake)
    assert float(loss) == pytest.approx(2.5 / 3 + 3 / 3)
    assert float(generator_loss("hinge", fake)) == pytest.approx(1 / 3)
    with pytest.raises(ConfigError, match="'wasserstein'"):
        GanTrainConfig(kind="dcgan", loss="wasserstein")


def test_cross_entropy_losses_match_their_definition():
    # At logit 0 the discriminator says one half: -log(1/2) for either target.
    zeros = torch.zeros(4)
    assert float(discriminator_loss("bce", zeros, zeros)) == pytest.approx(math.log(2))
    assert float(generator_loss("bce", zeros)) == pytest.approx(math.log(2))
    # Real logits of 2 against a label of 0.9 (one-sided smoothing): -0.9 log s(2) - 0.1 log s(-2),
    # averaged with the fake term log 2. softplus(-2) = 0.12693, softplus(2) = 2.12693.
    twos = torch.full((4,), 2.0)
    smoothed = discriminator_loss("bce", twos, zeros, real_label=0.9)
    assert float(smoothed) == pytest.approx(0.5 * (0.9 * 0.126928 + 0.1 * 2.126928 + math.log(2)))
    assert float(discriminator_loss("bce", twos, zeros)) == pytest.approx(
        0.5 * (0.126928 + math.log(2))
    )
    with pytest.raises(ValueError, match="'wasserstein'; valid: bce, hinge"):
        generator_loss("wasserstein", zeros)
    # A confident, right discriminator costs little; the generator it fools costs little too.
    assert float(discriminator_loss("bce", torch.full((4,), 9.0), torch.full((4,), -9.0))) < 1e-3
    assert float(generator_loss("bce", torch.full((4,), 9.0))) < 1e-3


def test_dcgan_with_a_weight_average_resumes_exactly_and_keeps_the_average(tiny, tmp_path):
    options = dict(kind="dcgan", batch_size=8, width=8, device="cpu", loss="hinge", ema=0.9)
    config = GanTrainConfig(epochs=2, discriminator_lr=4e-4, beta1=0.0, beta2=0.9, **options)
    whole = train_gan(config, [tiny], None, tmp_path / "run")
    train_gan(GanTrainConfig(**{**config.__dict__, "epochs": 1}), [tiny], None, tmp_path / "part")
    resumed = train_gan(config, [tiny], None, tmp_path / "part", resume=True)
    assert [r["validation_frechet"] for r in resumed] == [r["validation_frechet"] for r in whole]
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    averaged = {k.removeprefix("module."): v for k, v in state["average"].items()}
    assert not torch.equal(averaged["net.0.weight"], state["generator"]["net.0.weight"])


@pytest.mark.parametrize("kind", ["cgan", "dcgan"])
def test_train_gan_command_runs_on_a_tiny_budget(tiny, tmp_path, kind):
    arguments = ["train-gan", "--kind", kind, "--data", str(tiny), "--out", str(tmp_path / kind)]
    arguments += ["--steps", "2", "--batch-size", "4", "--width", "8", "--device", "cpu"]
    stable = ["--loss", "hinge", "--ema", "0.5", "--discriminator-lr", "0.0004"]
    arguments += stable if kind == "dcgan" else []
    result = CliRunner().invoke(app, [*arguments, "--validation", str(tiny)])
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / kind / "card.json").read_text())
    if kind == "dcgan":
        assert card["config"]["loss"] == "hinge" and card["config"]["ema"] == 0.5
        assert "--discriminator-lr 0.0004 --ema 0.5 --loss hinge" in card["command"]
    assert card["command"].startswith(f"drive train-gan --kind {kind} --data {tiny}")
    assert "--steps 2 --batch-size 4 --width 8" in card["command"] and card["machine"]
    assert (tmp_path / kind / "samples.png").exists()


def test_bad_kind_and_missing_folder_are_named(tiny, tmp_path):
    runner = CliRunner()
    bad = runner.invoke(app, ["train-gan", "--kind", "vae", "--data", str(tiny), "--out", "x"])
    assert isinstance(bad.exception, ConfigError) and "'vae'" in str(bad.exception)
    missing = tmp_path / "nowhere"
    result = runner.invoke(
        app, ["train-gan", "--kind", "cgan", "--data", str(missing), "--out", str(tmp_path / "r")]
    )
    assert isinstance(result.exception, ConfigError) and str(missing) in str(result.exception)


def test_the_spectrally_normalised_discriminator_has_unit_norm_layers_and_no_batch_norm():
    torch.manual_seed(0)
    discriminator = DcganDiscriminator(width=8, height_px=32, width_px=128, spectral_norm=True)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in discriminator.modules())
    frames = torch.randn(3, 3, 32, 128)
    for _ in range(20):  # power iterations converge in training mode
        discriminator(frames)
    convolutions = [m for m in discriminator.modules() if isinstance(m, nn.Conv2d)]
    assert len(convolutions) == 5
    for convolution in convolutions:
        matrix = convolution.weight.detach().flatten(1)
        assert float(torch.linalg.matrix_norm(matrix, ord=2)) == pytest.approx(1.0, rel=0.05)


def test_instance_noise_and_spectral_norm_train_a_dcgan(tiny, tmp_path):
    config = GanTrainConfig(
        kind="dcgan",
        steps=2,
        batch_size=4,
        width=8,
        instance_noise=0.1,
        spectral_norm=True,
        device="cpu",
    )
    history = train_gan(config, [tiny], None, tmp_path / "run")
    assert history and (tmp_path / "run" / "best.safetensors").exists()
    assert history[-1]["validation_frechet"] > 0  # the kept epoch is chosen by it
    with pytest.raises(ConfigError, match="instance_noise"):
        GanTrainConfig(instance_noise=2.0)
