"""Held-out evaluation: PSNR / SSIM against routine (``quantsr.quality``), GM / WM mean bias against
routine, and (simulated cohorts) error against the phantom truth — for linear- and bicubic-upsampled fast
maps and for DL."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import numpy as np

from quantsr.baselines import upsample
from quantsr.engine import SuperResolver
from quantsr.io.atomic import atomic_path
from quantsr.io.images import read_image
from quantsr.mapkinds import MapKind
from quantsr.methods import BICUBIC, DL, LINEAR, method_label
from quantsr.quality import DEFAULT_SSIM_CONVENTION, SSIM_CONVENTIONS, image_scores
from quantsr.srjob import EngineOptions
from quantsr.volume import QuantMap

from .pairs import PairedSubject, pair_subject, read_sources

#: The compared methods by their labels (quantsr.methods): "linear", "bicubic", "DL".
METHODS = tuple(method_label(m) for m in (LINEAR, BICUBIC, DL))


def tissue_masks(cohort: Path, subject: str, like: QuantMap) -> dict[str, np.ndarray] | None:
    """GM / WM masks (pure tissue, no lesion) from a simulated subject's truth, on ``like``'s grid."""
    truth = cohort / subject / "truth"
    if not (truth / "GM.nrrd").exists():
        return None
    gm, wm = read_image(truth / "GM.nrrd"), read_image(truth / "WM.nrrd")
    labels = read_image(truth / "labels.nrrd")
    if not gm.same_geometry(like):
        return None
    healthy = labels.array == 0
    return {"GM": (gm.array >= 0.9) & healthy, "WM": (wm.array >= 0.95) & healthy,
            "brain": (gm.array + wm.array) > 0.5}


def evaluate_subject(paired: PairedSubject, resolver: SuperResolver | None, cohort: Path,
                     ssim_convention: str = DEFAULT_SSIM_CONVENTION) -> dict:
    kind = paired.fast.kind
    outputs = {method_label(m): upsample(paired.fast, 2, m) for m in (LINEAR, BICUBIC)}
    if resolver is not None:
        outputs[method_label(DL)] = resolver.run(paired.fast, guides={g.kind: g for g in paired.guides})
    routine = paired.routine.array
    result: dict = {"subject": paired.subject, "map": kind.value, "methods": {}}
    masks = tissue_masks(cohort, paired.subject, paired.routine)
    truth_path = cohort / paired.subject / "truth" / f"{kind.value}.nrrd"
    truth = read_image(truth_path).array if truth_path.exists() else None
    for name, qmap in outputs.items():
        entry = image_scores(qmap.array, routine, kind.norm_physical, ssim_convention).__dict__
        if masks:
            for tissue in ("GM", "WM"):
                mean_method = float(qmap.array[masks[tissue]].mean())
                mean_routine = float(routine[masks[tissue]].mean())
                entry[f"{tissue}_mean"] = mean_method
                entry[f"{tissue}_routine"] = mean_routine
                entry[f"{tissue}_bias_pct"] = 100 * (mean_method - mean_routine) / mean_routine
            if truth is not None:
                brain = masks["brain"]
                entry["rmse_truth"] = float(np.sqrt(np.mean((qmap.array[brain] - truth[brain]) ** 2)))
        result["methods"][name] = entry
    if masks and truth is not None:
        brain = masks["brain"]
        result["routine_rmse_truth"] = float(np.sqrt(np.mean((routine[brain] - truth[brain]) ** 2)))
    return result


def evaluate(models: dict[MapKind, Path | None], cohort: str | Path, subjects: list[str],
             options: EngineOptions | None = None, ssim_convention: str = DEFAULT_SSIM_CONVENTION) -> dict:
    """Scores per subject and their summary; the report records its SSIM convention (every table says)."""
    cohort = Path(cohort)
    per_subject = []
    for kind, model in models.items():
        resolver = SuperResolver.from_file(model, options) if model else None
        guides = resolver.info.guide_kinds if resolver else ()
        for source in read_sources(cohort, kind, guides):
            if source.subject in subjects:
                per_subject.append(evaluate_subject(pair_subject(source, kind, guides=guides), resolver, cohort,
                                                    ssim_convention))
    return {"subjects": subjects, "ssim_convention": ssim_convention, "per_subject": per_subject,
            "summary": summarise(per_subject)}


def summarise(per_subject: list[dict]) -> list[dict]:
    rows = []
    for kind in dict.fromkeys(r["map"] for r in per_subject):
        entries = [r for r in per_subject if r["map"] == kind]
        for method in METHODS:
            values = [e["methods"][method] for e in entries if method in e["methods"]]
            if not values:
                continue
            row = {"map": kind, "method": method, "subjects": len(values)}
            for key in values[0]:
                row[key] = statistics.fmean(v[key] for v in values)
            rows.append(row)
    return rows


def markdown_table(summary: list[dict], ssim_convention: str = DEFAULT_SSIM_CONVENTION) -> str:
    """The summary as a Markdown table whose SSIM columns and footnote name the SSIM convention."""
    columns = [("psnr", "PSNR per volume (dB, L=65535)"), ("ssim", f"SSIM ({ssim_convention}, L=65535)"),
               ("psnr_head", "PSNR head (dB)"), ("ssim_head", f"SSIM head ({ssim_convention})"),
               ("GM_bias_pct", "GM bias vs routine (%)"),
               ("WM_bias_pct", "WM bias vs routine (%)"), ("rmse_truth", "RMSE vs truth")]
    present = [(k, title) for k, title in columns if any(k in row for row in summary)]
    lines = ["| map | method | n | " + " | ".join(t for _, t in present) + " |",
             "|---|---|---|" + "---|" * len(present)]
    for row in summary:
        cells = [f"{row[k]:.4f}" if k.startswith("ssim") else f"{row[k]:.2f}" if k in row else "–"
                 for k, _ in present]
        lines.append(f"| {row['map']} | {row['method']} | {row['subjects']} | " + " | ".join(cells) + " |")
    lines.append(f"\nSSIM per slice, averaged; convention '{ssim_convention}': {SSIM_CONVENTIONS[ssim_convention]}.")
    return "\n".join(lines)


def write_report(report: dict, output: Path) -> tuple[Path, Path]:
    output.mkdir(parents=True, exist_ok=True)
    json_path, md_path = output / "evaluation.json", output / "evaluation.md"
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(report, indent=1))
    with atomic_path(md_path) as tmp:
        tmp.write_text(markdown_table(report["summary"], report.get("ssim_convention", DEFAULT_SSIM_CONVENTION))
                       + "\n")
    with atomic_path(output / "evaluation.csv") as tmp, open(tmp, "w", newline="") as handle:
        keys = sorted({k for row in report["summary"] for k in row})
        writer = csv.DictWriter(handle, fieldnames=keys)
        writer.writeheader()
        writer.writerows(report["summary"])
    return json_path, md_path
