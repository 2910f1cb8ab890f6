"""The fast-consistency loss term (issue 16): coarse local means of the output must match those of the
bicubic-upsampled fast input — zero for a pure bicubic output, the mean offset for a shifted one."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional

from quantsr.errors import InputError
from quantsr.model import Generator, GeneratorConfig
from quantsr_training.config import TrainConfig, validate
from quantsr_training.losses import fast_consistency_loss


def test_bicubic_output_is_consistent_and_an_offset_is_not() -> None:
    lr = torch.rand(2, 1, 8, 8) * 2 - 1
    bicubic = functional.interpolate(lr, scale_factor=2, mode="bicubic", align_corners=False)
    assert float(fast_consistency_loss(bicubic, lr, 4)) == pytest.approx(0.0, abs=1e-7)
    assert float(fast_consistency_loss(bicubic + 0.05, lr, 4)) == pytest.approx(0.05, abs=1e-6)


def test_zero_mean_detail_inside_a_window_costs_nothing() -> None:
    """Sharpening that keeps each window's mean (a ±d checkerboard) is free; the pixel terms judge it."""
    lr = torch.zeros(1, 1, 4, 4)
    checker = (torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2 * 2 - 1
    fake = 0.1 * checker.float()[None, None]
    assert float(fast_consistency_loss(fake, lr, 4)) == pytest.approx(0.0, abs=1e-7)


def test_a_residual_generator_at_initialisation_is_penalised_only_for_its_correction_mean() -> None:
    torch.manual_seed(0)
    generator = Generator(GeneratorConfig(channels=4, residual_blocks=1, residual="bicubic")).eval()
    lr = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        fake = generator(lr)
        correction = fake - functional.interpolate(lr, scale_factor=2, mode="bicubic", align_corners=False)
    expected = functional.avg_pool2d(correction, 8).abs().mean()
    assert float(fast_consistency_loss(fake, lr, 8)) == pytest.approx(float(expected), rel=1e-5)


def test_settings_are_validated() -> None:
    config = TrainConfig()
    config.set("loss.fast_consistency", -1)
    config.set("loss.fast_consistency_size", 0)
    with pytest.raises(InputError, match="fast_consistency must be ≥ 0.*|fast_consistency_size must be ≥ 1"):
        validate(config)
