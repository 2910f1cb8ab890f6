"""Synthetic contrast-weighted images from T1 / T2 / PD maps (what synthetic-MRI users read every day).

Signal equations (PD in %, so images are in PD-% signal units):
- spin echo (T1W, T2W, PDW):       S = PD · (1 − e^(−TR/T1)) · e^(−TE/T2)
- inversion recovery (FLAIR, STIR): S = PD · |1 − 2·e^(−TI/T1) + e^(−TR/T1)| · e^(−TE/T2)   (magnitude)
- phase-sensitive IR (PSIR):        the same without the absolute value (signed)
Defaults are close to the synthetic-MRI vendor presets at 3 T; every parameter can be changed."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .mapkinds import MapKind
from .volume import QuantMap


@dataclass(frozen=True)
class Contrast:
    name: str
    kind: str  # "se", "ir" or "psir"
    tr_ms: float
    te_ms: float
    ti_ms: float = 0.0
    description: str = ""


PRESETS: dict[str, Contrast] = {
    "t1w": Contrast("t1w", "se", 500.0, 10.0, description="T1-weighted spin echo"),
    "t2w": Contrast("t2w", "se", 4500.0, 100.0, description="T2-weighted spin echo"),
    "pdw": Contrast("pdw", "se", 4000.0, 10.0, description="PD-weighted spin echo"),
    # FLAIR TI nulls CSF (T1 ≈ 4100 ms at 3 T): TI = T1 · ln(2 / (1 + e^(−TR/T1))) ≈ 2740 ms at TR 15 s
    "flair": Contrast("flair", "ir", 15000.0, 100.0, 2740.0, description="T2-FLAIR (CSF nulled)"),
    "stir": Contrast("stir", "ir", 4000.0, 50.0, 260.0, description="STIR (fat nulled)"),
    "psir": Contrast("psir", "psir", 4000.0, 10.0, 700.0, description="phase-sensitive inversion recovery"),
}


def contrast(name: str, tr_ms: float | None = None, te_ms: float | None = None,
             ti_ms: float | None = None) -> Contrast:
    """A preset with any of TR / TE / TI replaced."""
    try:
        preset = PRESETS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown contrast {name!r}: choose one of {', '.join(PRESETS)}") from None
    if any(v is not None and v < 0 for v in (tr_ms, te_ms, ti_ms)):
        raise ValueError("TR, TE and TI must not be negative")
    return replace(preset, tr_ms=preset.tr_ms if tr_ms is None else tr_ms,
                   te_ms=preset.te_ms if te_ms is None else te_ms, ti_ms=preset.ti_ms if ti_ms is None else ti_ms)


def synthesize(t1: QuantMap, t2: QuantMap, pd: QuantMap, spec: Contrast) -> QuantMap:
    """The weighted image on the maps' grid (they must share one); background (PD 0) stays 0."""
    if not (t1.same_geometry(t2) and t1.same_geometry(pd)):
        raise ValueError("T1, T2 and PD maps must share one grid to synthesise a contrast")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r1 = np.where(t1.array > 0, 1.0 / t1.array.astype(np.float64), 0.0)
        r2 = np.where(t2.array > 0, 1.0 / t2.array.astype(np.float64), 0.0)
        decay = np.exp(-spec.te_ms * r2)
        recovery = np.exp(-spec.tr_ms * r1)
        if spec.kind == "se":
            weight = 1.0 - recovery
        else:
            weight = 1.0 - 2.0 * np.exp(-spec.ti_ms * r1) + recovery
            if spec.kind == "ir":
                weight = np.abs(weight)
    image = np.where(pd.array > 0, pd.array * weight * decay, 0.0).astype(np.float32)
    metadata = dict(t1.metadata)
    metadata.update(contrast=spec.name, tr_ms=spec.tr_ms, te_ms=spec.te_ms, ti_ms=spec.ti_ms)
    return t1.with_array(image, kind=MapKind.UNKNOWN, metadata=metadata)
