"""Generative models of rendered frames: a layout-to-frame pix2pix and an unconditional DCGAN.

- :class:`UNetGenerator` and :class:`PatchDiscriminator` form the conditional GAN of Isola et al.
  (2017, "Image-to-image translation with conditional adversarial networks"): a U-Net turns a
  semantic layout (:data:`perception.layout.LAYOUT_CHANNELS`) into a frame, and a 70 x 70 PatchGAN
  judges (layout, frame) pairs patch by patch.
- :class:`DcganGenerator` and :class:`DcganDiscriminator` are the DCGAN of Radford et al. (2016):
  transposed convolutions from a noise vector, strided convolutions back to one logit.

Both keep the papers' recipe: weights drawn from N(0, 0.02) (:func:`init_weights`), batch norm,
LeakyReLU 0.2 in the discriminators, tanh outputs in [-1, 1]. Trained generators are stored as
fp16 safetensors whose metadata names the architecture, so :func:`load_cgan` and
:func:`load_dcgan` need nothing else; :func:`generate_frames` and :func:`sample_frames` return
uint8 frames like the dataset's.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from sims.files import atomic_path
from sims.reading import checked_state, refusing
from sims.strict import ConfigError

CGAN_WEIGHTS = Path(__file__).parent / "weights" / "cgan"
DCGAN_WEIGHTS = Path(__file__).parent / "weights" / "dcgan"
WEIGHTS_FILE = "best.safetensors"
INIT_STD = 0.02  # Radford et al. 2016: every weight from N(0, 0.02)
LEAKY_SLOPE = 0.2
DCGAN_UPSAMPLINGS = 4  # 64 x 256 frames grow from 4 x 16


@dataclass(frozen=True)
class GeneratorSpec:
    """The architecture of a stored generator.

    :param kind: ``cgan`` (:class:`UNetGenerator`) or ``dcgan`` (:class:`DcganGenerator`).
    :param width: channels of the outermost convolution.
    :param height_px: frame height (DCGAN only; the U-Net takes any multiple of 32).
    :param width_px: frame width (DCGAN only).
    :param latent: length of the DCGAN's noise vector.
    """

    kind: str
    width: int
    height_px: int = 64
    width_px: int = 256
    latent: int = 64

    def __post_init__(self) -> None:
        if self.kind not in ("cgan", "dcgan"):
            raise ConfigError(f"unknown generator kind '{self.kind}'; valid: cgan, dcgan")
        if min(self.width, self.height_px, self.width_px, self.latent) < 1:
            raise ConfigError(f"generator sizes must be >= 1, got {self}")

    def build(self) -> nn.Module:
        """A freshly initialised generator of this architecture."""
        if self.kind == "cgan":
            return UNetGenerator(width=self.width)
        return DcganGenerator(
            latent=self.latent, width=self.width, height_px=self.height_px, width_px=self.width_px
        )


def init_weights(module: nn.Module) -> None:
    """Radford et al.'s initialisation: convolutions N(0, 0.02), batch-norm scales N(1, 0.02),
    biases zero. Apply with ``network.apply(init_weights)``."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, INIT_STD)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, INIT_STD)
        nn.init.zeros_(module.bias)


def _down(inputs: int, outputs: int, *, norm: bool, stride: int = 2) -> nn.Sequential:
    """Conv 4 x 4 (halving the size at stride 2), optional batch norm, LeakyReLU 0.2."""
    layers: list[nn.Module] = [nn.Conv2d(inputs, outputs, 4, stride, 1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(outputs))
    layers.append(nn.LeakyReLU(LEAKY_SLOPE, inplace=True))
    return nn.Sequential(*layers)


class UNetGenerator(nn.Module):
    """pix2pix's U-Net: five stride-2 convolutions down, five transposed ones up, skips between.

    :param width: channels of the first level; deeper levels double it, up to ``8 * width``.
    :param dropout: dropout of the three innermost decoder levels (pix2pix's noise; off in eval).
    """

    LEVELS = 5

    def __init__(
        self, *, width: int = 16, in_channels: int = 3, out_channels: int = 3, dropout: float = 0.5
    ) -> None:
        super().__init__()
        channels = [width * min(2**level, 8) for level in range(self.LEVELS)]
        self.down = nn.ModuleList(
            _down(previous, current, norm=0 < level < self.LEVELS - 1)
            for level, (previous, current) in enumerate(
                zip([in_channels, *channels[:-1]], channels, strict=True)
            )
        )
        self.up = nn.ModuleList()
        for level in reversed(range(1, self.LEVELS)):
            inputs = channels[level] * (1 if level == self.LEVELS - 1 else 2)
            layers: list[nn.Module] = [
                nn.ReLU(inplace=False),
                nn.ConvTranspose2d(inputs, channels[level - 1], 4, 2, 1, bias=False),
                nn.BatchNorm2d(channels[level - 1]),
            ]
            if level >= self.LEVELS - 3 and dropout > 0:
                layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))
        self.out = nn.Sequential(
            nn.ReLU(), nn.ConvTranspose2d(2 * channels[0], out_channels, 4, 2, 1), nn.Tanh()
        )
        self.apply(init_weights)

    def forward(self, layout: torch.Tensor) -> torch.Tensor:
        """:param layout: ``(N, 3, H, W)`` in [-1, 1], H and W multiples of 32.
        :return: ``(N, 3, H, W)`` frames in [-1, 1]."""
        skips = []
        features = layout
        for block in self.down:
            features = block(features)
            skips.append(features)
        for block, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            features = torch.cat([block(features), skip], dim=1)
        return self.out(features)


