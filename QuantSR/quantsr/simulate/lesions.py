"""Lesions of the paper's kinds (Liu et al. 2026 Table 3) placed in a subject's white matter.

Kinds and value ranges are data (:data:`LESION_KINDS`), so new kinds — tumour oedema, microbleeds — are a
new entry, not new code. Each lesion is a randomly oriented ellipsoid with a wavy, soft (≈1 mm) edge."""

from __future__ import annotations

from collections.abc import Sequence
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

#: Every kind ``quantsr simulate --lesion-kinds`` accepts.
KNOWN_LESION_KINDS: dict[str, LesionKind] = {**LESION_KINDS, RANDOMISED.name: RANDOMISED}


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

    def as_row(self) -> dict:
        row = asdict(self)
        row["centre_mm"] = " ".join(f"{v:.1f}" for v in self.centre_mm)
        row["radii_mm"] = " ".join(f"{v:.1f}" for v in self.radii_mm)
        row.pop("rotation")
        return row


def draw_lesions(rng: np.random.Generator, wm_fraction: np.ndarray, points_of: callable, count: int,
                 kinds: Sequence[LesionKind] | None = None) -> list[Lesion]:
    """``count`` lesions with centres in deep white matter of the object grid (``points_of`` maps
    (k, j, i) indices to LPS mm); kinds chosen at random from ``kinds``."""
    kinds = list(kinds or LESION_KINDS.values())
    eroded = ndimage.binary_erosion(wm_fraction >= 0.5, iterations=3)
    lesions: list[Lesion] = []
    for label in range(1, count + 1):
        kind = kinds[int(rng.integers(len(kinds)))]
        candidates = np.argwhere(eroded & (wm_fraction >= kind.min_wm_fraction))
        if candidates.size == 0:
            candidates = np.argwhere(wm_fraction >= 0.5)
        for _attempt in range(50):
            centre = points_of(candidates[int(rng.integers(len(candidates)))])
            radius = rng.uniform(*kind.radius_mm)
            if all(np.linalg.norm(centre - np.asarray(o.centre_mm)) > radius + max(o.radii_mm) + 2 for o in lesions):
                break
        radii = tuple(float(radius * f) for f in rng.uniform(0.7, 1.3, 3))
        lesions.append(
            Lesion(
                label=label,
                kind=kind.name,
                centre_mm=tuple(float(v) for v in centre),
                radii_mm=radii,
                rotation=tuple(float(v) for v in Rotation.random(random_state=rng).as_quat()),
                t1_ms=float(rng.uniform(*kind.t1_ms)),
                t2_ms=float(rng.uniform(*kind.t2_ms)),
                pd_pct=float(rng.uniform(*kind.pd_pct)),
                seed=int(rng.integers(2**31)),
            )
        )
    return lesions


def lesion_fraction(lesion: Lesion, points: np.ndarray) -> np.ndarray:
    """Soft membership (0–1) of LPS ``points`` (..., 3): an ellipsoid with a wavy boundary, 1 mm ramp."""
    local = Rotation.from_quat(lesion.rotation).inv().apply((points - np.asarray(lesion.centre_mm)).reshape(-1, 3))
    radii = np.asarray(lesion.radii_mm)
    distance = np.linalg.norm(local / radii, axis=1)  # 1 on the ellipsoid
    direction = local / np.maximum(np.linalg.norm(local, axis=1, keepdims=True), 1e-9)
    waves = np.random.default_rng(lesion.seed).normal(0, 1, (3, 3))
    wobble = 1 + 0.12 * np.sin(direction @ waves * 2 + waves[0]).mean(axis=1)  # ±12 % lobes
    edge_mm = (wobble - distance) * radii.mean()
    return np.clip(edge_mm + 0.5, 0, 1).reshape(points.shape[:-1]).astype(np.float32)
