"""The main job on embedded data: simulate one patient, super-resolve its fast maps, measure its lesions
on fast / DL / routine (and the truth), and write DICOM, a CSV table and a side-by-side figure."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .engine import EngineOptions
from .io.loader import load_maps
from .io.writers import write_map
from .mapkinds import QUANT_KINDS
from .methods import BICUBIC, DL, method_label
from .modelfile import find_bundled_model
from .roi import RoiStats, labels_on_grid, measure_labels, write_stats_csv
from .simulate.subject import simulate_subject
from .simulate.writer import write_subject
from .srjob import SRJob, super_resolve_maps
from .volume import QuantMap

log = logging.getLogger("quantsr.demo")

NO_MODEL_NOTICE = (
    "NO BUNDLED MODELS FOUND: the demo upsampled the fast maps with BICUBIC interpolation, not the SRGAN. "
    "Train or install models (Resources/Models/quantsr_{t1,t2,pd}.safetensors) to see deep-learning output."
)


@dataclass
class DemoResult:
    output: Path
    method: str
    subject_dir: Path
    sr_dirs: list[Path]
    table: Path
    figure: Path
    rows: list[RoiStats]
    notices: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    flags: dict[tuple[str, str], str] = field(default_factory=dict)  # (ROI, map) → the DL value's trust flag


def run_demo(output: Path, seed: int = 2026, lesions: int = 3, device: str = "auto",
             step: Callable[[str], None] | None = None) -> DemoResult:
    import time

    from .figures import comparison_figure

    say = step or (lambda message: None)
    output = Path(output)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    say("simulating one patient (fast and routine MDME acquisitions) ...")
    subject = simulate_subject("sub-001", seed, lesions)
    subject_dir = output / "input" / subject.subject_id
    if subject_dir.exists():
        import shutil

        shutil.rmtree(subject_dir)
    write_subject(subject, output / "input", "patient")
    seconds["simulate"] = time.perf_counter() - started

    fast = load_maps(subject_dir / "dicom" / "fast")  # read back as a user's DICOM would be
    routine = load_maps(subject_dir / "dicom" / "routine")
    have_models = all(find_bundled_model(m.kind) is not None for m in fast)
    method = DL if have_models else BICUBIC
    notices = [] if have_models else [NO_MODEL_NOTICE]
    for notice in notices:
        log.warning(notice)
    say(f"super-resolving {sum(m.shape[0] for m in fast)} fast slices with {method} ...")
    started = time.perf_counter()
    sr = super_resolve_maps(fast, SRJob(method, options=EngineOptions(device=device)))
    seconds["super-resolve"] = time.perf_counter() - started
    tag = method_label(method)
    sr_dirs = []
    for source, result in zip(fast, sr, strict=True):
        sr_dirs.append(write_map(result, output / "sr_dicom" / f"{result.kind.value}_{tag}", derived_from=source))

    labels = subject.labels
    names = {lesion.label: (f"L{lesion.label}", lesion.kind) for lesion in subject.lesions}
    truth = [subject.truth[k] for k in QUANT_KINDS]
    rows = measure_labels(labels, {"fast": fast, tag: sr, "routine": routine, "truth": truth}, names)
    flags = lesion_flags(labels, {v: roi for v, (roi, _kind) in names.items()}, fast, sr) if have_models else {}
    table = write_stats_csv(rows, output / "lesion_rois.csv")
    z_mm = _slice_through_largest_lesion(labels)
    columns = [("fast", fast), (tag, sr), ("routine", routine)]
    figure_rows = [[(label, maps[i]) for label, maps in columns] for i in range(len(fast))]
    figure = comparison_figure(figure_rows, z_mm, output / "comparison.png",
                               title=f"Simulated patient (seed {seed}): fast | {tag} | routine, z = {z_mm:.1f} mm",
                               overlay=[labels] * len(figure_rows))  # lesion outlines (512² columns)
    return DemoResult(output, method, subject_dir, sr_dirs, table, figure, rows, notices, seconds, flags)


def lesion_flags(labels: QuantMap, names: dict[int, str], fast: list[QuantMap], sr: list[QuantMap]
                 ) -> dict[tuple[str, str], str]:
    """The trust flag of each lesion's DL value per map (quantsr.reliability): "ok" or its reasons."""
    from .reliability import roi_reliability
    from .trust import deviation

    flags = {}
    for source, result in zip(fast, sr, strict=True):
        trust = deviation(result, source)
        grid = labels_on_grid(labels, result)
        for value, roi in names.items():
            flags[roi, result.kind.value] = roi_reliability(trust, grid == value, result.array).flag()
    return flags


def _slice_through_largest_lesion(labels: QuantMap) -> float:
    counts = (labels.array > 0).sum(axis=(1, 2))
    k = int(np.argmax(counts)) if counts.any() else labels.shape[0] // 2
    return float(labels.index_to_physical([0, 0, k])[0] @ labels.direction[:, 2])


def lesion_summary(rows: list[RoiStats], flags: dict[tuple[str, str], str] | None = None) -> str:
    """A table: one line per lesion and map, mean value per protocol (and the DL value's trust flag)."""
    protocols = list(dict.fromkeys(r.protocol for r in rows))
    by_key: dict[tuple[str, str, str], dict[str, float]] = {}
    for r in rows:
        by_key.setdefault((r.roi, r.description, r.map), {})[r.protocol] = r.mean
    header = f"{'ROI':<4} {'kind':<17} {'map':<3} " + " ".join(f"{p:>9}" for p in protocols)
    lines = [header + ("  DL trust flag" if flags else "")]
    for (roi, kind, map_name), values in by_key.items():
        line = f"{roi:<4} {kind:<17} {map_name:<3} " + " ".join(f"{values.get(p, float('nan')):9.1f}"
                                                               for p in protocols)
        lines.append(line + (f"  {flags.get((roi, map_name), '')}" if flags else ""))
    return "\n".join(lines)
