"""Batch super-resolution of many studies: one failing study is reported and skipped, finished studies
are skipped on a re-run (resumable), and a study's outputs appear complete or not at all."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CancelledError, InputError, QuantSRError
from .io.atomic import atomic_directory
from .io.loader import load_maps
from .io.outputs import plan_outputs
from .io.writers import write_map
from .pipeline import SRJob, super_resolve_maps

log = logging.getLogger("quantsr.batch")
COMPLETE_MARKER = "quantsr-study.json"


@dataclass
class StudyResult:
    study: str
    status: str  # "done", "skipped" (already complete) or "failed"
    reason: str = ""
    outputs: list[str] = field(default_factory=list)
    seconds: float = 0.0


def find_studies(root: str | Path) -> list[Path]:
    """The study folders directly under ``root`` (each holds one study's DICOM or map files)."""
    root = Path(root)
    if not root.is_dir():
        raise InputError("not a folder of studies", root)
    studies = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not studies:
        raise InputError("has no study sub-folders", root)
    return studies


def run_batch(root: str | Path, output: str | Path, job: SRJob, fmt: str = "dicom",
              on_study: Callable[[StudyResult], None] | None = None) -> list[StudyResult]:
    output = Path(output)
    results = []
    for study in find_studies(root):
        started = time.perf_counter()
        target = output / study.name
        if (target / COMPLETE_MARKER).is_file():
            result = StudyResult(study.name, "skipped", "already complete")
        else:
            try:
                result = _run_study(study, target, job, fmt)
            except (CancelledError, KeyboardInterrupt):
                raise
            except QuantSRError as exc:
                result = StudyResult(study.name, "failed", str(exc))
                log.error("%s: %s", study.name, exc)
        result.seconds = time.perf_counter() - started
        results.append(result)
        if on_study:
            on_study(result)
    return results


def _run_study(study: Path, target: Path, job: SRJob, fmt: str) -> StudyResult:
    maps = load_maps(study)
    results = super_resolve_maps(maps, job)
    with atomic_directory(target) as tmp:  # the study folder appears whole, or a re-run redoes it
        names = []
        for source, result, path in zip(maps, results, plan_outputs(tmp, maps, job.method, fmt), strict=True):
            write_map(result, path, derived_from=source)
            names.append(path.name)
        (tmp / COMPLETE_MARKER).write_text(json.dumps({"study": study.name, "method": job.method,
                                                       "outputs": names}, indent=1))
    return StudyResult(study.name, "done", outputs=names)


def summary_table(results: list[StudyResult]) -> str:
    done = sum(r.status == "done" for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    failed = [r for r in results if r.status == "failed"]
    lines = [f"{len(results)} studies: {done} done, {skipped} already complete, {len(failed)} failed"]
    if failed:
        width = max(len(r.study) for r in failed)
        lines.append(f"{'failed study'.ljust(width)}  reason")
        lines += [f"{r.study.ljust(width)}  {r.reason}" for r in failed]
    return "\n".join(lines)
