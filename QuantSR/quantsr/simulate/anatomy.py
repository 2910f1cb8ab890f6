"""Individual-looking anatomy from the MNI152 *average* brain: sharp tissue boundaries, random cortical
folding with CSF in the sulci, a cortical ribbon of subject-specific thickness and ventricle size.

The MNI152 2009a template is an average of 152 brains: its folding is blurred away, its GM/WM boundaries are
soft and its sulci hold almost no CSF. A model trained only on it learns to draw that smoothness (issue 16:
on one individual brain, sulci turned into soft halos and cortex next to CSF read +7 % in T1/T2). This module
synthesises per-subject folding in the style of label-map synthesis (SynthSeg): a band-limited random field
whose zero-level set, cut off at a random depth below the brain surface, becomes sulcal CSF; grey matter
lines every CSF surface with a ribbon of random thickness; deep structures keep the template's (sharpened)
tissue. Everything is a pure function of the subject's random generator, on the template's 1 mm grid.

What it does *not* model (said in docs/generalization.md): sulci follow a random field, not the real
sulcal pattern (they meet the surface at random angles); no gyrification of the insula or hippocampus.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

ANATOMIES = ("mni", "folded")


@dataclass(frozen=True)
class FoldingParameters:
    """One subject's cortical geometry (mm)."""

    fold_scale_mm: float  # smoothing of the sulcal random field: ≈ a quarter of the gyral period
    sulcal_depth_mm: float  # mean depth of the sulci below the brain surface
    sulcal_width_mm: float  # CSF width inside a sulcus (widens with age / atrophy)
    cortex_mm: float  # cortical ribbon thickness
    ventricle_growth_mm: float  # ventricles dilated by this much (atrophy)
    sharpness: float  # power applied to the template's tissue fractions in deep structures
    seed: int

    @classmethod
    def random(cls, rng: np.random.Generator) -> "FoldingParameters":
        return cls(
            fold_scale_mm=float(rng.uniform(3.8, 5.2)),
            sulcal_depth_mm=float(rng.uniform(7.0, 14.0)),
            sulcal_width_mm=float(rng.uniform(0.8, 2.4)),
            cortex_mm=float(rng.uniform(2.2, 3.2)),
            ventricle_growth_mm=float(rng.uniform(0.0, 2.5)),
            sharpness=float(rng.uniform(2.0, 4.0)),
            seed=int(rng.integers(2**31)),
        )

    def as_dict(self) -> dict:
        return asdict(self)


#: Depth (mm below the exterior CSF) down to which the cortex is synthesised; the template is kept below it.
CORTICAL_ZONE_MM = 18.0
ZONE_RAMP_MM = 4.0
#: Below this depth the template's own (sharpened) GM is kept: basal ganglia, thalamus, insula.
DEEP_GM_MM = 10.0


def folded_tissues(base: np.ndarray, params: FoldingParameters) -> np.ndarray:
    """Tissue fractions (5, k, j, i) = GM, WM, CSF, BONE, FAT of one individual-looking brain, built from
    the template's fractions ``base`` of the same shape (1 mm isotropic)."""
    out = base.copy()
    box = _brain_box(base[0] + base[1], margin=4)
    gm, wm, csf = (base[t][box].astype(np.float32) for t in range(3))
    rng = np.random.default_rng(params.seed)
    sharp_gm, sharp_wm, sharp_csf = _sharpen(gm, wm, csf, params.sharpness)
    parenchyma = (gm + wm) >= 0.5
    exterior, ventricles = _csf_spaces(parenchyma)
    depth = ndimage.distance_transform_edt(~exterior).astype(np.float32)  # mm below the exterior CSF
    sulcal = _sulcal_csf(depth, parenchyma, params, rng)
    ventricle_csf = _grown(ventricles, params.ventricle_growth_mm) & ~exterior
    to_csf = ndimage.distance_transform_edt(~(exterior | (sulcal >= 0.5))).astype(np.float32)
    ribbon = np.clip(params.cortex_mm + 0.5 - to_csf, 0, 1)  # soft (1 mm) inner GM boundary
    deep_gm = sharp_gm * np.clip((depth - DEEP_GM_MM) / ZONE_RAMP_MM, 0, 1)  # nuclei, deep cortex
    cortex_gm = np.maximum(ribbon, deep_gm)
    zone = np.clip((CORTICAL_ZONE_MM + ZONE_RAMP_MM - depth) / ZONE_RAMP_MM, 0, 1)  # 1 in the cortical zone
    inside = np.clip(gm + wm + csf, 0, 1)  # intracranial fraction (template outline, kept)
    tissue = np.clip(sharp_gm + sharp_wm, 0, 1) * inside
    new_gm = zone * cortex_gm * (1 - sulcal) + (1 - zone) * sharp_gm
    new_gm = np.minimum(new_gm, tissue * (1 - sulcal))
    new_wm = np.clip(tissue * (1 - sulcal) - new_gm, 0, None)
    grown = ventricle_csf.astype(np.float32)
    new_gm, new_wm = new_gm * (1 - grown), new_wm * (1 - grown)
    new_csf = np.clip(inside - new_gm - new_wm, 0, 1)
    out[0][box], out[1][box], out[2][box] = new_gm, new_wm, new_csf
    return out


def _brain_box(parenchyma: np.ndarray, margin: int) -> tuple[slice, ...]:
    where = np.argwhere(parenchyma > 0.05)
    lo, hi = where.min(axis=0) - margin, where.max(axis=0) + margin + 1
    return tuple(slice(max(0, int(a)), min(int(b), n)) for a, b, n in zip(lo, hi, parenchyma.shape, strict=True))


def _sharpen(gm: np.ndarray, wm: np.ndarray, csf: np.ndarray, power: float) -> tuple[np.ndarray, ...]:
    """Fractions raised to ``power`` and renormalised: the template's blurred boundaries become sharp while
    each voxel keeps its total intracranial fraction."""
    stacked = np.stack([gm, wm, csf]).clip(0, 1)
    total = stacked.sum(axis=0)
    powered = stacked**power
    norm = powered.sum(axis=0)
    sharp = np.where(norm > 1e-6, powered / np.maximum(norm, 1e-6) * total, stacked)
    return sharp[0], sharp[1], sharp[2]


def _csf_spaces(parenchyma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(exterior, ventricles): the non-parenchyma space connected to the volume's border (subarachnoid CSF,
    fissures, outside) and the enclosed spaces (ventricles)."""
    labels, _count = ndimage.label(~parenchyma)
    border = np.unique(np.concatenate([labels[0].ravel(), labels[-1].ravel(), labels[:, 0].ravel(),
                                       labels[:, -1].ravel(), labels[:, :, 0].ravel(), labels[:, :, -1].ravel()]))
    exterior = np.isin(labels, border[border > 0])
    return exterior, (~parenchyma) & ~exterior


def _sulcal_csf(depth: np.ndarray, parenchyma: np.ndarray, params: FoldingParameters,
                rng: np.random.Generator) -> np.ndarray:
    """Soft CSF fraction of sulci: thin sheets along the zero-level set of a band-limited random field,
    reaching down to a depth that varies smoothly around ``sulcal_depth_mm``."""
    field = ndimage.gaussian_filter(rng.standard_normal(depth.shape).astype(np.float32), params.fold_scale_mm)
    field /= field.std() + 1e-9
    gradient = np.sqrt(sum(g**2 for g in np.gradient(field)))
    distance = np.abs(field) / np.maximum(gradient, 1e-3)  # ≈ mm to the zero-level set
    depth_field = ndimage.gaussian_filter(rng.standard_normal(depth.shape).astype(np.float32), 8.0)
    depth_field /= depth_field.std() + 1e-9
    limit = params.sulcal_depth_mm * (1 + 0.3 * depth_field)
    sheet = np.clip(params.sulcal_width_mm / 2 + 0.5 - distance, 0, 1)
    reach = np.clip(limit - depth + 0.5, 0, 1)  # sulci end at the local depth limit
    sulci = (sheet * reach * parenchyma).astype(np.float32)
    labels, _count = ndimage.label((sulci >= 0.5) | ~parenchyma)
    open_to_surface = labels == labels[0, 0, 0]  # the corner is outside the head: exterior space
    return np.where(open_to_surface, sulci, 0).astype(np.float32)  # no buried CSF islands


def _grown(mask: np.ndarray, mm: float) -> np.ndarray:
    if mm <= 0 or not mask.any():
        return mask
    return ndimage.distance_transform_edt(~mask) <= mm
