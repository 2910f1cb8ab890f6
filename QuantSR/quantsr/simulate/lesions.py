"""Lesions of the paper's kinds (Liu et al. 2026 Table 3) placed in a subject's white matter.

Kinds and value ranges are data (:data:`LESION_KINDS`), so new kinds — tumour oedema, microbleeds — are a
new entry, not new code. Each lesion is a randomly oriented ellipsoid with a wavy, soft (≈1 mm) edge."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation


@dataclass(frozen=True)
class LesionKind:
    name: str
    t1_ms: tuple[float, float]
    t2_ms: tuple[float, float]
    pd_pct: tuple[float, float]
    radius_mm: tuple[float, float]
    min_wm_fraction: float = 0.9  # where its centre may lie
    location: str = "deep"  # deep WM, "juxtacortical" (touching cortex), "periventricular", or "any" of them
    irregularity: tuple[float, float] = (0.12, 0.12)  # relative amplitude of the boundary's lobes


#: The paper's lesion kinds, value ranges spanning Table 3 (DL and routine columns).
LESION_KINDS: dict[str, LesionKind] = {
    "WMH": LesionKind("WMH", (950.0, 1750.0), (95.0, 185.0), (70.0, 87.0), (3.0, 7.0)),
    "infarct": LesionKind("infarct", (1200.0, 1900.0), (125.0, 155.0), (80.0, 92.0), (4.0, 9.0)),
    "encephalomalacia": LesionKind("encephalomalacia", (3400.0, 3900.0), (270.0, 350.0), (100.0, 108.0),
                                   (6.0, 12.0), min_wm_fraction=0.8),
}

#: For training sets only: lesions whose T1, T2 and PD are drawn independently across the whole pathological
#: range (domain randomisation), so a model learns the fast → routine mapping for every lesion value instead
#: of for the three kinds' clusters — and does not pull an unseen kind (oedema, cyst) towards them.
RANDOMISED = LesionKind("randomised", (800.0, 4300.0), (80.0, 1000.0), (60.0, 110.0), (3.0, 12.0),
                        min_wm_fraction=0.8)

#: For training sets (issue 16): every physically plausible lesion — T1 / T2 / PD drawn independently over each
#: map's whole pathological range (T2-dark foci to cysts), radii from the resolution limit to oedema size,
#: smooth to lobulated outlines, in deep WM, touching cortex or touching the ventricles.
RANDOMISED_FULL = LesionKind("randomised_full", (400.0, 4400.0), (40.0, 2000.0), (50.0, 110.0), (1.5, 16.0),
                             min_wm_fraction=0.6, location="any", irregularity=(0.0, 0.4))

#: Lesion families for validation and test sets only (generalization protocol, docs/generalization.md):
#: each differs from the training kinds in value, size, shape or place.
EVALUATION_KINDS: dict[str, LesionKind] = {
    "small_plaque": LesionKind("small_plaque", (1000.0, 1500.0), (100.0, 170.0), (72.0, 86.0), (2.0, 3.0)),
    "t2_dark": LesionKind("t2_dark", (500.0, 800.0), (40.0, 65.0), (55.0, 68.0), (2.5, 5.0)),
    "cyst": LesionKind("cyst", (3800.0, 4300.0), (1100.0, 1900.0), (98.0, 106.0), (4.0, 9.0),
                       min_wm_fraction=0.8, irregularity=(0.0, 0.05)),
    "oedema": LesionKind("oedema", (1300.0, 2000.0), (160.0, 260.0), (84.0, 95.0), (10.0, 18.0),
                         min_wm_fraction=0.7, irregularity=(0.25, 0.4)),
    "juxtacortical": LesionKind("juxtacortical", (1000.0, 1600.0), (100.0, 180.0), (72.0, 88.0), (2.5, 5.0),
                                min_wm_fraction=0.5, location="juxtacortical", irregularity=(0.1, 0.3)),
    "periventricular": LesionKind("periventricular", (1000.0, 1800.0), (110.0, 200.0), (74.0, 90.0), (3.0, 8.0),
                                  min_wm_fraction=0.5, location="periventricular", irregularity=(0.2, 0.35)),
}

#: Every kind ``quantsr simulate --lesion-kinds`` accepts.
KNOWN_LESION_KINDS: dict[str, LesionKind] = {**LESION_KINDS, RANDOMISED.name: RANDOMISED,
                                             RANDOMISED_FULL.name: RANDOMISED_FULL, **EVALUATION_KINDS}
LOCATIONS = ("deep", "juxtacortical", "periventricular")


@dataclass(frozen=True)
class Lesion:
    label: int
    kind: str
    centre_mm: tuple[float, float, float]  # LPS, scanner space
    radii_mm: tuple[float, float, float]
    rotation: tuple[float, float, float, float]  # quaternion (x, y, z, w)
    t1_ms: float
    t2_ms: float
    pd_pct: float
    seed: int
    irregularity: float = 0.12
    location: str = "deep"

    def as_row(self) -> dict:
        row = asdict(self)
        row["centre_mm"] = " ".join(f"{v:.1f}" for v in self.centre_mm)
        row["radii_mm"] = " ".join(f"{v:.1f}" for v in self.radii_mm)
        row.pop("rotation")
        return row


def draw_lesions(rng: np.random.Generator, wm_fraction: np.ndarray, points_of: Callable[[np.ndarray], np.ndarray],
                 count: int, kinds: Sequence[LesionKind] | None = None, gm_fraction: np.ndarray | None = None,
                 csf_fraction: np.ndarray | None = None) -> list[Lesion]:
    """``count`` lesions with centres in white matter of the object grid (``points_of`` maps (k, j, i)
    indices to LPS mm); kinds chosen at random from ``kinds``. Deep lesions sit ≥ 3 voxels inside WM;
    juxtacortical and periventricular ones (which need ``gm_fraction`` / ``csf_fraction``) next to cortex or
    to the ventricles."""
    kinds = list(kinds or LESION_KINDS.values())
    sites = _LesionSites(wm_fraction, gm_fraction, csf_fraction)
    lesions: list[Lesion] = []
    for label in range(1, count + 1):
        kind = kinds[int(rng.integers(len(kinds)))]
        location = LOCATIONS[int(rng.integers(len(LOCATIONS)))] if kind.location == "any" else kind.location
        candidates = sites.candidates(location, kind.min_wm_fraction)
        for _attempt in range(50):
            centre = points_of(candidates[int(rng.integers(len(candidates)))])
            radius = rng.uniform(*kind.radius_mm)
            if all(np.linalg.norm(centre - np.asarray(o.centre_mm)) > radius + max(o.radii_mm) + 2 for o in lesions):
                break
        rx, ry, rz = (float(radius * f) for f in rng.uniform(0.7, 1.3, 3))
        qx, qy, qz, qw = (float(v) for v in Rotation.random(random_state=rng).as_quat())
        lesions.append(
            Lesion(
                label=label,
                kind=kind.name,
                centre_mm=(float(centre[0]), float(centre[1]), float(centre[2])),
                radii_mm=(rx, ry, rz),
                rotation=(qx, qy, qz, qw),
                t1_ms=float(rng.uniform(*kind.t1_ms)),
                t2_ms=float(rng.uniform(*kind.t2_ms)),
                pd_pct=float(rng.uniform(*kind.pd_pct)),
                seed=int(rng.integers(2**31)),
                **_shape_draws(rng, kind, location),
            )
        )
    return lesions


def _shape_draws(rng: np.random.Generator, kind: LesionKind, location: str) -> dict:
    """Outline and place of a lesion; kinds with the historical defaults draw nothing more, so cohorts
    simulated before these fields existed come out identical."""
    low, high = kind.irregularity
    irregularity = low if low == high else float(rng.uniform(low, high))
    return {"irregularity": irregularity, "location": location}


class _LesionSites:
    """Candidate lesion centres per location, computed once per subject (the masks cost a distance map)."""

    def __init__(self, wm: np.ndarray, gm: np.ndarray | None, csf: np.ndarray | None) -> None:
        self.wm, self.gm, self.csf = wm, gm, csf
        self._cache: dict[tuple[str, float], np.ndarray] = {}

    def candidates(self, location: str, min_wm: float) -> np.ndarray:
        key = (location, min_wm)
        if key not in self._cache:
            self._cache[key] = self._compute(location, min_wm)
        return self._cache[key]

    def _compute(self, location: str, min_wm: float) -> np.ndarray:
        wm = self.wm >= min_wm
        if location == "juxtacortical" and self.gm is not None:
            near = ndimage.distance_transform_edt(self.gm < 0.5) <= 3  # ≤ 3 voxels from cortex
            where = wm & near
        elif location == "periventricular" and self.csf is not None:
            csf = self.csf >= 0.5
            brain = (self.wm + (self.gm if self.gm is not None else 0) + self.csf) >= 0.5
            deep_csf = csf & (ndimage.distance_transform_edt(brain) > 12)  # ventricles, not sulci
            where = wm & (ndimage.distance_transform_edt(~deep_csf) <= 4)
        else:
            where = ndimage.binary_erosion(self.wm >= 0.5, iterations=3) & wm
        candidates = np.argwhere(where)
        return candidates if candidates.size else np.argwhere(self.wm >= 0.5)


def lesion_fraction(lesion: Lesion, points: np.ndarray) -> np.ndarray:
    """Soft membership (0–1) of LPS ``points`` (..., 3): an ellipsoid with a wavy boundary, 1 mm ramp."""
    local = Rotation.from_quat(lesion.rotation).inv().apply((points - np.asarray(lesion.centre_mm)).reshape(-1, 3))
    radii = np.asarray(lesion.radii_mm)
    distance = np.linalg.norm(local / radii, axis=1)  # 1 on the ellipsoid
    direction = local / np.maximum(np.linalg.norm(local, axis=1, keepdims=True), 1e-9)
    waves = np.random.default_rng(lesion.seed).normal(0, 1, (3, 3))
    wobble = 1 + lesion.irregularity * np.sin(direction @ waves * 2 + waves[0]).mean(axis=1)  # lobes
    edge_mm = (wobble - distance) * radii.mean()
    return np.clip(edge_mm + 0.5, 0, 1).reshape(points.shape[:-1]).astype(np.float32)
