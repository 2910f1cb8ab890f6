"""A small simulated patient in seconds, for the ``quantsr view`` tests: an analytic brain slab (grey-matter
rim, white matter, ventricles, two lesions) through the simulator's own MDME signal equation, k-space
acquisition and fit (``quantsr.simulate``), on a quarter-size grid (fast 64², routine 128², 3 slices of 5 mm
over the paper's 220 mm FOV); the bundled models super-resolve the fast T1 and T2 maps (not PD: a study with a
missing DL map). Written as a report cohort (``manifest.csv`` + NRRD), with a second subject whose routine T1
file is broken."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np

from quantsr.io.images import write_image
from quantsr.mapkinds import QUANT_KINDS, MapKind
from quantsr.volume import QuantMap

FOV_MM = 220.0
SLICES = 3
SLICE_MM = 5.0
FAST_MATRIX, ROUTINE_MATRIX = 64, 128  # a quarter-size recon of the paper's 256² / 512²
#: (T1 ms, T2 ms, PD %): the paper's Table 1 routine means; lesions in Table 3's WMH / infarct range
TISSUES = {"csf": (4100.0, 1300.0, 100.0), "gm": (1233.0, 93.0, 80.0), "wm": (838.0, 80.0, 68.0),
           "lesion1": (1400.0, 135.0, 79.0), "lesion2": (1900.0, 190.0, 85.0)}
#: Lesion centres (R, A in mm: RAS, as the browser views show them) and radii
LESIONS = {"lesion1": ((-28.0, 12.0), 9.0), "lesion2": ((30.0, -22.0), 7.0)}
SUBJECT, BROKEN = "sub-001", "sub-002"


def _phantom(matrix: int) -> dict[str, np.ndarray]:
    """Tissue label of each object pixel (one slab; slices differ by a 2 % size change)."""
    pixel = FOV_MM / matrix
    centres = (np.arange(matrix) + 0.5) * pixel - FOV_MM / 2  # LPS x (columns) and y (rows), mm
    x, y = np.meshgrid(centres, centres)  # x: +L, y: +P
    r, a = -x, -y  # RAS
    labels = []
    for k in range(SLICES):
        scale = 1.0 - 0.02 * k
        brain = (r / (68 * scale)) ** 2 + (a / (86 * scale)) ** 2 < 1
        inner = (r / (63 * scale)) ** 2 + (a / (81 * scale)) ** 2 < 1
        ventricles = ((np.abs(r) - 9) / 5) ** 2 + (a / 20) ** 2 < 1
        label = np.full(r.shape, "air", dtype=object)
        label[(r / (72 * scale)) ** 2 + (a / (90 * scale)) ** 2 < 1] = "csf"
        label[brain] = "gm"
        label[inner] = "wm"
        label[ventricles] = "csf"
        for name, ((lr, la), radius) in LESIONS.items():
            label[(r - lr) ** 2 + (a - la) ** 2 < radius**2] = name
        labels.append(label)
    return {"labels": np.stack(labels)}


def _parameters(matrix: int) -> dict[str, np.ndarray]:
    labels = _phantom(matrix)["labels"]
    out = {name: np.zeros(labels.shape, np.float32) for name in ("t1", "t2", "pd")}
    for tissue, (t1, t2, pd) in TISSUES.items():
        inside = labels == tissue
        out["t1"][inside], out["t2"][inside], out["pd"][inside] = t1, t2, pd
    return out


def _grid(matrix: int) -> dict:
    pixel = FOV_MM / matrix
    return {"origin": (-FOV_MM / 2 + pixel / 2, -FOV_MM / 2 + pixel / 2, 0.0), "spacing": (pixel, pixel, SLICE_MM)}


def simulate(seed: int = 3) -> dict[str, dict[MapKind, QuantMap]]:
    """{protocol: {kind: map}} for fast, routine and truth (the simulator's physics on the analytic object)."""
    from quantsr.simulate import mdme
    from quantsr.simulate.acquisition import acquire
    from quantsr.trust import FAST

    rng = np.random.default_rng(seed)
    truth = _parameters(ROUTINE_MATRIX)  # the object grid is the routine recon grid
    signal = mdme.signal(truth["pd"], truth["t1"], truth["t2"], 1.0)  # (8, slices, N, N)
    maps: dict[str, dict[MapKind, QuantMap]] = {}
    # the paper's fast window (192×128 of 256²) and routine window (320×256 of 512²), at a quarter of the size
    for name, recon, window, noise in (("fast", FAST_MATRIX, (48, 32), 1.45), ("routine", ROUTINE_MATRIX,
                                                                               (80, 64), 1.0)):
        protocol = dataclasses.replace(FAST, name=name, acquisition_matrix=window, recon_matrix=recon)
        images = np.stack([acquire(signal[:, k], protocol, noise, rng) for k in range(SLICES)], axis=1)
        fitted = mdme.fit(images, signal_threshold=6 * noise)
        maps[name] = {kind: QuantMap(getattr(fitted, kind.value.lower()), kind=kind,
                                     metadata={"acquisition_matrix": list(window)}, **_grid(recon))
                      for kind in QUANT_KINDS}
    maps["truth"] = {kind: QuantMap(truth[kind.value.lower()], kind=kind, **_grid(ROUTINE_MATRIX))
                     for kind in QUANT_KINDS}
    return maps


def super_resolve(fast: dict[MapKind, QuantMap], kinds=(MapKind.T1, MapKind.T2)) -> dict[MapKind, QuantMap]:
    """The bundled models on the fast maps of ``kinds`` (as ``quantsr sr`` runs them)."""
    from quantsr.engine import EngineOptions
    from quantsr.srjob import SRJob, super_resolve_maps

    job = SRJob("dl", options=EngineOptions(device="cpu"), guides=dict(fast))  # PD guides T1 and T2, unresolved
    results = super_resolve_maps([fast[k] for k in kinds], job)
    return {result.kind: result for result in results}


def write_cohort(root: Path) -> Path:
    """The cohort folder: sub-001 (fast, DL, routine, truth) and sub-002 (its routine T1 file broken)."""
    maps = simulate()
    maps["dl"] = super_resolve(maps["fast"])
    rows = []
    for subject in (SUBJECT, BROKEN):
        for protocol, by_kind in maps.items():
            for kind, qmap in by_kind.items():
                path = root / subject / f"{protocol}_{kind.value}.nrrd"
                write_image(qmap, path)
                rows.append([subject, "patient", kind.value, protocol, "nrrd", path.relative_to(root).as_posix()])
    (root / BROKEN / "routine_T1.nrrd").write_bytes(b"NRRD0004\nthis file was cut short\n")
    with open(root / "manifest.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["subject", "group", "map", "protocol", "format", "path"])
        writer.writerows(rows)
    return root
