"""Perturbations of the perception network's input, for the robustness report.

Each is a :data:`~perception.evaluate.Perturbation`: it maps a batch of stacked pixels
``(B, C, H, W)`` in [0, 1] (and the batch's labels, which the attacks need) to perturbed pixels.

* Adversarial attacks against the training loss with the true labels, in an L-infinity ball of
  radius ``epsilon`` (in pixel units of 1/255): FGSM, one step along the gradient's sign (Goodfellow
  et al. 2015, "Explaining and Harnessing Adversarial Examples"), and PGD, :data:`PGD_STEPS` steps
  of ``epsilon / 4`` from a random start, projected back into the ball (Madry et al. 2018,
  "Towards Deep Learning Models Resistant to Adversarial Attacks").
* Rendering changes the network never saw in training: ``scale`` zooms the frames about the ego
  (as if rendered at ``factor`` times the pixels per metre; the labels stay in metres), ``brightness``
  scales every channel, ``colour-swap`` rolls the RGB channels, ``noise`` adds Gaussian noise, ``blur``
  blurs (:func:`blur`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torchvision.transforms.functional import gaussian_blur

from perception.cnn import StnPerceptionNet
from perception.evaluate import Perturbation
from perception.losses import batch_loss
from perception.zoom import STRIPE_SPACING_M, zoom_about_centre

PGD_STEPS = 10


def _loss_gradient(model: StnPerceptionNet, pixels: Tensor, labels: dict[str, Tensor]) -> Tensor:
    pixels = pixels.detach().requires_grad_(True)
    with torch.enable_grad():
        output = model.forward_pixels(pixels)
        terms = batch_loss(output, labels)
        (gradient,) = torch.autograd.grad(terms.total, pixels)
    return gradient


def fgsm(model: StnPerceptionNet, epsilon: float) -> Perturbation:
    """FGSM of radius ``epsilon`` (in [0, 1] pixel units) against ``model``."""

    def perturb(pixels: Tensor, labels: dict[str, Tensor]) -> Tensor:
        step = epsilon * _loss_gradient(model, pixels, labels).sign()
        return (pixels + step).clamp(0, 1).detach()

    return perturb


def pgd(
    model: StnPerceptionNet, epsilon: float, *, seed: int = 0, steps: int = PGD_STEPS
) -> Perturbation:
    """PGD of radius ``epsilon`` (in [0, 1] pixel units) against ``model``: ``steps`` steps of
    ``epsilon / 4`` from a seeded random start."""
    generator = torch.Generator().manual_seed(seed)

    def perturb(pixels: Tensor, labels: dict[str, Tensor]) -> Tensor:
        start = torch.rand(pixels.shape, generator=generator).to(pixels.device) * 2 - 1
        adversarial = (pixels + epsilon * start).clamp(0, 1)
        for _ in range(steps):
            step = epsilon / 4 * _loss_gradient(model, adversarial, labels).sign()
            adversarial = adversarial + step
            adversarial = (pixels + (adversarial - pixels).clamp(-epsilon, epsilon)).clamp(0, 1)
        return adversarial.detach()

    return perturb


def scale(factor: float) -> Perturbation:
    """Zoom about the frame's centre (the ego) by ``factor``, bilinearly, keeping the frame's size."""

    def perturb(pixels: Tensor, labels: dict[str, Tensor]) -> Tensor:
        # Outside the original frame there is tarmac-coloured nothing: the border is repeated.
        return zoom_about_centre(pixels, pixels.new_full((len(pixels),), factor))

    return perturb


def stripes(zoom: float, *, px_per_m: float, epsilon: float = 4 / 255) -> Perturbation:
    """A square wave of +-``epsilon`` across the columns at the lane dashes' period of a frame
    drawn at ``zoom`` (:mod:`perception.zoom`): an attack on the zoom reading, which passes no
    gradient for FGSM or PGD to follow.

    :param px_per_m: the window's pixels per metre at zoom 1.
    """

    def perturb(pixels: Tensor, labels: dict[str, Tensor]) -> Tensor:
        period_px = STRIPE_SPACING_M * px_per_m * zoom
        columns = torch.arange(pixels.shape[-1], dtype=pixels.dtype, device=pixels.device)
        wave = torch.where(torch.remainder(columns, period_px) < period_px / 2, epsilon, -epsilon)
        return (pixels + wave).clamp(0, 1)

    return perturb


def brightness(factor: float) -> Perturbation:
    """Every channel times ``factor``, clipped to [0, 1]."""
    return lambda pixels, labels: (pixels * factor).clamp(0, 1)


def colour_swap() -> Perturbation:
    """Roll each frame's RGB channels by one (red becomes green, green blue, blue red)."""

    def perturb(pixels: Tensor, labels: dict[str, Tensor]) -> Tensor:
        batch, channels, height, width = pixels.shape
        frames = pixels.view(batch, channels // 3, 3, height, width)
        return frames.roll(1, dims=2).reshape(batch, channels, height, width)

    return perturb


def blur(sigma_px: float) -> Perturbation:
    """A Gaussian blur of standard deviation ``sigma_px`` [px] (torchvision's, 2 sigma each side)."""
    size = 2 * math.ceil(2 * sigma_px) + 1

    def perturb(pixels: Tensor, labels: dict[str, Tensor]) -> Tensor:
        return gaussian_blur(pixels, [size, size], [sigma_px, sigma_px])

    return perturb


def noise(sigma: float, *, seed: int = 0) -> Perturbation:
    """Gaussian noise of standard deviation ``sigma`` (in [0, 1] pixel units), seeded."""
    generator = torch.Generator().manual_seed(seed)

    def perturb(pixels: Tensor, labels: dict[str, Tensor]) -> Tensor:
        draw = torch.randn(pixels.shape, generator=generator).to(pixels.device)
        return (pixels + sigma * draw).clamp(0, 1)

    return perturb


def suite(model: StnPerceptionNet) -> dict[str, list[tuple[float, Perturbation]]]:
    """The report's perturbations by family, each as (size, perturbation), smallest first.

    Attack and noise sizes are in pixel levels of 1/255; scale and brightness are factors; the
    colour swap has the one size 1. The unperturbed frames are the common reference (size 0, or
    factor 1).
    """
    return {
        "fgsm": [(size, fgsm(model, size / 255)) for size in (1.0, 2.0, 4.0, 8.0)],
        "pgd": [(size, pgd(model, size / 255)) for size in (1.0, 2.0, 4.0, 8.0)],
        "noise": [(size, noise(size / 255)) for size in (4.0, 8.0, 16.0, 32.0)],
        "scale": [(factor, scale(factor)) for factor in (0.9, 0.95, 1.05, 1.1)],
        "brightness": [(factor, brightness(factor)) for factor in (0.6, 0.8, 1.2)],
        "colour-swap": [(1.0, colour_swap())],
    }
