"""Tissue fractions and labels from the quantitative maps: exact on known mixtures, strict on geometry, and
Dice ≥ 0.8 per tissue against a simulated phantom's truth."""

from __future__ import annotations

import numpy as np
import pytest

from quantsr.errors import InputError
from quantsr.mapkinds import MapKind
from quantsr.segment import (
    TISSUE_LABELS,
    TISSUES,
    TissueModel,
    classify_tissues,
    dice,
    tissue_fractions,
    tissue_masks,
)
from quantsr.tissues import TissueValues
from quantsr.volume import QuantMap


def mixture_maps(fractions: np.ndarray, model: TissueModel) -> tuple[QuantMap, QuantMap, QuantMap]:
    """T1/T2/PD of voxels made of ``fractions`` (3, ...) of CSF/GM/WM, mixed as the simulator mixes them:
    PD sums, the proton-weighted relaxation rates sum."""
    pure = [model.values[t] for t in TISSUES]
    pd = sum(f * v.pd_pct for f, v in zip(fractions, pure, strict=True))
    r1 = sum(f * v.pd_pct / v.t1_ms for f, v in zip(fractions, pure, strict=True)) / pd
    r2 = sum(f * v.pd_pct / v.t2_ms for f, v in zip(fractions, pure, strict=True)) / pd
    geometry = dict(origin=(-10.0, 5.0, 2.0), spacing=(0.43, 0.43, 5.0))
    return (QuantMap(1 / r1, kind=MapKind.T1, **geometry), QuantMap(1 / r2, kind=MapKind.T2, **geometry),
            QuantMap(pd, kind=MapKind.PD, **geometry))


