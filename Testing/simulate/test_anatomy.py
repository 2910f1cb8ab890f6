"""Individual-looking anatomy (issue 16): the folded brain has CSF-filled sulci open to the surface, a cortical
ribbon lining them, the template's intracranial outline, and far more cortex next to CSF than the MNI average
brain — the property the bundled models failed on."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from quantsr.simulate.anatomy import FoldingParameters, folded_tissues
from quantsr.simulate.lesions import EVALUATION_KINDS, LESION_KINDS, draw_lesions
from quantsr.simulate.phantom import mni_tissues


@pytest.fixture(scope="module")
def template() -> np.ndarray:
    return np.moveaxis(sitk.GetArrayFromImage(mni_tissues()), -1, 0)  # (5, k, j, i)


@pytest.fixture(scope="module")
def folded(template) -> np.ndarray:
    return folded_tissues(template, FoldingParameters.random(np.random.default_rng(11)))


def _cortex_next_to_csf_share(tissues: np.ndarray) -> float:
    """Share of pure GM within 1 mm of mostly-CSF voxels (the issue measured ≈ 20 % on an individual brain,
    5 % on the MNI phantom)."""
    gm, csf = tissues[0] >= 0.9, tissues[2] >= 0.5
    near = ndimage.distance_transform_edt(~csf) <= 1.0
    return float((gm & near).sum() / gm.sum())


def test_folding_puts_csf_next_to_much_more_cortex(template, folded) -> None:
    mni, individual = _cortex_next_to_csf_share(template), _cortex_next_to_csf_share(folded)
    assert mni < 0.08
    assert 0.15 < individual < 0.6


def test_intracranial_outline_and_extracranial_shells_are_kept(template, folded) -> None:
    inside = np.clip(template[:3].sum(axis=0), 0, 1)
    np.testing.assert_allclose(folded[:3].sum(axis=0), inside, atol=1e-4)
    np.testing.assert_array_equal(folded[3:], template[3:])
    assert folded.min() >= 0 and folded[:3].sum(axis=0).max() <= 1 + 1e-4


def test_tissue_volumes_stay_brain_like(template, folded) -> None:
    gm, wm = ((folded[t] >= 0.5).sum() for t in (0, 1))
    assert 0.7 < gm / wm < 2.0  # adult GM / WM volume ratio ≈ 1.1–1.5
    assert (folded[2] >= 0.5).sum() > 1.3 * (template[2] >= 0.5).sum()  # sulcal CSF added


def test_sulci_open_to_the_surface(folded) -> None:
    csf = folded[2] >= 0.5
    outside = folded[:3].sum(axis=0) < 0.5
    labels, _ = ndimage.label(csf | outside)
    exterior = labels == labels[0, 0, 0]
    inner = csf & ~exterior  # enclosed CSF: the ventricles (and the template's own specks)
    sizes = np.bincount(labels[inner])
    specks = sizes[(sizes > 0) & (sizes < 500)].sum()
    assert specks < 0.002 * csf.sum(), "buried CSF islands"


def test_subjects_differ_and_each_is_reproducible(template) -> None:
    one = FoldingParameters.random(np.random.default_rng(1))
    two = FoldingParameters.random(np.random.default_rng(2))
    a, b = folded_tissues(template, one), folded_tissues(template, two)
    np.testing.assert_array_equal(a, folded_tissues(template, one))
    assert np.abs(a[0] - b[0]).mean() > 0.05


def test_evaluation_lesions_sit_where_their_family_says(folded) -> None:
    gm, wm, csf = folded[0], folded[1], folded[2]
    rng = np.random.default_rng(3)
    kinds = [EVALUATION_KINDS["juxtacortical"], EVALUATION_KINDS["periventricular"]]
    lesions = draw_lesions(rng, wm, lambda kji: np.asarray(kji, float), 12, kinds, gm_fraction=gm, csf_fraction=csf)
    to_gm = ndimage.distance_transform_edt(gm < 0.5)
    to_csf = ndimage.distance_transform_edt(csf < 0.5)
    for lesion in lesions:
        k, j, i = (int(v) for v in lesion.centre_mm)  # points_of is the identity here
        if lesion.location == "juxtacortical":
            assert to_gm[k, j, i] <= 3
        else:
            assert lesion.location == "periventricular" and to_csf[k, j, i] <= 4
        assert kinds[0].irregularity[0] <= lesion.irregularity <= kinds[1].irregularity[1]


def test_the_papers_kinds_draw_exactly_as_before() -> None:
    """Cohorts simulated before lesion places / outlines existed come out identical (same draws)."""
    wm = np.zeros((20, 40, 40), np.float32)
    wm[4:16, 8:32, 8:32] = 1
    lesions = draw_lesions(np.random.default_rng(5), wm, lambda kji: np.asarray(kji, float), 3,
                           list(LESION_KINDS.values()))
    assert [lesion.irregularity for lesion in lesions] == [0.12] * 3
    assert [lesion.location for lesion in lesions] == ["deep"] * 3
    # pinned from the code before issue 16 (same seed, same mask; checked draw for draw against it)
    assert [lesion.kind for lesion in lesions] == ["encephalomalacia", "infarct", "encephalomalacia"]
    assert lesions[0].t2_ms == pytest.approx(322.189528927039)
