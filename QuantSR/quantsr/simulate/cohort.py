"""Simulate a cohort: N healthy subjects and M patients, reproducibly from one seed, resumable."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .subject import SimulationConfig, simulate_subject
from .writer import ManifestRow, read_subject_rows, write_manifest, write_subject

log = logging.getLogger("quantsr.simulate")


def subject_plan(healthy: int, patients: int, seed: int, max_lesions: int = 4) -> list[tuple[str, str, int, int]]:
    """(subject id, group, subject seed, lesion count) for every subject; depends only on the arguments."""
    sequence = np.random.SeedSequence(seed)
    seeds = [int(child.generate_state(1)[0]) for child in sequence.spawn(healthy + patients)]
    counts = np.random.default_rng(seed).integers(1, max_lesions + 1, patients)
    plan = []
    for index, subject_seed in enumerate(seeds):
        patient = index >= healthy
        lesions = int(counts[index - healthy]) if patient else 0
        plan.append((f"sub-{index + 1:03d}", "patient" if patient else "healthy", subject_seed, lesions))
    return plan


def simulate_cohort(output: Path, healthy: int, patients: int, seed: int, config: SimulationConfig | None = None,
                    progress: Callable[[int, int, str], None] | None = None, max_lesions: int = 4) -> Path:
    """Simulate and write the cohort; subjects already complete in ``output`` are kept, not redone.
    Each patient gets 1 to ``max_lesions`` lesions.

    Args:
        output: the cohort folder: one folder per subject (``sub-001``, ...; :func:`writer.write_subject`),
            ``manifest.csv`` and ``cohort.json``.
        healthy: subjects without lesions (``sub-001`` ... first); ``patients``: subjects with lesions.
        seed: the cohort's seed: the same arguments give the same cohort, subject by subject.
        config: the simulation (grids, noise, protocols, lesion kinds, anatomy); the paper's by default.
        progress: called with (subjects done, subjects, subject id) after each subject.
        max_lesions: each patient's lesion count is drawn from 1 to this.

    Returns:
        The path of ``manifest.csv`` (``subject, group, map, protocol, format, path``).
    """
    config = config or SimulationConfig()
    plan = subject_plan(healthy, patients, seed, max_lesions)
    rows: list[ManifestRow] = []
    for done, (subject_id, group, subject_seed, lesions) in enumerate(plan):
        existing = read_subject_rows(Path(output) / subject_id, subject_seed)
        if existing is not None:
            log.info("%s: already simulated, kept", subject_id)
            rows.extend(existing)
        else:
            subject = simulate_subject(subject_id, subject_seed, lesions, config)
            rows.extend(write_subject(subject, Path(output), group))
        if progress:
            progress(done + 1, len(plan), subject_id)
    description = {
        "seed": seed, "healthy": healthy, "patients": patients, "max_lesions": max_lesions,
        "subjects": [{"subject": s, "group": g, "seed": sd, "lesions": n} for s, g, sd, n in plan],
        "config": {k: v for k, v in asdict(config).items() if k not in ("protocols", "lesion_kinds", "timing")},
        "protocols": [asdict(p) for p in config.protocols],
        "timing": asdict(config.timing),
        "lesion_kinds": [asdict(k) for k in config.lesion_kinds],
    }
    return write_manifest(rows, Path(output), description)
