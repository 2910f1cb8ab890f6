"""The loss terms of training, one small class each (after BasicSR's ``basicsr/losses/basic_loss.py``, without
its registry), and :class:`GeneratorLoss`, the weighted sum of the terms a configuration turns on.

Every generator term is called as ``term(fake, hr, lr)`` on batches of normalised maps: ``fake`` the
generator's output and ``hr`` the routine patch, both (N, 1, H, W), ``lr`` the fast patch (N, C, H/s, W/s:
channel 0 the map, any others the study's guide maps), all in [−1, 1] (background −1). A term returns its
unweighted value (a 0-d tensor); the log records it as ``loss_<name>``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional

from .config import LossConfig


def local_mean_loss(fake: torch.Tensor, real: torch.Tensor, size: int) -> torch.Tensor:
    """L1 between ``size``²-pixel local means: the noise of a mean over many voxels is nearly symmetric, so
    this term pulls regional means to routine's mean where pixel L1 pulls each voxel to a median."""
    return functional.l1_loss(functional.avg_pool2d(fake, size), functional.avg_pool2d(real, size))


def fast_consistency_loss(fake: torch.Tensor, lr: torch.Tensor, size: int) -> torch.Tensor:
    """L1 between ``size``²-pixel local means of the output and of the bicubic-upsampled fast input: the
    output may sharpen and denoise, but not move a region's mean away from what the fast scan measured
    (issue 16); ``lr``'s channel 0 is the map (others are guides). For a residual-over-bicubic generator this
    penalises the low-frequency part of its correction."""
    scale = fake.shape[-1] // lr.shape[-1]
    upsampled = functional.interpolate(lr[:, :1], scale_factor=scale, mode="bicubic", align_corners=False)
    return functional.l1_loss(functional.avg_pool2d(fake, size), functional.avg_pool2d(upsampled, size))


def gradient_loss(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """L1 between the horizontal and vertical finite differences of the output and of routine: a blurred edge
    (CSF smeared into a thin cortex) costs in proportion to its lost steepness, not only to its few voxels."""
    fake_dx, real_dx = fake.diff(dim=-1), real.diff(dim=-1)
    fake_dy, real_dy = fake.diff(dim=-2), real.diff(dim=-2)
    return functional.l1_loss(fake_dx, real_dx) + functional.l1_loss(fake_dy, real_dy)


def relative_loss(fake: torch.Tensor, real: torch.Tensor, floor: float) -> torch.Tensor:
    """L1 between the logarithms of the maps' fraction of their normalisation constant (+ ``floor``): a
    relative error. Brain tissue fills 3–5 % of T2's range (CSF the rest), so linear L1 weighs a 5 % error in
    cortex like a 0.2 % one in CSF; in the log domain both cost 0.05, as in the ±% the users read. ``floor``
    keeps the background (fraction 0) finite."""
    def log_fraction(maps: torch.Tensor) -> torch.Tensor:
        return torch.log(((maps + 1) / 2).clamp(min=0) + floor)
    return functional.l1_loss(log_fraction(fake), log_fraction(real))


def contrast_edges(real: torch.Tensor, ratio: float, window: int, floor: float, low_side: bool = False) -> torch.Tensor:
    """Where routine has a high-contrast edge within ``window``² pixels (bool, same shape): the local maximum is
    over ``ratio`` times the local minimum (CSF beside cortex or white matter in T1 / T2, a bright or dark lesion's
    border), the minimum above ``floor`` of the normalisation constant (the head's outline is not an edge of
    interest). Both sides of the edge are marked — a pixel of cortex within ``window // 2`` pixels of CSF and the CSF
    beside it — or, with ``low_side``, only pixels below the geometric mean of the local maximum and minimum."""
    fraction = (real + 1) / 2
    pad = window // 2
    high = functional.max_pool2d(fraction, window, stride=1, padding=pad)
    low = -functional.max_pool2d(-fraction, window, stride=1, padding=pad)
    edges = (low > floor) & (high > ratio * low)
    return edges & (fraction * fraction < high * low) if low_side else edges


def edge_loss(fake: torch.Tensor, real: torch.Tensor, ratio: float, window: int, floor: float,
              low_side: bool = False) -> torch.Tensor:
    """Mean L1 over the pixels beside routine's high-contrast edges (:func:`contrast_edges`); 0 for a batch
    without any. Pixel L1 averages over the whole patch, where the millimetre of cortex next to CSF is a few
    per cent of the pixels: after training, its error (CSF smeared into cortex, +5 % in T1 / T2) is what
    remains. This term gives those pixels as much weight as all the others together (at weight 1). On the
    bundled recipe it did not lower that error (docs/generalization.md, "Session 13"): off by default."""
    mask = contrast_edges(real, ratio, window, floor, low_side)
    count = mask.sum()
    if count == 0:
        return torch.zeros((), device=real.device)
    return (fake - real).abs().masked_select(mask).sum() / count


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's BCE: routine patches are real (1), generated ones fake (0); logged as ``loss_d``."""
    bce = nn.BCEWithLogitsLoss()
    return bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits))


