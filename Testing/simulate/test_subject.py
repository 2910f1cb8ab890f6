"""A simulated patient: realistic tissue values, lesions inside the brain, and routine maps closer to the
truth than bicubic-upsampled fast maps (the gap super-resolution exists to close)."""

from __future__ import annotations

import numpy as np
import pytest

from quantsr.baselines import upsample
from quantsr.mapkinds import QUANT_KINDS, MapKind
from quantsr.simulate.lesions import LESION_KINDS


def test_grids_share_the_field_of_view(patient) -> None:
    fast, routine = patient.maps["fast"][MapKind.T1], patient.maps["routine"][MapKind.T1]
    assert fast.shape == (24, 256, 256) and routine.shape == (24, 512, 512)
    first_edge = np.asarray(fast.origin[:2]) - np.asarray(fast.spacing[:2]) / 2
    np.testing.assert_allclose(first_edge, np.asarray(routine.origin[:2]) - np.asarray(routine.spacing[:2]) / 2)
    np.testing.assert_allclose(first_edge, (-110, -110))
    assert upsample(fast, 2, "bicubic").same_geometry(routine)
    assert patient.truth[MapKind.T1].same_geometry(routine) and patient.labels.same_geometry(routine)


def test_tissue_values_match_truth_and_the_papers_routine_means(patient) -> None:
    healthy = patient.labels.array == 0
    wm = (patient.fractions["WM"].array > 0.95) & healthy
    gm = (patient.fractions["GM"].array > 0.9) & healthy
    routine = patient.maps["routine"]
    # Table 1 routine means and between-subject SDs (GM, WM)
    paper = {MapKind.T1: (1232.65, 34.98, 837.86, 35.88), MapKind.T2: (93.33, 3.5, 79.92, 2.05),
             MapKind.PD: (80.11, 1.23, 68.21, 1.29)}
    for kind, (gm_mean, gm_sd, wm_mean, wm_sd) in paper.items():
        truth = patient.truth[kind].array
        for mask in (wm, gm):
            assert np.median(routine[kind].array[mask]) == pytest.approx(np.median(truth[mask]), rel=0.03), kind
        assert abs(np.median(truth[wm]) - wm_mean) < 3 * wm_sd + 0.03 * wm_mean, kind
        # strict GM voxels sit next to CSF in the MNI template: partial volume raises T1 / T2
        assert abs(np.median(truth[gm]) - gm_mean) < 3 * gm_sd + 0.12 * gm_mean, kind


def test_lesions_lie_in_the_brain_with_values_of_their_kind(patient) -> None:
    labels = patient.labels.array
    brain = sum(patient.fractions[t].array for t in ("GM", "WM", "CSF"))
    assert len(patient.lesions) == 3
    for lesion in patient.lesions:
        inside = labels == lesion.label
        assert inside.sum() > 20, f"lesion {lesion.label} too small to measure"
        assert (brain[inside] > 0.5).all()
        kind = LESION_KINDS[lesion.kind]
        assert kind.t1_ms[0] <= lesion.t1_ms <= kind.t1_ms[1]
        core = inside & (patient.truth[MapKind.T2].array > 0)
        truth_t2 = np.median(patient.truth[MapKind.T2].array[core])
        assert truth_t2 == pytest.approx(lesion.t2_ms, rel=0.15)


def test_routine_is_closer_to_truth_than_bicubic_fast(patient) -> None:
    brain = (patient.fractions["GM"].array + patient.fractions["WM"].array) > 0.5
    for kind in QUANT_KINDS:
        truth = patient.truth[kind].array
        routine = patient.maps["routine"][kind].array
        bicubic = upsample(patient.maps["fast"][kind], 2, "bicubic").array
        rmse_routine = np.sqrt(np.mean((routine[brain] - truth[brain]) ** 2))
        rmse_bicubic = np.sqrt(np.mean((bicubic[brain] - truth[brain]) ** 2))
        assert rmse_routine < 0.95 * rmse_bicubic, f"{kind.value}: {rmse_routine:.2f} vs {rmse_bicubic:.2f}"


def test_same_seed_same_subject() -> None:
    from quantsr.simulate.subject import SimulationConfig, simulate_subject

    config = SimulationConfig(object_matrix=320)
    a = simulate_subject("a", 3, 1, config)
    b = simulate_subject("b", 3, 1, config)
    np.testing.assert_array_equal(a.maps["fast"][MapKind.T2].array, b.maps["fast"][MapKind.T2].array)
    assert a.lesions == b.lesions
