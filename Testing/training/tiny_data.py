"""A tiny paired dataset (NRRD, manifest CSV) for fast training tests: smooth 'brains' whose routine
version is sharper than the fast one, on grids that share the field of view."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from scipy import ndimage

from quantsr.baselines import upsample
from quantsr.io.images import write_image
from quantsr.mapkinds import MapKind
from quantsr.volume import QuantMap

#: The T2 and PD maps of a guide-map cohort: the T1 maps scaled into each kind's range (shape, grid and head kept).
GUIDE_SCALE = {MapKind.T2: 0.08, MapKind.PD: 0.07}


def write_tiny_cohort(folder: Path, subjects: int = 4, lr: int = 32, slices: int = 4, seed: int = 0,
                      guide_maps: bool = False) -> Path:
    """``guide_maps``: also T2 and PD rows (:data:`GUIDE_SCALE` × the T1 maps), for models that read guides."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(subjects):
        yy, xx = np.mgrid[0 : 2 * lr, 0 : 2 * lr] / (2 * lr) - 0.5
        head = (xx**2 / 0.16 + yy**2 / 0.2) < 1
        hr = np.zeros((slices, 2 * lr, 2 * lr), np.float32)
        for k in range(slices):
            texture = ndimage.gaussian_filter(rng.normal(0, 1, head.shape), 2)
            hr[k] = np.where(head, 900 + 300 * np.sign(texture), 0)
        routine = QuantMap(hr, origin=(-lr + 0.25, -lr + 0.25, 0), spacing=(0.5, 0.5, 5), kind=MapKind.T1)
        blurred = ndimage.gaussian_filter(hr, (0, 1.2, 1.2))
        fast_array = blurred.reshape(slices, lr, 2, lr, 2).mean(axis=(2, 4)) + rng.normal(0, 15, (slices, lr, lr))
        fast = QuantMap(np.clip(fast_array, 0, None) * (blurred.reshape(slices, lr, 2, lr, 2).max(axis=(2, 4)) > 0),
                        origin=(-lr + 0.5, -lr + 0.5, 0), spacing=(1, 1, 5), kind=MapKind.T1)
        assert upsample(fast, 2, "linear").same_geometry(routine)
        subject = f"s{index:02d}"
        write_image(fast, folder / subject / "fast_T1.nrrd")
        write_image(routine, folder / subject / "routine_T1.nrrd")
        group = "patient" if index == 0 else "healthy"
        rows.append({"subject": subject, "map": "T1", "fast": f"{subject}/fast_T1.nrrd",
                     "routine": f"{subject}/routine_T1.nrrd", "group": group})
        for kind, scale in GUIDE_SCALE.items() if guide_maps else ():
            for name, qmap in (("fast", fast), ("routine", routine)):
                path = folder / subject / f"{name}_{kind.value}.nrrd"
                write_image(qmap.with_array(qmap.array * scale, kind=kind), path)
            rows.append({"subject": subject, "map": kind.value, "fast": f"{subject}/fast_{kind.value}.nrrd",
                         "routine": f"{subject}/routine_{kind.value}.nrrd", "group": group})
    manifest = folder / "pairs.csv"
    with open(manifest, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest
