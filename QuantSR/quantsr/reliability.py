"""The trust flag of one ROI: can its DL mean be read as what the routine scan would give?

Two independent reasons say no (docs/generalization.md, "Trust flag"):

- **inconsistent** — DL's signed mean departure from the fast scan over the ROI (:func:`quantsr.trust.roi_consistency`)
  exceeds ``DEFAULT_THRESHOLD_PCT``: the network moved the value (invented or erased something); read the fast
  scan's value instead.
- **imprecise** — the fast scan's own standard error of the ROI mean exceeds ``DEFAULT_PRECISION_PCT``: the ROI
  holds few independent fast-scan samples or a noisy fit (very long T2), so neither the fast scan nor DL — which
  cannot know more than the scan measured — pins the value down; draw a larger ROI or read the routine scan.
- **too small** — the ROI holds fewer than ``DEFAULT_MIN_SAMPLES`` independent fast-scan samples: it is at the
  fast scan's resolution limit, where partial volume with its surroundings sets the value whatever the noise.

The standard error is the local SD of the fast scan's noise over the ROI (:attr:`quantsr.trust.TrustMap.noise_sd`)
divided by the square root of the independent samples the acquisition took there (acquired k-space samples per
DL voxel × ROI voxels, at least one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .trust import DEFAULT_THRESHOLD_PCT, TrustMap, is_flagged, roi_consistency

#: ROIs whose fast-scan standard error exceeds this percentage of their mean are flagged as imprecise, and ROIs with
#: fewer independent fast-scan samples than DEFAULT_MIN_SAMPLES as too small. Chosen together on validation data
#: (docs/generalization.md, "Trust flag" and "Session 12"): the pair with the fewest false flags among those
#: catching ≥ 90 % of the lesion measurements whose DL mean was > 5 % off routine (the shipped models, 66 subjects).
DEFAULT_PRECISION_PCT = 1.75
DEFAULT_MIN_SAMPLES = 10.0
INCONSISTENT = "inconsistent"
IMPRECISE = "imprecise"
TOO_SMALL = "too small"


@dataclass(frozen=True)
class RoiReliability:
    """An ROI's reliability measures (NaN where it has no head voxel)."""

    consistency_pct: float  # DL's signed mean departure from the fast scan, % of its mean
    precision_pct: float  # the fast scan's standard error of the ROI mean, % of its mean
    samples: float = float("nan")  # independent fast-scan samples the ROI holds

    def reasons(self, consistency_threshold_pct: float = DEFAULT_THRESHOLD_PCT,
                precision_threshold_pct: float = DEFAULT_PRECISION_PCT,
                min_samples: float = DEFAULT_MIN_SAMPLES) -> tuple[str, ...]:
        """The flag's reasons, in order: ``INCONSISTENT``, ``IMPRECISE``, ``TOO_SMALL``; empty when the ROI is fine."""
        out = []
        if is_flagged(self.consistency_pct, consistency_threshold_pct):
            out.append(INCONSISTENT)
        if math.isfinite(self.precision_pct) and self.precision_pct > precision_threshold_pct:
            out.append(IMPRECISE)
        if math.isfinite(self.samples) and self.samples < min_samples:
            out.append(TOO_SMALL)
        return tuple(out)

    def flag(self, consistency_threshold_pct: float = DEFAULT_THRESHOLD_PCT,
             precision_threshold_pct: float = DEFAULT_PRECISION_PCT, min_samples: float = DEFAULT_MIN_SAMPLES) -> str:
        """The ROI table's flag text: "ok", the reasons joined by ", ", or "" when nothing could be measured."""
        if not any(math.isfinite(v) for v in (self.consistency_pct, self.precision_pct, self.samples)):
            return ""
        return ", ".join(self.reasons(consistency_threshold_pct, precision_threshold_pct, min_samples)) or "ok"

    def flagged(self, consistency_threshold_pct: float = DEFAULT_THRESHOLD_PCT,
                precision_threshold_pct: float = DEFAULT_PRECISION_PCT,
                min_samples: float = DEFAULT_MIN_SAMPLES) -> bool:
        return bool(self.reasons(consistency_threshold_pct, precision_threshold_pct, min_samples))


def fast_standard_error_pct(trust: TrustMap, mask: np.ndarray, dl_values: np.ndarray) -> float:
    """The fast scan's standard error of the mean over ``mask`` (DL grid), in % of DL's mean there; NaN when the
    ROI holds no head voxel or the trust map carries no noise estimate."""
    inside = np.asarray(mask, bool) & trust.head
    if not inside.any() or trust.noise_sd is None:
        return float("nan")
    mean = float(np.mean(dl_values[inside], dtype=np.float64))
    if not math.isfinite(mean) or mean == 0:
        return float("nan")
    samples = max(float(inside.sum()) * trust.samples_per_voxel, 1.0)
    error = float(np.mean(trust.noise_sd.array[inside], dtype=np.float64)) / math.sqrt(samples)
    return 100.0 * error / abs(mean)


def fast_samples(trust: TrustMap, mask: np.ndarray) -> float:
    """Independent fast-scan samples over ``mask``'s head voxels (DL grid): acquired k-space samples per DL voxel ×
    voxels; NaN when the ROI holds no head voxel or the trust map does not know the acquisition."""
    voxels = int((np.asarray(mask, bool) & trust.head).sum())
    return voxels * trust.samples_per_voxel if voxels else float("nan")


def roi_reliability(trust: TrustMap, mask: np.ndarray, dl_values: np.ndarray) -> RoiReliability:
    """The ROI's consistency with the fast scan, the fast scan's precision over it and the samples it holds
    (``mask`` and ``dl_values``, the DL map's array, on the DL grid)."""
    return RoiReliability(roi_consistency(trust, mask), fast_standard_error_pct(trust, mask, dl_values),
                          fast_samples(trust, mask))
