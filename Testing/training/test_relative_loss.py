"""The relative (log-domain) loss (``relative_loss``, ``loss.relative``) against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from quantsr.errors import InputError
from quantsr_training.config import LossConfig, TrainConfig, validate
from quantsr_training.losses import GeneratorLoss, relative_loss


def normalised(fraction: float) -> torch.Tensor:
    """A 4×4 patch at ``fraction`` of the normalisation constant, on the training scale ([−1, 1])."""
    return torch.full((1, 1, 4, 4), 2 * fraction - 1)


def test_equal_relative_errors_cost_the_same_in_tissue_and_in_csf() -> None:
    """T2 (constant 2200 ms): cortex 88 → 92.4 ms and CSF 1980 → 2079 ms are both +5 %. Linear L1 charges the
    CSF error 22.5 times more; the relative loss nearly the same (the 1 % floor weighs only against the
    low value): log((0.042 + 0.01) / (0.04 + 0.01)) against log((0.945 + 0.01) / (0.9 + 0.01))."""
    cortex, cortex_off = normalised(0.04), normalised(0.042)
    csf, csf_off = normalised(0.9), normalised(0.945)
    linear_ratio = (torch.nn.functional.l1_loss(csf_off, csf) / torch.nn.functional.l1_loss(cortex_off, cortex))
    assert linear_ratio.item() == pytest.approx(22.5, rel=1e-4)
    assert relative_loss(cortex_off, cortex, 0.01).item() == pytest.approx(math.log(0.052 / 0.05), abs=1e-6)
    assert relative_loss(csf_off, csf, 0.01).item() == pytest.approx(math.log(0.955 / 0.91), abs=1e-6)


def test_background_is_finite_and_below_it_counts_as_background() -> None:
    """The background (−1, fraction 0) and values the network pushes below it read as the floor: cost 0."""
    background = torch.full((1, 1, 4, 4), -1.0)
    assert relative_loss(background - 0.3, background, 0.01).item() == pytest.approx(0.0, abs=1e-7)
    assert relative_loss(normalised(0.01), background, 0.01).item() == pytest.approx(math.log(2), abs=1e-6)


def test_generator_loss_weights_and_logs_the_relative_term() -> None:
    """``loss.relative`` > 0 adds the term (logged as loss_relative) with its weight; 0 leaves it out."""
    lr = torch.zeros(1, 1, 2, 2)
    off = GeneratorLoss(LossConfig(l1=1.0, adversarial=0.0, vgg=0.0), discriminator=lambda x: x, vgg=None)
    on = GeneratorLoss(LossConfig(l1=1.0, relative=0.5, adversarial=0.0, vgg=0.0), discriminator=lambda x: x,
                       vgg=None)
    assert "loss_relative" not in off.log_fields and "loss_relative" in on.log_fields
    total, values = on(normalised(0.042), normalised(0.04), lr, adversarial=False)
    expected = math.log(0.052 / 0.05)
    assert values["loss_relative"].item() == pytest.approx(expected, abs=1e-6)
    assert total.item() == pytest.approx(0.004 + 0.5 * expected, abs=1e-6)


def test_a_floor_of_zero_or_a_negative_weight_is_refused() -> None:
    config = TrainConfig()
    config.loss.relative_floor = 0.0
    config.loss.relative = -1.0
    with pytest.raises(InputError, match="relative_floor must be > 0") as error:
        validate(config)
    assert "loss.relative must be ≥ 0" in str(error.value)
