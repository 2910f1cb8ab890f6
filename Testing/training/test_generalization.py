"""The generalization protocol's measurements and acceptance bars (issue 16), on hand-made ROIs with known
answers, and its masks / image scores against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from skimage.metrics import structural_similarity

from quantsr_training.generalization import (
    Roi,
    agreement,
    cortex_next_to_csf,
    criteria,
    flag_sweep,
    lesion_summary,
    masked_psnr_ssim,
    sign_test_p,
    size_class,
    trust_sweep,
)


def lesion(name: str, dl: float, routine: float, truth: float, bicubic: float, consistency: float = 0.0,
           precision: float = 0.5) -> Roi:
    means = {"DL": dl, "routine": routine, "truth": truth, "bicubic": bicubic, "fast": bicubic}
    return Roi("s", "T2", "lesion", name, 100, means, "folded", "3.5–6 mm", "deep", consistency, precision)


def test_lesion_summary_errors_sign_and_bicubic_comparison() -> None:
    rois = [lesion("cyst", 95, 100, 100, 97), lesion("cyst", 90, 100, 100, 99), lesion("cyst", 103, 100, 100, 100)]
    (row,) = lesion_summary(rois, "name")
    assert row["n"] == 3 and row["negative"] == 2
    assert row["DL_vs_routine"] == pytest.approx((-5 - 10 + 3) / 3)
    assert row["worst_DL_vs_routine"] == pytest.approx(-10)
    assert row["bicubic_vs_truth"] == pytest.approx((-3 - 1 + 0) / 3)
    # DL no worse than bicubic + 1 pp: 5 vs 3+1 no, 10 vs 1+1 no, 3 vs 0+1 no
    assert row["DL_not_worse_than_bicubic"] == pytest.approx(0.0)
    assert row["sign_p"] == pytest.approx(stats.binomtest(2, 3).pvalue)


def test_sign_test_matches_scipy_and_ignores_ties() -> None:
    assert sign_test_p([-1, -2, -3, -4, -5, -6, -7, 1]) == pytest.approx(0.0703125)
    assert sign_test_p([0.0, 0.0]) == 1.0


def test_agreement_slope_over_every_roi_and_the_half_gap_rule() -> None:
    routine = np.array([800.0, 900.0, 1200.0, 1300.0, 1500.0])
    rois = []
    for i, value in enumerate(routine):
        means = {"routine": value, "DL": 0.99 * value + 5, "fast": 0.9 * value + 100, "bicubic": 0.9 * value + 100,
                 "truth": value}
        rois.append(Roi("s", "T1", "tissue" if i < 3 else "region", f"r{i}", 10, means))
    (row,) = agreement(rois)
    assert row["slope_all"] == pytest.approx(0.99) and row["r2_all"] == pytest.approx(1.0)
    assert row["slope_means_fast"] == pytest.approx(0.9)
    assert row["closes_half_gap"]  # |0.99 − 1| ≤ |0.9 − 1| / 2


def test_trust_sweep_sensitivity_and_false_flags() -> None:
    rois = [lesion("a", 90, 100, 100, 100, consistency=-6), lesion("b", 94, 100, 100, 100, consistency=-1),
            lesion("c", 99, 100, 100, 100, consistency=3), lesion("d", 100, 100, 100, 100, consistency=0.2)]
    by_threshold = {row["threshold_pct"]: row for row in trust_sweep(rois, thresholds=(0.5, 2.0, 5.0))}
    assert by_threshold[0.5]["bad"] == 2  # a (−10 %) and b (−6 %)
    assert by_threshold[0.5]["sensitivity"] == 1.0 and by_threshold[0.5]["false_flag_rate"] == 0.5
    assert by_threshold[2.0]["sensitivity"] == 0.5 and by_threshold[2.0]["false_flag_rate"] == 0.5
    assert by_threshold[5.0]["sensitivity"] == 0.5 and by_threshold[5.0]["false_flag_rate"] == 0.0


def test_flag_sweep_counts_every_reason_and_the_bar_reads_the_default_row() -> None:
    rois = [lesion("a", 90, 100, 100, 100, consistency=-6, precision=0.4),  # bad, inconsistent
            lesion("b", 94, 100, 100, 100, consistency=-1, precision=2.2),  # bad, imprecise above 2 %
            lesion("c", 99, 100, 100, 100, consistency=0.5, precision=1.6),  # fine, imprecise above 1.5 %
            lesion("d", 100, 100, 100, 100, consistency=0.2, precision=0.3),
            lesion("e", 93, 100, 100, 100, consistency=0.1, precision=0.5)]  # bad, small: 8 samples
    rois[-1].samples = 8.0
    sweep = {(row["precision_threshold_pct"], row["min_samples"]): row
             for row in flag_sweep(rois, (1.5, 2.0, 3.0), (0.0, 10.0), 3.0)}
    assert sweep[1.5, 0.0]["caught"] == 2 and sweep[1.5, 0.0]["false_flag_rate"] == 0.5
    assert sweep[2.0, 0.0]["caught"] == 2 and sweep[2.0, 0.0]["false_flag_rate"] == 0.0
    assert sweep[2.0, 10.0]["caught"] == 3 and sweep[2.0, 10.0]["sensitivity"] == 1.0
    assert sweep[3.0, 0.0]["caught"] == 1 and sweep[3.0, 0.0]["sensitivity"] == pytest.approx(1 / 3)
    (bar,) = criteria({"tissues": [], "images": [], "kinds": [], "sizes": [], "lesions_overall": [],
                       "agreement": [], "flag": sweep[3.0, 0.0]})
    assert not bar["passed"] and bar["value"] == "1 / 3, false flags 0.0 %"


def test_criteria_report_failures_with_values() -> None:
    summary = {"tissues": [{"map": "T1", "anatomy": "folded", "tissue": "GM", "DL_vs_routine": 1.5}],
               "images": [], "kinds": [], "sizes": [], "lesions_overall": [], "agreement": []}
    (row,) = criteria(summary)
    assert not row["passed"] and row["value"] == "+1.50 %"


def test_cortex_next_to_csf_is_pure_gm_within_one_mm_in_plane() -> None:
    gm = np.zeros((2, 20, 20), np.float32)
    csf = np.zeros_like(gm)
    csf[0, :, :5] = 1
    gm[:, :, 5:] = 1
    mask = cortex_next_to_csf(gm, csf, spacing_xy=0.5)  # 1 mm = 2 pixels
    assert mask[0, :, 5:7].all() and not mask[0, :, 7:].any()
    assert not mask[1].any()  # no CSF in that slice


def test_masked_scores_equal_skimage_on_a_full_mask() -> None:
    rng = np.random.default_rng(0)
    reference = rng.uniform(0, 100, (2, 32, 32))
    test = reference + rng.normal(0, 2, reference.shape)
    psnr, ssim = masked_psnr_ssim(test, reference, np.ones(reference.shape, bool), 200.0)
    assert psnr == pytest.approx(10 * np.log10(200.0**2 / np.mean((test - reference) ** 2)))
    # the SSIM map's mean over the whole slice (skimage's scalar crops a border the mask does not)
    expected = np.mean([structural_similarity(reference[k], test[k], data_range=200.0, gaussian_weights=True,
                                              sigma=1.5, use_sample_covariance=False, full=True)[1].mean()
                        for k in range(2)])
    assert ssim == pytest.approx(expected)


def test_size_classes() -> None:
    assert size_class("2.0 2.5 3.0") == "r ≤ 3.5 mm"
    assert size_class("12.0 14.0 16.0") == "> 10 mm"
