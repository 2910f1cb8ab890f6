"""The image-gradient loss (``gradient_loss``, ``loss.gradient``) against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from quantsr_training.config import LossConfig
from quantsr_training.losses import GeneratorLoss, gradient_loss


def test_gradient_loss_by_hand() -> None:
    """A step edge 0 → 4 between columns 1 and 2 of a 4×4 image, against the same edge blurred to 0, 2, 2, 4.
    Horizontal differences per row: sharp (0, 4, 0), blurred (2, 0, 2) → |−2| + |4| + |−2| = 8 per row, 32 over
    the 12 differences = 8 / 3. Vertical differences are all 0 in both: 0. Pixel L1 sees only the two blurred
    columns: (2 + 2) · 4 / 16 = 1."""
    sharp = torch.tensor([0.0, 0.0, 4.0, 4.0]).repeat(4, 1).reshape(1, 1, 4, 4)
    blurred = torch.tensor([0.0, 2.0, 2.0, 4.0]).repeat(4, 1).reshape(1, 1, 4, 4)
    assert gradient_loss(blurred, sharp).item() == pytest.approx(8 / 3, abs=1e-6)
    assert torch.nn.functional.l1_loss(blurred, sharp).item() == pytest.approx(1.0, abs=1e-6)


def test_gradient_loss_ignores_an_offset_and_counts_both_directions() -> None:
    """A constant offset has the same gradients (cost 0); the transposed blur costs the same vertically."""
    image = torch.rand(2, 1, 8, 8)
    assert gradient_loss(image + 3.0, image).item() == pytest.approx(0.0, abs=1e-6)
    assert gradient_loss(image.transpose(-1, -2), image.transpose(-1, -2)).item() == pytest.approx(0.0, abs=1e-7)
    sharp = torch.tensor([0.0, 0.0, 4.0, 4.0]).repeat(4, 1).reshape(1, 1, 4, 4)
    blurred = torch.tensor([0.0, 2.0, 2.0, 4.0]).repeat(4, 1).reshape(1, 1, 4, 4)
    assert gradient_loss(blurred.transpose(-1, -2), sharp.transpose(-1, -2)).item() == pytest.approx(8 / 3, abs=1e-6)


def test_generator_loss_weights_and_logs_the_gradient_term() -> None:
    """``loss.gradient`` > 0 adds the term (logged as loss_gradient) with its weight; 0 leaves it out."""
    sharp = torch.tensor([0.0, 0.0, 4.0, 4.0]).repeat(4, 1).reshape(1, 1, 4, 4)
    blurred = torch.tensor([0.0, 2.0, 2.0, 4.0]).repeat(4, 1).reshape(1, 1, 4, 4)
    lr = torch.zeros(1, 1, 2, 2)
    off = GeneratorLoss(LossConfig(l1=1.0, adversarial=0.0, vgg=0.0), discriminator=lambda x: x, vgg=None)
    on = GeneratorLoss(LossConfig(l1=1.0, gradient=0.5, adversarial=0.0, vgg=0.0), discriminator=lambda x: x,
                       vgg=None)
    assert "loss_gradient" not in off.log_fields and "loss_gradient" in on.log_fields
    total, values = on(blurred, sharp, lr, adversarial=False)
    assert values["loss_gradient"].item() == pytest.approx(8 / 3, abs=1e-6)
    assert total.item() == pytest.approx(1.0 + 0.5 * 8 / 3, abs=1e-6)