class PixelL1(nn.Module):
    """Pixel L1 to routine (the paper's content term): pulls each voxel to the conditional median."""

    name = "l1"

    def forward(self, fake: torch.Tensor, hr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        return functional.l1_loss(fake.float(), hr)


class PixelMSE(nn.Module):
    """Pixel MSE to routine: its optimum is the conditional mean, L1's the median (biased for skewed noise)."""

    name = "l2"

    def forward(self, fake: torch.Tensor, hr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        return functional.mse_loss(fake.float(), hr)


class LocalMeanL1(nn.Module):
    """L1 between ``size``² local means of the output and of routine (:func:`local_mean_loss`)."""

    name = "local_mean"

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, fake: torch.Tensor, hr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        return local_mean_loss(fake.float(), hr, self.size)


class FastConsistency(nn.Module):
    """L1 between ``size``² local means of the output and of bicubic(fast) (:func:`fast_consistency_loss`)."""

    name = "fast_consistency"

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, fake: torch.Tensor, hr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        return fast_consistency_loss(fake.float(), lr, self.size)


class GradientL1(nn.Module):
    """L1 between the image gradients of the output and of routine (:func:`gradient_loss`)."""

    name = "gradient"

    def forward(self, fake: torch.Tensor, hr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        return gradient_loss(fake.float(), hr)


class RelativeL1(nn.Module):
    """L1 between the log of output and routine (:func:`relative_loss`): errors as fractions of the value."""

    name = "relative"

    def __init__(self, floor: float) -> None:
        super().__init__()
        self.floor = floor

    def forward(self, fake: torch.Tensor, hr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        return relative_loss(fake.float(), hr, self.floor)


class EdgeL1(nn.Module):
    """L1 over the pixels beside routine's high-contrast edges (:func:`edge_loss`)."""

    name = "edge"

    def __init__(self, ratio: float, window: int, floor: float, low_side: bool) -> None:
        super().__init__()
        self.ratio, self.window, self.floor, self.low_side = ratio, window, floor, low_side

    def forward(self, fake: torch.Tensor, hr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        return edge_loss(fake.float(), hr, self.ratio, self.window, self.floor, self.low_side)


class Adversarial(nn.Module):
    """BCE of the discriminator's verdict on the output against "real": the generator is rewarded for
    outputs the discriminator takes for routine patches. ``discriminator`` is called, not owned (it may be the
    DDP wrapper); it returns logits (N, 1)."""

    name = "adv"

    def __init__(self, discriminator: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.discriminator = discriminator

    def forward(self, fake: torch.Tensor, hr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        logits = self.discriminator(fake)
        return functional.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))


class VGGContent(nn.Module):
    """MSE between VGG-19 features of the output and of routine (the paper's VGG54 content loss)."""

    name = "vgg"

    def __init__(self, features: nn.Module) -> None:
        super().__init__()
        self.features = features

    def forward(self, fake: torch.Tensor, hr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        return functional.mse_loss(self.features(fake.float()), self.features(hr))


class GeneratorLoss:
    """The terms the configuration weights above zero, in a fixed order, and their weighted sum.

    The adversarial term is on only once the L1 warm-up is over (``adversarial`` in :meth:`__call__`); before,
    it is logged as 0. The VGG term needs a VGG network (``vgg``): without weights it is off."""

    def __init__(self, config: LossConfig, discriminator: Callable[[torch.Tensor], torch.Tensor],
                 vgg: nn.Module | None) -> None:
        candidates: list[tuple[float, nn.Module]] = [
            (config.l1, PixelL1()),
            (config.l2, PixelMSE()),
            (config.local_mean, LocalMeanL1(config.local_mean_size)),
            (config.fast_consistency, FastConsistency(config.fast_consistency_size)),
            (config.gradient, GradientL1()),
            (config.relative, RelativeL1(config.relative_floor)),
            (config.edge, EdgeL1(config.edge_ratio, config.edge_window, config.edge_floor, config.edge_low_side)),
            (config.adversarial, Adversarial(discriminator)),
        ]
        if vgg is not None:
            candidates.append((config.vgg, VGGContent(vgg)))
        self.terms = [(weight, term) for weight, term in candidates if weight > 0]
        self.has_adversarial = any(isinstance(term, Adversarial) for _, term in self.terms)

    @property
    def log_fields(self) -> tuple[str, ...]:
        """``loss_g``, then ``loss_<name>`` per term, then ``loss_d`` when there is a discriminator to train."""
        return ("loss_g", *(f"loss_{term.name}" for _, term in self.terms),
                *(("loss_d",) if self.has_adversarial else ()))

    def __call__(self, fake: torch.Tensor, hr: torch.Tensor, lr: torch.Tensor,
                 adversarial: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(weighted sum, unweighted value per log field) for one batch."""
        values: dict[str, torch.Tensor] = {}
        total = torch.zeros((), device=hr.device)
        for weight, term in self.terms:
            if isinstance(term, Adversarial) and not adversarial:
                value = torch.zeros((), device=hr.device)
            else:
                value = term(fake, hr, lr)
            values[f"loss_{term.name}"] = value
            total = total + weight * value
        return total, values
