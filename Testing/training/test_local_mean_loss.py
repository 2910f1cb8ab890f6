"""The local-mean loss the shipped models train with (``local_mean_loss``) against a hand-computed value."""

from __future__ import annotations

import pytest
import torch

from quantsr_training.losses import local_mean_loss


def test_local_mean_loss_by_hand() -> None:
    """4×4 images, 2×2 local means. fake = 1..16 row by row: block means (1+2+5+6)/4 = 3.5, 5.5, 11.5, 13.5.
    real = 1 everywhere except [[9, 0], [0, 9]] in the top-left block (mean 4.5): local means 4.5, 1, 1, 1.
    |3.5 − 4.5| + |5.5 − 1| + |11.5 − 1| + |13.5 − 1| = 1 + 4.5 + 10.5 + 12.5 = 28.5, over 4 means: 7.125.
    Pixel L1 gives another value: (8+2+5+3 + 2+3+6+7 + 8+9+12+13 + 10+11+14+15) / 16 = 128 / 16 = 8."""
    fake = torch.arange(1.0, 17.0).reshape(1, 1, 4, 4)
    real = torch.ones(1, 1, 4, 4)
    real[..., :2, :2] = torch.tensor([[9.0, 0.0], [0.0, 9.0]])
    assert local_mean_loss(fake, real, 2).item() == pytest.approx(7.125, abs=1e-6)
    assert torch.nn.functional.l1_loss(fake, real).item() == pytest.approx(8.0, abs=1e-6)


def test_local_mean_loss_ignores_zero_mean_detail() -> None:
    """Noise / texture that averages to zero within each window costs nothing; a shifted mean costs its shift."""
    real = torch.full((2, 1, 8, 8), 100.0)
    checker = (torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2 * 2.0 - 1.0  # ±1, mean 0 per 2×2
    assert local_mean_loss(real + 5 * checker, real, 2).item() == pytest.approx(0.0, abs=1e-6)
    assert local_mean_loss(real + 3.0, real, 4).item() == pytest.approx(3.0, abs=1e-6)
