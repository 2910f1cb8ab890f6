"""The edge-weighted L1 term (``edge_loss``, ``loss.edge``): which pixels it weighs and what it costs."""

from __future__ import annotations

import pytest
import torch

from quantsr.errors import InputError
from quantsr_training.config import LossConfig, TrainConfig, validate
from quantsr_training.losses import GeneratorLoss, contrast_edges, edge_loss


def normalised(fractions: torch.Tensor) -> torch.Tensor:
    """Fractions of the normalisation constant → the training scale ([−1, 1]), as an (1, 1, H, W) batch."""
    return (2 * fractions - 1)[None, None]


def cortex_beside_csf() -> torch.Tensor:
    """A T1-like 12 × 16 patch (constant 4500 ms): background in columns 0–1, white matter (800 ms) 2–5, cortex
    (1300 ms) 6–9, CSF (3500 ms) 10–15."""
    row = torch.tensor([0.0] * 2 + [800 / 4500] * 4 + [1300 / 4500] * 4 + [3500 / 4500] * 6)
    return normalised(row.repeat(12, 1))


def test_marks_both_sides_of_the_csf_edge_within_the_window_only() -> None:
    """CSF : cortex = 2.7 > 2 is an edge, cortex : white matter = 1.6 is not, and the head's outline (local minimum
    0) is not: with a 5-pixel window the marked columns are the two either side of the cortex / CSF boundary."""
    mask = contrast_edges(cortex_beside_csf(), ratio=2.0, window=5, floor=0.01)[0, 0]
    marked = torch.nonzero(mask.all(dim=0)).flatten().tolist()
    assert marked == [8, 9, 10, 11]
    assert not mask[:, :8].any() and not mask[:, 12:].any()


def test_cost_is_the_mean_error_over_the_marked_pixels() -> None:
    """CSF smeared 0.05 (of the range) into the first two cortex columns: pixel L1 sees it diluted by the whole
    patch (2 of 16 columns); the edge term as the mean over its 4 marked columns (half of them off)."""
    routine = cortex_beside_csf()
    smeared = routine.clone()
    smeared[..., 8:10] += 0.1  # +0.05 of the constant = +225 ms, on the training scale (× 2)
    assert torch.nn.functional.l1_loss(smeared, routine).item() == pytest.approx(0.1 * 2 / 16, abs=1e-6)
    assert edge_loss(smeared, routine, 2.0, 5, 0.01).item() == pytest.approx(0.1 * 2 / 4, abs=1e-6)
    assert edge_loss(routine, routine, 2.0, 5, 0.01).item() == 0.0


def test_a_patch_without_edges_costs_nothing() -> None:
    flat = normalised(torch.full((8, 8), 0.3))
    assert edge_loss(flat + 0.2, flat, 2.0, 5, 0.01).item() == 0.0


def test_generator_loss_weights_and_logs_the_edge_term() -> None:
    routine = cortex_beside_csf()
    smeared = routine.clone()
    smeared[..., 8:10] += 0.1
    lr = torch.zeros(1, 1, 6, 8)
    on = GeneratorLoss(LossConfig(l1=1.0, edge=0.5, adversarial=0.0, vgg=0.0), discriminator=lambda x: x, vgg=None)
    off = GeneratorLoss(LossConfig(l1=1.0, adversarial=0.0, vgg=0.0), discriminator=lambda x: x, vgg=None)
    assert "loss_edge" in on.log_fields and "loss_edge" not in off.log_fields
    total, values = on(smeared, routine, lr, adversarial=False)
    assert values["loss_edge"].item() == pytest.approx(0.05, abs=1e-6)
    assert total.item() == pytest.approx(0.0125 + 0.5 * 0.05, abs=1e-6)


def test_bad_edge_settings_are_refused() -> None:
    config = TrainConfig()
    config.loss.edge = -1.0
    config.loss.edge_ratio = 1.0
    config.loss.edge_window = 4
    config.loss.edge_floor = 1.0
    with pytest.raises(InputError) as error:
        validate(config)
    message = str(error.value)
    for expected in ("loss.edge must be ≥ 0", "loss.edge_ratio must be > 1", "loss.edge_window must be odd",
                     "loss.edge_floor must lie in [0, 1)"):
        assert expected in message


def test_low_side_marks_only_the_tissue_beside_csf() -> None:
    """``low_side``: of the four columns either side of the cortex / CSF boundary, only the two of cortex."""
    mask = contrast_edges(cortex_beside_csf(), ratio=2.0, window=5, floor=0.01, low_side=True)[0, 0]
    assert torch.nonzero(mask.all(dim=0)).flatten().tolist() == [8, 9]
    assert not mask[:, 10:].any()