class PatchDiscriminator(nn.Module):
    """pix2pix's 70 x 70 PatchGAN on (layout, frame) pairs: one logit per overlapping patch.

    :param width: channels of the first convolution (doubling to ``8 * width``).
    """

    def __init__(self, *, width: int = 16, in_channels: int = 6) -> None:
        super().__init__()
        self.net = nn.Sequential(
            _down(in_channels, width, norm=False),
            _down(width, 2 * width, norm=True),
            _down(2 * width, 4 * width, norm=True),
            _down(4 * width, 8 * width, norm=True, stride=1),
            nn.Conv2d(8 * width, 1, 4, 1, 1),
        )
        self.apply(init_weights)

    def forward(self, layout: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
        """:return: ``(N, 1, h, w)`` logits, one per patch."""
        return self.net(torch.cat([layout, frame], dim=1))


def _dcgan_start(height_px: int, width_px: int) -> tuple[int, int]:
    scale = 2**DCGAN_UPSAMPLINGS
    if height_px % scale or width_px % scale:
        raise ConfigError(
            f"DCGAN frames must be multiples of {scale} px, got {height_px}x{width_px}"
        )
    return height_px // scale, width_px // scale


class DcganGenerator(nn.Module):
    """Noise to frame: a transposed convolution to ``H/16 x W/16``, four that double the size.

    :param latent: length of the noise vector.
    :param width: channels of the last hidden layer (``8 * width`` at the start).
    """

    def __init__(
        self, *, latent: int = 64, width: int = 16, height_px: int = 64, width_px: int = 256
    ) -> None:
        super().__init__()
        self.latent = latent
        start = _dcgan_start(height_px, width_px)
        channels = [width * 2**level for level in reversed(range(DCGAN_UPSAMPLINGS))]
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent, channels[0], start, 1, 0, bias=False),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(inplace=True),
        ]
        for previous, current in zip(channels[:-1], channels[1:], strict=True):
            layers += [
                nn.ConvTranspose2d(previous, current, 4, 2, 1, bias=False),
                nn.BatchNorm2d(current),
                nn.ReLU(inplace=True),
            ]
        layers += [nn.ConvTranspose2d(channels[-1], 3, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(init_weights)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        """:param noise: ``(N, latent)``. :return: ``(N, 3, H, W)`` frames in [-1, 1]."""
        return self.net(noise[:, :, None, None])


class MinibatchStd(nn.Module):
    """Appends one channel: the standard deviation of each feature across the batch, averaged over
    features and positions (Karras et al. 2018, "Progressive Growing of GANs"). A batch of
    near-identical generated frames then looks unlike a batch of real ones."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        spread = features.std(dim=0, unbiased=False).mean()
        return torch.cat([features, spread.expand_as(features[:, :1])], dim=1)


class DcganDiscriminator(nn.Module):
    """Frame to one logit: four stride-2 convolutions, then one over the remaining ``H/16 x W/16``.

    :param spectral_norm: every convolution spectrally normalised and no batch norm (Miyato et al.
        2018), which bounds how fast the discriminator can outrun the generator.
    :param minibatch_std: the last convolution also sees how much the batch varies
        (:class:`MinibatchStd`), so a generator that draws one frame over and over is caught.
    """

    def __init__(
        self,
        *,
        width: int = 16,
        height_px: int = 64,
        width_px: int = 256,
        spectral_norm: bool = False,
        minibatch_std: bool = False,
    ) -> None:
        super().__init__()
        start = _dcgan_start(height_px, width_px)
        channels = [width * 2**level for level in range(DCGAN_UPSAMPLINGS)]
        self.net = nn.Sequential(
            *(
                _down(previous, current, norm=level > 0)
                for level, (previous, current) in enumerate(
                    zip([3, *channels[:-1]], channels, strict=True)
                )
            ),
            *([MinibatchStd()] if minibatch_std else []),
            nn.Conv2d(channels[-1] + minibatch_std, 1, start, 1, 0),
        )
        self.apply(init_weights)
        if spectral_norm:
            for index, block in enumerate(self.net):
                if isinstance(block, nn.Sequential):
                    block[0] = nn.utils.parametrizations.spectral_norm(block[0])
                    if isinstance(block[1], nn.BatchNorm2d):
                        block[1] = nn.Identity()
                elif isinstance(block, nn.Conv2d):
                    self.net[index] = nn.utils.parametrizations.spectral_norm(block)

    def forward(self, frame: torch.Tensor) -> torch.Tensor:
        """:return: ``(N,)`` logits."""
        return self.net(frame).flatten()


def images_to_unit(images: np.ndarray, *, device: str) -> torch.Tensor:
    """uint8 frames ``(N, H, W, 3)`` to float ``(N, 3, H, W)`` in [-1, 1] on ``device``."""
    tensor = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    return tensor.permute(0, 3, 1, 2).float() / 127.5 - 1.0


def layouts_to_unit(layouts: np.ndarray, *, device: str) -> torch.Tensor:
    """0/1 layouts ``(N, C, H, W)`` to float -1/1 on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(layouts)).to(device).float() * 2.0 - 1.0


def frames_from_tensor(frames: torch.Tensor) -> np.ndarray:
    """Generator output in [-1, 1], ``(N, 3, H, W)``, to uint8 ``(N, H, W, 3)``."""
    scaled = ((frames.float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return scaled.permute(0, 2, 3, 1).cpu().numpy()


def save_generator(generator: nn.Module, spec: GeneratorSpec, path: Path) -> None:
    """The generator's weights as fp16 safetensors, the architecture in the metadata; atomic."""
    tensors = {
        name: (value.half() if value.is_floating_point() else value).detach().cpu().contiguous()
        for name, value in generator.state_dict().items()
    }
    with atomic_path(path) as temporary:
        save_file(tensors, temporary, metadata={"generator": json.dumps(asdict(spec))})


def load_generator(weights_dir: Path, *, kind: str, device: str) -> nn.Module:
    """The generator stored in ``weights_dir/best.safetensors``, in eval mode on ``device``.

    :raises ConfigError: no such file, or a generator of the other kind.
    """
    path = weights_dir / WEIGHTS_FILE
    if not path.exists():
        raise ConfigError(f"{weights_dir}: no {WEIGHTS_FILE}; train one with `drive train-gan`")
    with refusing(path, "generator weights file"):
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
        if "generator" not in metadata:
            raise ConfigError(f"{path}: no generator metadata; not written by `drive train-gan`")
        spec = GeneratorSpec(**json.loads(metadata["generator"]))
        if spec.kind != kind:
            raise ConfigError(f"{path} holds a {spec.kind} generator, not a {kind} one")
        generator = spec.build()
    generator.load_state_dict(checked_state(tensors, generator.state_dict(), path=path))
    return generator.to(device).eval()


def load_cgan(weights_dir: Path = CGAN_WEIGHTS, *, device: str) -> nn.Module:
    """The layout-to-frame U-Net stored in ``weights_dir`` (shipped: :data:`CGAN_WEIGHTS`)."""
    return load_generator(weights_dir, kind="cgan", device=device)


def load_dcgan(weights_dir: Path = DCGAN_WEIGHTS, *, device: str) -> nn.Module:
    """The DCGAN generator stored in ``weights_dir`` (shipped: :data:`DCGAN_WEIGHTS`)."""
    return load_generator(weights_dir, kind="dcgan", device=device)


@torch.no_grad()
def generate_frames(
    generator: nn.Module, layouts: np.ndarray, *, device: str, batch_size: int = 64
) -> np.ndarray:
    """Frames for layouts, deterministically (eval mode: no dropout, running batch statistics).

    :param layouts: ``(N, 3, H, W)`` uint8 of 0 and 1 (:func:`perception.layout.draw_layout`).
    :return: ``(N, H, W, 3)`` uint8.
    """
    generator.eval()
    parts = [
        frames_from_tensor(
            generator(layouts_to_unit(layouts[start : start + batch_size], device=device))
        )
        for start in range(0, len(layouts), batch_size)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, *layouts.shape[2:], 3), np.uint8)


@torch.no_grad()
def sample_frames(
    generator: nn.Module, count: int, *, seed: int, device: str, batch_size: int = 64
) -> np.ndarray:
    """``count`` frames from the DCGAN; the same seed gives the same frames at any batch size.

    :return: ``(count, H, W, 3)`` uint8.
    """
    generator.eval()
    latent = int(generator.latent)  # type: ignore[arg-type]
    noise = torch.randn(count, latent, generator=torch.Generator().manual_seed(seed))
    parts = [
        frames_from_tensor(generator(noise[start : start + batch_size].to(device)))
        for start in range(0, count, batch_size)
    ]
    return np.concatenate(parts)
