"""Tissue partial-volume fractions and labels (CSF / GM / WM) from the quantitative maps themselves.

Synthetic MRI can segment without a contrast-weighted image (SyMRI's partial-volume look-up, West et al.
2012): a voxel holding fractions f_t of pure tissues t has, to first order,

    PD = Σ f_t·PD_t,   PD·R1 = Σ f_t·PD_t·R1_t,   PD·R2 = Σ f_t·PD_t·R2_t     (R = 1/T),

i.e. the measured proton density and the proton-weighted relaxation *rates* are linear in the fractions
(this is also how ``quantsr.simulate.subject`` mixes tissues). Per voxel that is a 3×3 non-negative least-
squares problem, solved here for all voxels at once. The pure-tissue values are estimated from the subject
(they vary between people) starting from literature values. Voxels the model cannot explain (background,
bone, scalp fat) or that lie outside the brain's connected region get no tissue."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from .errors import InputError
from .mapkinds import MapKind
from .tissues import PAPER_ROUTINE_MEAN, TissueValues
from .volume import QuantMap

TISSUE_LABELS: dict[int, str] = {1: "CSF", 2: "GM", 3: "WM"}
TISSUES: tuple[str, ...] = tuple(TISSUE_LABELS.values())

#: Below this PD (%) a voxel is air or bone, not brain.
BACKGROUND_PD = 5.0
#: A voxel whose (scaled) residual exceeds this share of its signal is not a CSF/GM/WM mixture (fat, bone).
MAX_RESIDUAL = 0.1
#: Brain voxels hold close to one voxel's worth of tissue; far outside this is partial bone/air or fat.
TOTAL_RANGE = (0.6, 1.4)
#: Fraction a voxel needs to count as pure tissue when measuring tissue values (see :func:`tissue_masks`):
#: GM is rarely pure in 5 mm slices (cortex is thinner), so it gets a lower bar than WM and CSF.
#: Fraction above which a voxel's values estimate pure CSF (:meth:`TissueModel.from_maps`).
ESTIMATION_FRACTION = 0.9
#: In-plane radius (voxels) of the erosion that keeps estimation voxels away from tissue borders.
CORE_RADIUS = 2
PURE_FRACTION: dict[str, float] = {"CSF": 0.9, "GM": 0.8, "WM": 0.9}


def _defaults() -> dict[str, TissueValues]:
    # GM / WM: routine means of Liu et al. 2026 Table 1 (3T MDME); CSF: synthetic-MRI literature at 3T
    # (T1 ≈ 4000–4500 ms, T2 ≥ 1500 ms — fitted T2 of CSF from 2 short echoes runs lower — PD 100 %).
    return {"CSF": TissueValues(4200.0, 1300.0, 100.0), "GM": PAPER_ROUTINE_MEAN["GM"], "WM": PAPER_ROUTINE_MEAN["WM"]}


@dataclass(frozen=True)
class TissueModel:
    """Reference (T1 ms, T2 ms, PD %) of each pure tissue, keyed CSF / GM / WM."""

    values: dict[str, TissueValues] = field(default_factory=_defaults)

    def mixing_matrix(self) -> np.ndarray:
        """3 equations (PD, PD·R1, PD·R2) × 3 tissues (CSF, GM, WM)."""
        return np.stack([self.values[t].signature() for t in TISSUES], axis=1)

    @classmethod
    def from_maps(cls, t1: QuantMap, t2: QuantMap, pd: QuantMap, start: "TissueModel | None" = None,
                  iterations: int = 1) -> "TissueModel":
        """Subject-specific pure-tissue values: alternate unmixing and re-estimation from near-pure voxels,
        starting from ``start`` (literature defaults). Falls back to the start value of a tissue with too
        few near-pure voxels to measure."""
        model = start or cls()
        arrays = _checked_arrays(t1, t2, pd)
        for _ in range(iterations):
            model = _refine(model, *arrays)
        return model


def tissue_fractions(t1: QuantMap, t2: QuantMap, pd: QuantMap,
                     model: TissueModel | None = None) -> dict[str, QuantMap]:
    """Partial-volume fractions (0–1) of CSF, GM and WM per voxel, on the maps' grid; 0 outside the brain.
    Without ``model`` the pure-tissue values are estimated from these maps (:meth:`TissueModel.from_maps`)."""
    arrays = _checked_arrays(t1, t2, pd)
    if model is None:
        model = TissueModel.from_maps(t1, t2, pd)
    fractions, residual, head = _unmix(model, *arrays)
    brain = _brain_region(fractions, residual, head)
    fractions = np.where(brain, np.clip(fractions, 0.0, 1.0), 0.0).astype(np.float32)
    meta = {"tissue_model": {t: vars(v) for t, v in model.values.items()}}
    return {t: t1.with_array(fractions[n], kind=MapKind.UNKNOWN, metadata=dict(meta, tissue=t))
            for n, t in enumerate(TISSUES)}


def classify_tissues(t1: QuantMap, t2: QuantMap, pd: QuantMap, model: TissueModel | None = None) -> QuantMap:
    """Labels 0 background, 1 CSF, 2 GM, 3 WM (:data:`TISSUE_LABELS`): the largest fraction in the brain."""
    fractions = tissue_fractions(t1, t2, pd, model)
    stack = np.stack([fractions[t].array for t in TISSUES])
    labels = np.where(stack.sum(axis=0) > 0, stack.argmax(axis=0) + 1, 0).astype(np.float32)
    return fractions[TISSUES[0]].with_array(labels, metadata=dict(fractions[TISSUES[0]].metadata, tissue="labels"))


def tissue_masks(fractions: dict[str, QuantMap], pure: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """Boolean masks of near-pure tissue for measuring tissue values (as in the paper's Table 1).

    Defaults (:data:`PURE_FRACTION`): WM and CSF ≥ 0.9 keep partial-volume voxels, whose mono-exponential
    T1/T2 are pulled towards the neighbour, out of the mean; cortical GM at 5 mm slices is seldom ≥ 0.9
    pure, so GM ≥ 0.8 keeps enough voxels while its mean moves by less than the paper's ±5 % margin.
    """
    thresholds = dict(PURE_FRACTION, **(pure or {}))
    missing = [t for t in thresholds if t not in fractions]
    if missing:
        raise InputError(f"no fraction map for {', '.join(missing)} (have: {', '.join(fractions) or 'none'})")
    return {t: fractions[t].array >= level for t, level in thresholds.items()}


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of two boolean masks (1.0 when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    if a.shape != b.shape:
        raise InputError(f"masks differ in shape: {a.shape} vs {b.shape}")
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(a, b).sum()) / total


# -- internals -------------------------------------------------------------------------------------

def _checked_arrays(t1: QuantMap, t2: QuantMap, pd: QuantMap) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    for qmap, kind in ((t1, MapKind.T1), (t2, MapKind.T2), (pd, MapKind.PD)):
        if qmap.kind not in (kind, MapKind.UNKNOWN):
            raise InputError(f"expected a {kind.value} map for {kind.value}, got a {qmap.kind.value} map",
                             qmap.metadata.get("path"))
    for other, name in ((t2, "T2"), (pd, "PD")):
        if not t1.same_geometry(other):
            raise InputError(f"the T1 map {t1!r} and the {name} map {other!r} are on different grids; "
                             "resample them onto one grid first", other.metadata.get("path"))
    return t1.array, t2.array, pd.array


def _observations(t1: np.ndarray, t2: np.ndarray, pd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(PD, PD·R1, PD·R2) of every voxel with signal (3, N), and where those voxels are."""
    head = (pd > BACKGROUND_PD) & (t1 > 0) & (t2 > 0) & np.isfinite(t1 + t2 + pd)
    p = pd[head].astype(np.float64)
    return np.stack([p, p / t1[head], p / t2[head]]), head


def _equation_scale(mixing: np.ndarray) -> np.ndarray:
    # each equation in units of its typical brain (GM/WM) value, so PD (%) does not swamp rates (1/ms)
    return 1.0 / np.abs(mixing[:, 1:]).mean(axis=1)


def _nnls(mixing: np.ndarray, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact non-negative least squares for every column of ``obs`` at once: with 3 unknowns there are
    only 7 candidate supports, so solve each by its pseudo-inverse and keep the best feasible one."""
    n_tissues = mixing.shape[1]
    best = np.full(obs.shape[1], np.inf)
    out = np.zeros((n_tissues, obs.shape[1]))
    for size in range(1, n_tissues + 1):
        for support in itertools.combinations(range(n_tissues), size):
            columns = mixing[:, support]
            x = np.linalg.pinv(columns) @ obs
            residual = ((columns @ x - obs) ** 2).sum(axis=0)
            take = (x >= 0).all(axis=0) & (residual < best)
            best[take] = residual[take]
            out[:, take] = 0.0
            out[np.ix_(np.array(support), np.flatnonzero(take))] = x[:, take]
    return out, best


def _unmix(model: TissueModel, t1: np.ndarray, t2: np.ndarray, pd: np.ndarray):
    """Fractions (3, *shape), relative residual (*shape) and the voxels with signal."""
    obs, head = _observations(t1, t2, pd)
    mixing = model.mixing_matrix()
    scale = _equation_scale(mixing)[:, None]
    f, residual = _nnls(mixing * scale, obs * scale)
    fractions = np.zeros((3,) + t1.shape, np.float32)
    fractions[:, head] = f
    relative = np.ones(t1.shape, np.float32)
    relative[head] = np.sqrt(residual) / np.linalg.norm(obs * scale, axis=0)
    return fractions, relative, head


def _brain_region(fractions: np.ndarray, residual: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Voxels explained as CSF/GM/WM mixtures, connected to the brain: the largest 3-D component (scalp
    fat and bone fail the model, and the skull separates any look-alike outside), holes filled per slice
    so lesions and odd voxels inside stay brain."""
    total = fractions.sum(axis=0)
    explained = head & (residual < MAX_RESIDUAL) & (total > TOTAL_RANGE[0]) & (total < TOTAL_RANGE[1])
    components, count = ndimage.label(explained)
    if count == 0:
        return explained
    sizes = np.bincount(components.ravel())[1:]
    brain = components == (int(np.argmax(sizes)) + 1)
    filled = np.stack([ndimage.binary_fill_holes(plane) for plane in brain])
    return filled & head


def _refine(model: TissueModel, t1: np.ndarray, t2: np.ndarray, pd: np.ndarray, min_voxels: int = 200) -> TissueModel:
    """One re-estimation of the pure-tissue values from the voxels the current model explains well.

    GM / WM: the histogram mode of T1, T2 and PD over the voxels labelled that tissue — the bulk of each
    tissue sits at its pure value, while partial volume and texture only fill the tails (medians of
    "≥ 90 % pure" voxels were pushed apart by selecting the texture's extremes: worse Dice on the cohort).
    CSF: the median of ≥ 90 % CSF voxels in deep (eroded) CSF, as its mode is a CSF/GM mixture."""
    fractions, residual, head = _unmix(model, t1, t2, pd)
    good = head & (residual < 0.05) & (np.abs(fractions.sum(axis=0) - 1) < 0.15)
    values = dict(model.values)
    winner = fractions.argmax(axis=0)
    for n, tissue in enumerate(TISSUES):
        estimate: Callable[[np.ndarray], Any]
        if tissue == "CSF":
            core = np.ones((1, 2 * CORE_RADIUS + 1, 2 * CORE_RADIUS + 1), bool)
            pure = fractions[n] >= ESTIMATION_FRACTION
            pick = ndimage.binary_erosion(good & (winner == n), core) & pure
            if pick.sum() < min_voxels:  # no deep core (thin ventricles): near-pure voxels anywhere
                pick = good & pure
            estimate = np.median
        else:
            pick, estimate = good & (winner == n), _mode
        if pick.sum() >= min_voxels:
            values[tissue] = TissueValues(*(float(estimate(a[pick])) for a in (t1, t2, pd)))
    return TissueModel(values)


def _mode(values: np.ndarray, bins: int = 200) -> float:
    """Peak of a lightly smoothed histogram (1st–99th percentile range)."""
    low, high = np.percentile(values, [1, 99])
    counts, edges = np.histogram(values, bins=bins, range=(low, high))
    peak = int(ndimage.gaussian_filter1d(counts.astype(float), 3).argmax())
    return float(0.5 * (edges[peak] + edges[peak + 1]))