def random_mixtures(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    fractions = rng.dirichlet((1.0, 1.0, 1.0), size=shape)
    return np.moveaxis(fractions, -1, 0)


def test_known_mixtures_give_back_their_fractions() -> None:
    model = TissueModel()
    truth = random_mixtures(np.random.default_rng(0), (2, 6, 6))
    truth[:, 0, 0, 0] = (0.0, 0.0, 1.0)  # pure WM
    truth[:, 0, 0, 1] = (0.0, 0.7, 0.3)  # a GM/WM boundary voxel
    truth[:, 0, 0, 2] = (0.25, 0.75, 0.0)  # cortex next to a sulcus
    t1, t2, pd = mixture_maps(truth, model)
    fractions = tissue_fractions(t1, t2, pd, model)
    for n, tissue in enumerate(TISSUES):
        np.testing.assert_allclose(fractions[tissue].array, truth[n], atol=1e-4)
        assert fractions[tissue].same_geometry(t1)
    assert fractions["GM"].array[0, 0, 1] == pytest.approx(0.7, abs=1e-4)
    labels = classify_tissues(t1, t2, pd, model)
    np.testing.assert_array_equal(labels.array, truth.argmax(axis=0) + 1)
    assert labels.array[0, 0, 0] == 3 and TISSUE_LABELS[3] == "WM"


def test_values_outside_the_mixture_model_are_background() -> None:
    model = TissueModel()
    truth = np.zeros((3, 1, 4, 4))
    truth[2] = 1.0  # a block of WM ...
    t1, t2, pd = mixture_maps(truth, model)
    pd.array[0, 0, 0] = 1.0  # ... with air,
    t1.array[0, 0, 3], t2.array[0, 0, 3], pd.array[0, 0, 3] = 380.0, 110.0, 95.0  # scalp fat,
    t1.array[0, 3, 3] = np.nan  # and a failed fit
    fractions = tissue_fractions(t1, t2, pd, model)
    total = sum(f.array for f in fractions.values())
    assert total[0, 0, 0] == 0 and total[0, 0, 3] == 0 and total[0, 3, 3] == 0
    assert fractions["WM"].array[0, 1, 1] == pytest.approx(1.0, abs=1e-5)


def test_model_is_estimated_from_the_maps() -> None:
    subject = TissueModel({"CSF": TissueValues(4000.0, 1100.0, 99.0), "GM": TissueValues(1300.0, 95.0, 81.5),
                           "WM": TissueValues(800.0, 77.0, 66.5)})
    rng = np.random.default_rng(1)
    truth = random_mixtures(rng, (2, 40, 40))
    truth[:, :, :10] = np.array([0.0, 0.0, 1.0])[:, None, None, None]  # some pure tissue of each kind
    truth[:, :, 10:20] = np.array([0.0, 1.0, 0.0])[:, None, None, None]
    truth[:, :, 20:23] = np.array([1.0, 0.0, 0.0])[:, None, None, None]
    t1, t2, pd = mixture_maps(truth, subject)
    estimated = TissueModel.from_maps(t1, t2, pd)  # starts from the literature values
    for tissue in TISSUES:
        assert estimated.values[tissue].t1_ms == pytest.approx(subject.values[tissue].t1_ms, rel=0.01)
        assert estimated.values[tissue].pd_pct == pytest.approx(subject.values[tissue].pd_pct, rel=0.01)
    labels = classify_tissues(t1, t2, pd)
    assert dice(labels.array == 2, truth.argmax(axis=0) == 1) > 0.99


def test_maps_on_different_grids_are_refused() -> None:
    t1, t2, pd = mixture_maps(np.ones((3, 1, 4, 4)) / 3, TissueModel())
    shifted = pd.with_array(pd.array, origin=(0.0, 0.0, 0.0))
    with pytest.raises(InputError, match="different grids"):
        tissue_fractions(t1, t2, shifted)
    with pytest.raises(InputError, match="different grids"):
        classify_tissues(t1, QuantMap(np.ones((1, 5, 4)), kind=MapKind.T2), pd)
    with pytest.raises(InputError, match="expected a T1 map"):
        tissue_fractions(pd, t2, pd)


def test_pure_tissue_masks_and_dice() -> None:
    grid = QuantMap(np.zeros((1, 2, 2)))
    fractions = {"CSF": grid.with_array(np.array([[[0.95, 0.0], [0.1, 0.0]]])),
                 "GM": grid.with_array(np.array([[[0.05, 0.85], [0.9, 0.3]]])),
                 "WM": grid.with_array(np.array([[[0.0, 0.15], [0.0, 0.7]]]))}
    masks = tissue_masks(fractions)
    np.testing.assert_array_equal(masks["CSF"][0], [[True, False], [False, False]])
    np.testing.assert_array_equal(masks["GM"][0], [[False, True], [True, False]])
    assert not masks["WM"].any()
    assert tissue_masks(fractions, {"WM": 0.7})["WM"][0, 1, 1]
    with pytest.raises(InputError, match="no fraction map for WM"):
        tissue_masks({"CSF": fractions["CSF"], "GM": fractions["GM"]})
    a, b = np.array([1, 1, 0, 0], bool), np.array([1, 0, 1, 0], bool)
    assert dice(a, b) == pytest.approx(0.5) and dice(a, a) == 1.0 and dice(~a & a, ~a & a) == 1.0
    with pytest.raises(InputError):
        dice(a, b[:3])


@pytest.fixture(scope="module")
def phantom():
    """One small simulated patient, routine protocol only (the fast one is not needed here)."""
    from quantsr.protocols import ROUTINE
    from quantsr.simulate.subject import SimulationConfig, simulate_subject

    config = SimulationConfig(object_matrix=320, protocols=(ROUTINE,))  # coarser object grid: ~2× faster
    return simulate_subject("seg", seed=11, n_lesions=1, config=config)


def test_routine_maps_segment_with_dice_above_0_8(phantom) -> None:
    maps = phantom.maps["routine"]
    labels = classify_tissues(maps[MapKind.T1], maps[MapKind.T2], maps[MapKind.PD])
    assert labels.same_geometry(maps[MapKind.T1])
    truth_fractions = np.stack([phantom.fractions[t].array for t in TISSUES])
    truth = np.where(truth_fractions.sum(axis=0) > 0.5, truth_fractions.argmax(axis=0) + 1, 0)
    healthy = phantom.labels.array == 0
    scores = {}
    for label, tissue in TISSUE_LABELS.items():
        scores[tissue] = dice((labels.array == label) & healthy, (truth == label) & healthy)
    print("Dice (routine, lesions excluded):", scores)
    assert min(scores.values()) >= 0.8, scores
    assert dice(labels.array > 0, truth > 0) > 0.97  # the brain outline: scalp and skull left out
