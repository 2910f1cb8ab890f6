"""Evaluation numbers on constructed cases equal hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from quantsr.quality import image_scores
from quantsr_training.evaluate import markdown_table, summarise


def test_psnr_on_the_stored_scale_with_the_papers_data_range() -> None:
    reference = np.zeros((2, 32, 32))
    reference[:, 8:24, 8:24] = 800.0  # a "head" of 16×16 voxels per slice at 800 ms
    test = reference.copy()
    test[reference > 0] += 10.0  # +10 ms inside the head → +100 on the stored scale
    scores = image_scores(test, reference, norm_physical=4500.0)
    mse_whole = (100.0**2) * (16 * 16) / (32 * 32)
    assert scores.psnr == pytest.approx(10 * np.log10(65535.0**2 / mse_whole), abs=1e-6)
    assert scores.psnr_head == pytest.approx(20 * np.log10(45000.0 / 100.0), abs=1e-6)
    perfect = image_scores(reference, reference, 4500.0)
    assert perfect.ssim == pytest.approx(1.0) and perfect.ssim_head == pytest.approx(1.0)
    assert scores.ssim < 1.0


def test_summary_averages_subjects_and_renders_a_table() -> None:
    per_subject = [
        {"map": "T2", "methods": {"bicubic": {"psnr": 30.0, "ssim": 0.8}, "DL": {"psnr": 34.0, "ssim": 0.9}}},
        {"map": "T2", "methods": {"bicubic": {"psnr": 32.0, "ssim": 0.84}, "DL": {"psnr": 36.0, "ssim": 0.92}}},
    ]
    summary = summarise(per_subject)
    assert [(r["method"], r["psnr"], r["subjects"]) for r in summary] == [("bicubic", 31.0, 2), ("DL", 35.0, 2)]
    assert summary[1]["ssim"] == pytest.approx(0.91)
    table = markdown_table(summary)
    assert "| T2 | DL | 2 | 35.00 | 0.9100 |" in table
