"""The adversarial losses of :mod:`perception.train_gan`, on the discriminator's logits.

``bce`` is the original GAN's (Goodfellow et al. 2014), with the generator's non-saturating form;
``hinge`` is the one spectrally normalised GANs train with (Miyato et al. 2018).
"""

from __future__ import annotations

import torch
import torch.nn.functional as functional

LOSSES = ("bce", "hinge")


def discriminator_loss(
    loss: str, real_logits: torch.Tensor, fake_logits: torch.Tensor, *, real_label: float = 1.0
) -> torch.Tensor:
    """The discriminator's loss: binary cross-entropy, or the hinge (real above 1, fake below -1).

    :param loss: ``bce`` or ``hinge``.
    :param real_logits: the discriminator's logits on real frames, any shape.
    :param fake_logits: its logits on generated frames.
    :param real_label: the cross-entropy's target for real frames (below 1 for one-sided label
        smoothing); the hinge ignores it.
    :return: the mean loss, a float32 scalar.
    :raises ValueError: an unknown ``loss``.
    """
    _check(loss)
    if loss == "hinge":
        real, fake = real_logits.float(), fake_logits.float()
        return functional.relu(1 - real).mean() + functional.relu(1 + fake).mean()
    return 0.5 * (_bce(real_logits, target=real_label) + _bce(fake_logits, target=0.0))


def generator_loss(loss: str, fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's adversarial loss: non-saturating cross-entropy, or minus the hinge's logit.

    :param loss: ``bce`` or ``hinge``.
    :param fake_logits: the discriminator's logits on generated frames.
    :return: the mean loss, a float32 scalar.
    :raises ValueError: an unknown ``loss``.
    """
    _check(loss)
    if loss == "hinge":
        return -fake_logits.float().mean()
    return _bce(fake_logits, target=1.0)


def _check(loss: str) -> None:
    if loss not in LOSSES:
        raise ValueError(f"unknown GAN loss {loss!r}; valid: {', '.join(LOSSES)}")


def _bce(logits: torch.Tensor, *, target: float) -> torch.Tensor:
    """Cross-entropy in float32 (the logits may come from a float16 autocast)."""
    return functional.binary_cross_entropy_with_logits(
        logits.float(), torch.full_like(logits, target, dtype=torch.float32)
    )
