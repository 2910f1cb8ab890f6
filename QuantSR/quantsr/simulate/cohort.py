"""Simulate a cohort: N healthy subjects and M patients, reproducibly from one seed, resumable."""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
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


def _simulate_and_write(subject_id: str, group: str, subject_seed: int, lesions: int, config: SimulationConfig,
                        output: Path) -> list[ManifestRow]:
    """One subject, simulated and written (a worker process's job: module level, so it can be pickled)."""
    return write_subject(simulate_subject(subject_id, subject_seed, lesions, config), output, group)


def _single_threaded_worker() -> None:
    """Worker processes share the cores: one SimpleITK thread each instead of one per core each."""
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)


def simulate_cohort(output: Path, healthy: int, patients: int, seed: int, config: SimulationConfig | None = None,
                    progress: Callable[[int, int, str], None] | None = None, max_lesions: int = 4,
                    workers: int = 1) -> Path:
    """Simulate and write the cohort; subjects already complete in ``output`` are kept, not redone.
    Each patient gets 1 to ``max_lesions`` lesions. ``workers`` > 1 simulates that many subjects at once in
    separate processes; every subject depends only on its own seed, so the cohort is the same either way.

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
    rows_of: dict[str, list[ManifestRow]] = {}
    for subject_id, _, subject_seed, _ in plan:
        existing = read_subject_rows(Path(output) / subject_id, subject_seed)
        if existing is not None:
            log.info("%s: already simulated, kept", subject_id)
            rows_of[subject_id] = existing
    missing = [entry for entry in plan if entry[0] not in rows_of]

    def done(subject_id: str) -> None:
        if progress:
            progress(len(rows_of), len(plan), subject_id)

    for subject_id in list(rows_of):
        done(subject_id)
    if workers > 1 and len(missing) > 1:
        # spawn, not fork: a forked SimpleITK thread pool can deadlock
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(workers, len(missing)), mp_context=context,
                                 initializer=_single_threaded_worker) as pool:
            futures = {pool.submit(_simulate_and_write, *entry, config, Path(output)): entry[0] for entry in missing}
            for future in as_completed(futures):
                rows_of[futures[future]] = future.result()
                done(futures[future])
    else:
        for entry in missing:
            rows_of[entry[0]] = _simulate_and_write(*entry, config, Path(output))
            done(entry[0])
    rows = [row for subject_id, *_ in plan for row in rows_of[subject_id]]
    description = {
        "seed": seed, "healthy": healthy, "patients": patients, "max_lesions": max_lesions,
        "subjects": [{"subject": s, "group": g, "seed": sd, "lesions": n} for s, g, sd, n in plan],
        "config": {k: v for k, v in asdict(config).items() if k not in ("protocols", "lesion_kinds", "timing")},
        "protocols": [asdict(p) for p in config.protocols],
        "timing": asdict(config.timing),
        "lesion_kinds": [asdict(k) for k in config.lesion_kinds],
    }
    return write_manifest(rows, Path(output), description)
