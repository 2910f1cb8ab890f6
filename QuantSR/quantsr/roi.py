"""ROIs replicated identically in physical space on volumes of any grid, and their statistics.

A label map (or a box) defined once is carried to each volume by its physical position: every voxel
centre of the target volume takes the label found at that point (nearest neighbour), so the same
anatomy is measured on fast (256²), DL (512²) and routine (512²) maps.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .errors import InputError
from .io.atomic import atomic_path
from .stats import paired_t_test
from .volume import QuantMap


def labels_on_grid(labels: QuantMap, reference: QuantMap) -> np.ndarray:
    """Integer labels sampled at ``reference``'s voxel centres (0 outside the label map).

    Args:
        labels: a label map (values rounded to integers) on any grid.
        reference: the grid to carry it to.

    Returns:
        int32 (slices, rows, columns) of ``reference``: the label found at each voxel centre's physical position
        (nearest neighbour; the labels themselves when the grids agree).
    """
    if labels.same_geometry(reference):
        return np.rint(labels.array).astype(np.int32)
    image = labels.to_sitk()
    image = sitk.Cast(image, sitk.sitkInt32)
    resampled = sitk.Resample(image, reference.to_sitk(), sitk.Transform(), sitk.sitkNearestNeighbor, 0,
                              sitk.sitkInt32)
    return sitk.GetArrayFromImage(resampled)


def values_on_grid(qmap: QuantMap, reference: QuantMap, interpolator: int = sitk.sitkLinear) -> np.ndarray:
    """``qmap`` sampled at ``reference``'s voxel centres in physical space (float32, 0 outside; the array
    itself when the grids agree).

    Args:
        qmap: the values to resample (its unit is kept).
        reference: the target grid.
        interpolator: a SimpleITK interpolator (linear by default; ``sitk.sitkNearestNeighbor`` for labels).

    Returns:
        float32 (slices, rows, columns) of ``reference``.
    """
    if qmap.same_geometry(reference):
        return np.asarray(qmap.array, np.float32)
    resampled = sitk.Resample(qmap.to_sitk(), reference.to_sitk(), sitk.Transform(), interpolator, 0.0,
                              sitk.sitkFloat32)
    return sitk.GetArrayFromImage(resampled)


def box_mask(reference: QuantMap, centre_lps: np.ndarray, size_mm: np.ndarray,
             axes: np.ndarray | None = None) -> np.ndarray:
    """Voxels of ``reference`` whose centres lie in a box.

    Args:
        reference: the grid to mask.
        centre_lps: the box's centre (3,), LPS mm.
        size_mm: its full edge lengths (3,) along its axes, mm.
        axes: 3×3, the box's axes as columns (LPS); None: aligned with L, P, S.

    Returns:
        bool (slices, rows, columns) of ``reference``.
    """
    axes = np.eye(3) if axes is None else np.asarray(axes, float)
    half = np.asarray(size_mm, float) / 2
    centre = np.asarray(centre_lps, float)
    # Only voxels within the index-space bounds of the box's corners (+1) can be inside: test just those
    # (a 512² × 24 map is 6 M voxels; a lesion box a few hundred).
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], float)
    corners = reference.physical_to_index(centre + (signs * half) @ np.linalg.pinv(axes))
    size = np.array(reference.size_ijk)
    low = np.clip(np.floor(corners.min(axis=0)).astype(int) - 1, 0, size)
    high = np.clip(np.ceil(corners.max(axis=0)).astype(int) + 2, 0, size)
    mask = np.zeros(reference.shape, bool)
    if np.any(high <= low):
        return mask
    k, j, i = np.mgrid[low[2]:high[2], low[1]:high[1], low[0]:high[0]]
    ijk = np.stack([i.ravel(), j.ravel(), k.ravel()], axis=1)
    local = (reference.index_to_physical(ijk) - centre) @ axes
    inside = np.all(np.abs(local) <= half + 1e-9, axis=1)
    mask[low[2]:high[2], low[1]:high[1], low[0]:high[0]] = inside.reshape(k.shape)
    return mask


#: Columns of an ``ROIS`` csv: one box per row, centre and full size in DICOM patient coordinates (LPS, mm).
BOX_COLUMNS = ("roi", "x_mm", "y_mm", "z_mm", "size_x_mm", "size_y_mm", "size_z_mm")


def read_roi_boxes(path: Path) -> list[dict]:
    """ROI boxes from a csv (:data:`BOX_COLUMNS`, optional ``kind``): what a reader draws as Markups ROIs."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as error:
        raise InputError(f"cannot read ROI boxes ({error})", path) from None
    missing = [c for c in BOX_COLUMNS if not rows or c not in rows[0]]
    if missing:
        raise InputError(f"ROI boxes need the columns {', '.join(BOX_COLUMNS)} (missing {', '.join(missing)})", path)
    boxes = []
    for number, row in enumerate(rows, start=2):
        try:
            centre = np.array([float(row[c]) for c in BOX_COLUMNS[1:4]])
            size = np.array([float(row[c]) for c in BOX_COLUMNS[4:]])
        except ValueError as error:
            raise InputError(f"line {number}: {error}", path) from None
        if not (np.all(np.isfinite(centre)) and np.all(size > 0)):
            raise InputError(f"line {number}: a box needs a finite centre and positive sizes", path)
        boxes.append({"roi": row["roi"].strip() or f"box {number - 1}", "kind": (row.get("kind") or "").strip(),
                      "centre": centre, "size": size})
    return boxes


