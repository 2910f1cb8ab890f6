"""Paired fast / routine maps per subject: from a simulator cohort or a user's manifest CSV, routine
(optionally rigidly registered) resampled onto the fast map's ×2 grid so LR and HR slices pair by
physical position. A model with guide maps also gets the subject's other fast maps, on the fast map's grid.
Subjects that cannot be paired are reported, never guessed."""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from quantsr.errors import InputError, QuantSRError
from quantsr.geometry import upsampled_like
from quantsr.guides import on_grid_of
from quantsr.io.loader import load_maps
from quantsr.mapkinds import MapKind
from quantsr.volume import QuantMap

log = logging.getLogger("quantsr.training")


@dataclass(frozen=True)
class SubjectSource:
    subject: str
    fast: Path
    routine: Path
    group: str = ""
    guides: tuple[Path, ...] = ()  # the same subject's fast maps of the guide kinds, in their order


@dataclass
class PairedSubject:
    subject: str
    fast: QuantMap  # LR, physical units
    routine: QuantMap  # HR on the fast map's ×2 grid, physical units
    group: str = ""
    guides: tuple[QuantMap, ...] = ()  # the guide kinds' fast maps on the fast map's grid, physical units


def read_sources(cohort: str | Path, kind: MapKind, guides: tuple[MapKind, ...] = ()) -> list[SubjectSource]:
    """Subjects with a fast and a routine series of ``kind`` (and a fast series of each ``guides`` kind): a cohort
    folder's manifest.csv (simulator layout) or a CSV with columns subject, map, fast, routine (paths relative to
    the CSV)."""
    path = Path(cohort)
    manifest = path / "manifest.csv" if path.is_dir() else path
    if not manifest.is_file():
        raise InputError("no manifest.csv here: give a simulator cohort folder or a manifest CSV", path)
    base = manifest.parent
    with open(manifest, newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = set(rows[0]) if rows else set()
    sources: dict[str, dict[str, str]] = {}
    fast_of: dict[tuple[str, str], str] = {}  # (subject, map) → fast path, for the guides
    if {"subject", "map", "protocol", "path"} <= columns:  # simulator layout
        for row in rows:
            if row["protocol"] == "fast":
                fast_of[row["subject"], row["map"].upper()] = row["path"]
            if row["map"] == kind.value and row["protocol"] in ("fast", "routine"):
                sources.setdefault(row["subject"], {"group": row.get("group", "")})[row["protocol"]] = row["path"]
    elif {"subject", "map", "fast", "routine"} <= columns:
        for row in rows:
            fast_of[row["subject"], row["map"].upper()] = row["fast"]
            if row["map"].upper() == kind.value:
                sources[row["subject"]] = {"fast": row["fast"], "routine": row["routine"],
                                           "group": row.get("group", "")}
    else:
        raise InputError("needs columns subject,map,protocol,path (simulator) or subject,map,fast,routine",
                         manifest)
    result = []
    for subject, entry in sorted(sources.items()):
        if "fast" not in entry or "routine" not in entry:
            raise InputError(f"subject {subject} lacks a fast or routine {kind.value} entry", manifest)
        missing = [g.value for g in guides if (subject, g.value) not in fast_of]
        if missing:
            raise InputError(f"subject {subject} lacks a fast {' and '.join(missing)} map (a guide map)", manifest)
        result.append(SubjectSource(subject, base / entry["fast"], base / entry["routine"], entry.get("group", ""),
                                    tuple(base / fast_of[subject, g.value] for g in guides)))
    if not result:
        raise InputError(f"lists no subject with {kind.value} maps", manifest)
    return result


def pair_subject(source: SubjectSource, kind: MapKind, scale: int = 2, register: bool = False,
                 guides: tuple[MapKind, ...] = ()) -> PairedSubject:
    """Load a subject's fast and routine maps and put routine on the fast map's ×``scale`` grid (and the
    ``guides`` kinds' fast maps, ``source.guides``, on the fast map's grid)."""
    (fast,) = load_maps(source.fast, kind=kind)
    (routine,) = load_maps(source.routine, kind=kind)
    guide_maps = tuple(on_grid_of(fast, load_maps(path, kind=g)[0])
                       for path, g in zip(source.guides, guides, strict=True))
    k, j, i = fast.shape
    target = upsampled_like(fast, np.zeros((k, j * scale, i * scale), np.float32), scale)
    if routine.same_geometry(target) and not register:
        return PairedSubject(source.subject, fast, routine, source.group, guide_maps)
    overlap = _slice_overlap(fast, routine)
    if overlap < 0.9:
        raise QuantSRError(f"fast and routine cover different slabs ({overlap:.0%} overlap)", source.routine)
    transform = register_rigid(fast, routine) if register else sitk.Transform()
    resampled = sitk.Resample(routine.to_sitk(), target.to_sitk(), transform, sitk.sitkLinear, 0.0,
                              sitk.sitkFloat32)
    paired = QuantMap.from_sitk(resampled, kind, routine.metadata)
    return PairedSubject(source.subject, fast, paired, source.group, guide_maps)


def _slice_overlap(fast: QuantMap, routine: QuantMap) -> float:
    def extent(qmap: QuantMap) -> tuple[float, float]:
        z = qmap.index_to_physical([[0, 0, 0], [0, 0, qmap.shape[0] - 1]]) @ fast.direction[:, 2]
        half = qmap.spacing[2] / 2
        return float(min(z) - half), float(max(z) + half)

    (a0, a1), (b0, b1) = extent(fast), extent(routine)
    return max(0.0, min(a1, b1) - max(a0, b0)) / (a1 - a0)


def register_rigid(fixed: QuantMap, moving: QuantMap) -> sitk.Transform:
    """Rigid (Euler 3-D) registration of ``moving`` onto ``fixed`` by Mattes mutual information."""
    fixed_image, moving_image = fixed.to_sitk(), moving.to_sitk()
    initial = sitk.CenteredTransformInitializer(fixed_image, moving_image, sitk.Euler3DTransform(),
                                                sitk.CenteredTransformInitializerFilter.MOMENTS)
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=50)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(0.05, seed=1)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=1e-3, numberOfIterations=150)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([4, 2, 1])
    method.SetSmoothingSigmasPerLevel([2, 1, 0])
    method.SetInitialTransform(initial, inPlace=False)
    transform = method.Execute(fixed_image, moving_image)
    log.info("registered routine to fast: metric %.4f after %d iterations", method.GetMetricValue(),
             method.GetOptimizerIteration())
    return transform


def pair_all(sources: list[SubjectSource], kind: MapKind, scale: int = 2, register: bool = False,
             guides: tuple[MapKind, ...] = ()) -> tuple[list[PairedSubject], list[tuple[str, str]]]:
    """Paired subjects and (subject, reason) for those that failed."""
    paired, failed = [], []
    for source in sources:
        try:
            paired.append(pair_subject(source, kind, scale, register, guides))
        except QuantSRError as exc:
            failed.append((source.subject, str(exc)))
            log.warning("subject %s not paired: %s", source.subject, exc)
    return paired, failed