@dataclass
class RoiStats:
    """One ROI on one map: its name and description, the map kind (T1 / T2 / PD) and protocol (fast, DL,
    routine, ...), voxel count, volume (mm³), and mean, sample SD and median in the map's unit (ms or %)."""

    roi: str
    description: str
    map: str
    protocol: str
    voxels: int
    volume_mm3: float
    mean: float
    sd: float
    median: float


def region_stats(qmap: QuantMap, mask: np.ndarray, roi: str, protocol: str, description: str = "") -> RoiStats:
    """Statistics of ``qmap`` inside ``mask`` (bool, ``qmap``'s shape); an empty mask gives 0 voxels and NaNs."""
    values = qmap.array[mask]
    voxel_mm3 = float(np.prod(qmap.spacing))
    if values.size == 0:
        nan = float("nan")
        return RoiStats(roi, description, qmap.kind.value, protocol, 0, 0.0, nan, nan, nan)
    return RoiStats(
        roi=roi,
        description=description,
        map=qmap.kind.value,
        protocol=protocol,
        voxels=int(values.size),
        volume_mm3=values.size * voxel_mm3,
        mean=float(values.mean(dtype=np.float64)),
        sd=float(values.std(dtype=np.float64, ddof=1)) if values.size > 1 else 0.0,
        median=float(np.median(values)),
    )


def measure_labels(
    labels: QuantMap,
    volumes: dict[str, list[QuantMap]],
    names: dict[int, tuple[str, str]] | None = None,
) -> list[RoiStats]:
    """Statistics of every label on every volume; ``volumes`` maps protocol → maps (T1/T2/PD).

    ``names`` gives (roi name, description) per label value; defaults to "ROI n".

    Args:
        labels: the label map (lesions, regions) on any grid, carried to each map by physical position.
        volumes: protocol → its maps, e.g. {"fast": [T1, T2, PD], "DL": [...], "routine": [...]}.
        names: label value → (roi name, description).

    Returns:
        One row per protocol, map and label (in that order), values in each map's unit.
    """
    values = sorted(int(v) for v in np.unique(np.rint(labels.array)) if v > 0)
    rows: list[RoiStats] = []
    for protocol, maps in volumes.items():
        for qmap in maps:
            grid = labels_on_grid(labels, qmap)
            for value in values:
                roi, description = (names or {}).get(value, (f"ROI {value}", ""))
                rows.append(region_stats(qmap, grid == value, roi, protocol, description))
    return rows


def write_stats_csv(rows: list[RoiStats], path: str | Path) -> Path:
    """The rows as a CSV (one column per :class:`RoiStats` field, floats to 4 decimals), atomically."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(RoiStats.__dataclass_fields__))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in asdict(row).items()})
    return path


def paired_tests(rows: list[RoiStats], reference: str = "routine") -> list[dict]:
    """Per map and protocol, a paired t-test of the ROI means against the ``reference`` protocol's.

    Args:
        rows: ROI statistics of several protocols (e.g. fast, DL, routine) and maps; ROIs are paired by name,
            empty ROIs (0 voxels) left out.
        reference: the protocol every other one is compared with.

    Returns:
        One dict per (map, protocol ≠ reference): ``map``, ``comparison`` ("DL vs routine"), ``rois`` (pairs),
        ``mean_difference`` (map units, ms or %), ``t`` and ``p`` (NaN with fewer than 2 pairs or no difference);
        a map without the reference protocol gets none.
    """
    results = []
    for map_name in dict.fromkeys(r.map for r in rows):
        by_protocol: dict[str, dict[str, float]] = {}
        for r in rows:
            if r.map == map_name and r.voxels > 0:
                by_protocol.setdefault(r.protocol, {})[r.roi] = r.mean
        if reference not in by_protocol:
            continue
        for protocol, means in by_protocol.items():
            if protocol == reference:
                continue
            shared = sorted(set(means) & set(by_protocol[reference]))
            a = np.array([means[k] for k in shared])
            b = np.array([by_protocol[reference][k] for k in shared])
            entry = {"map": map_name, "comparison": f"{protocol} vs {reference}", "rois": len(shared),
                     "mean_difference": float(np.mean(a - b)) if shared else float("nan"),
                     "t": float("nan"), "p": float("nan")}
            if len(shared) >= 2 and np.any(a != b):
                test = paired_t_test(a, b)  # the same function the analysis report uses
                entry["t"], entry["p"] = test.t, test.p
            results.append(entry)
    return results
