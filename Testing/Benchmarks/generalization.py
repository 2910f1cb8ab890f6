"""Generalization protocol (issue 16, docs/generalization.md): DL / bicubic / fast / routine against the
phantom truth and against routine on simulated cohorts the models never saw — individual-looking anatomy
(``quantsr simulate --anatomy folded``) and lesion families absent from training. Prints Markdown and writes
every ROI to JSON.

    .venv/bin/python Testing/Benchmarks/generalization.py --cohort /work/data/val_folded \\
        --models Resources/Models --cache /work/data/dl_cache --json val.json > val.md

Run it on the validation cohorts while choosing a recipe; on the test cohorts once, for the final numbers.
``--lesions-only`` measures the lesions alone and prints the trust-flag tables (the flag's threshold choice).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from quantsr.consistency import DEFAULT_EPS, fast_consistent
from quantsr.engine import EngineOptions, SuperResolver, consistency_forward, consistency_sigma
from quantsr.mapkinds import MapKind
from quantsr.srjob import FORWARD_MODELS
from quantsr_training.generalization import (
    ImageRow,
    Roi,
    flag_sweep,
    lesion_rois,
    load_subject,
    measure_subject,
    summarise,
    trust_sweep,
    write_json,
)
from quantsr_training.pairs import read_sources

ROOT = Path(__file__).resolve().parents[2]


def add_cohort_arguments(parser: argparse.ArgumentParser) -> None:
    """--cohort, --models, --maps, --cache: what this protocol's scripts share (edge_profile.py, self_ensemble.py)."""
    parser.add_argument("--cohort", type=Path, action="append", required=True, help="simulated cohort (repeatable)")
    parser.add_argument("--models", type=Path, default=ROOT / "Resources" / "Models",
                        help="folder with quantsr_{t1,t2,pd}.safetensors (default: the bundled models)")
    parser.add_argument("--maps", nargs="+", default=["T1", "T2", "PD"])
    parser.add_argument("--cache", type=Path, help="cache DL outputs here (one file per model, subject, map)")


def raw_resolver(models: Path, kind: MapKind) -> tuple[Path, SuperResolver]:
    """``kind``'s model file in ``models`` and its raw network: the consistency step, if asked for, is applied after
    the DL cache (``cached_dl``), so the cache holds the network's own output whatever the setting."""
    path = models / f"quantsr_{kind.value.lower()}.safetensors"
    return path, SuperResolver.from_file(path, EngineOptions(fast_consistency_mm=0.0))


def cohort_subjects(cohorts: list[Path], kind: MapKind) -> Iterator[tuple[Path, str]]:
    """(cohort, subject) of every subject with ``kind`` maps in ``cohorts``, in order."""
    for cohort in cohorts:
        for source in read_sources(cohort, kind):
            yield cohort, source.subject


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_cohort_arguments(parser)
    parser.add_argument("--json", type=Path, help="write every ROI and the summary here")
    parser.add_argument("--fast-consistency", default="0", metavar="MM",
                        help="apply the fast-scan consistency step with this σ in mm to the network output "
                        "(quantsr.consistency; 0: the raw network output; 'model': each model's own σ, as `quantsr sr` "
                        "does by default)")
    parser.add_argument("--fast-consistency-eps", type=float, default=DEFAULT_EPS,
                        help=f"its guided filter's edge threshold (default {DEFAULT_EPS:g}; 0: plain Gaussian)")
    parser.add_argument("--fast-consistency-forward", choices=FORWARD_MODELS, default=None,
                        help="the step's forward model (default: each model's own, else identity)")
    parser.add_argument("--lesions-only", action="store_true",
                        help="measure lesions only and print the trust-flag tables (no tissues, regions, images)")
    args = parser.parse_args()
    eps = args.fast_consistency_eps
    rois: list[Roi] = []
    images: list[ImageRow] = []
    models = {}
    for name in args.maps:
        kind = MapKind.parse(name)
        path, resolver = raw_resolver(args.models, kind)
        sigma = consistency_sigma(None if args.fast_consistency == "model" else float(args.fast_consistency),
                                  resolver.info)
        forward = consistency_forward(args.fast_consistency_forward, resolver.info)
        postprocess = ((lambda dl, fast, s=sigma, f=forward: fast_consistent(dl, fast, s, eps or None, f))
                       if sigma > 0 else None)
        models[kind.value] = {"file": str(path), "sha256": resolver.info.weights_sha256, "consistency_mm": sigma,
                              "consistency_forward": forward}
        for cohort, subject in cohort_subjects(args.cohort, kind):
            started = time.perf_counter()
            if args.lesions_only:
                rois += lesion_rois(cohort, load_subject(cohort, subject, kind, resolver, args.cache, postprocess))
            else:
                found, image = measure_subject(cohort, subject, kind, resolver, args.cache, postprocess)
                rois += found
                images.append(image)
            print(f"  {cohort.name}/{subject} {kind.value}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    sigmas = {name: model["consistency_mm"] for name, model in models.items()}
    consistency = ("raw network output" if not any(sigmas.values()) else "fast-scan consistency σ = "
                   + ", ".join(f"{sigma:g} mm ({name})" for name, sigma in sigmas.items()) + f", ε = {eps:g}, "
                   + "forward model " + ", ".join(f"{m['consistency_forward']} ({n})" for n, m in models.items()))
    if args.lesions_only:
        if args.json:
            write_json(args.json, rois, images, {})
        print(flag_markdown(rois, models, [str(c) for c in args.cohort], consistency))
        return 0
    summary = summarise(rois, images)
    if args.json:
        write_json(args.json, rois, images, summary)
    print(markdown(summary, models, [str(c) for c in args.cohort], consistency))
    return 0


def table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    lines = ["| " + " | ".join(title for _, title in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(key, row.get(key)) for key, _ in columns) + " |")
    return "\n".join(lines)


def _cell(key: str, value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if not isinstance(value, float):
        return str(value)
    if "_vs_" in key or key.startswith("worst"):
        return f"{value:+.2f}"  # signed errors (%)
    if key.startswith(("ssim", "r2", "slope", "sensitivity", "false", "DL_not", "sign_p")):
        return f"{value:.3f}" if not key.startswith("ssim") else f"{value:.4f}"
    return f"{value:.2f}"


def markdown(summary: dict, models: dict, cohorts: list[str], consistency: str) -> str:
    vs = [(f"{m}_vs_routine", f"{m} vs routine %") for m in ("DL", "bicubic", "fast")]
    truth = [(f"{m}_vs_truth", f"{m} vs truth %") for m in ("DL", "bicubic", "fast", "routine")]
    lesion_cols = [("n", "n"), *vs, *truth, ("worst_DL_vs_routine", "worst DL vs routine %"),
                   ("negative", "DL < routine"), ("sign_p", "sign p"),
                   ("DL_not_worse_than_bicubic", "share DL ≤ bicubic + 1 pp")]
    parts = [
        "Cohorts: " + ", ".join(cohorts),
        "Models: " + ", ".join(f"{k} `{v['sha256'][:12]}`" for k, v in models.items()) + f" ({consistency})",
        "\n### Tissue means (pure tissue, lesions excluded; bias %)\n",
        table(summary["tissues"], [("map", "map"), ("anatomy", "anatomy"), ("tissue", "tissue"), ("n", "n"),
                                   *vs, *truth]),
        "\n### Brain image quality (PSNR / SSIM vs routine in brain, L = normalisation constant; RMSE vs truth)\n",
        table(summary["images"], [("map", "map"), ("anatomy", "anatomy"), ("n", "n"), ("psnr_DL", "PSNR DL"),
                                  ("psnr_bicubic", "PSNR bicubic"), ("ssim_DL", "SSIM DL"),
                                  ("ssim_bicubic", "SSIM bicubic"), ("rmse_DL", "RMSE DL"),
                                  ("rmse_bicubic", "RMSE bicubic"), ("rmse_fast", "RMSE fast"),
                                  ("rmse_routine", "RMSE routine")]),
        "\n### Lesions by kind (whole outline; mean % error)\n",
        table(summary["kinds"], [("map", "map"), ("name", "kind"), *lesion_cols]),
        "\n### Lesions by size class\n",
        table(summary["sizes"], [("map", "map"), ("size_class", "size"), *lesion_cols]),
        "\n### Lesions by place\n",
        table(summary["locations"], [("map", "map"), ("location", "place"), *lesion_cols]),
        "\n### All lesions\n",
        table(summary["lesions_overall"], [("map", "map"), *lesion_cols]),
        "\n### DL ~ routine (all ROIs) and tissue / region means slopes\n",
        table(summary["agreement"], [("map", "map"), ("n_all", "ROIs"), ("slope_all", "slope DL (all)"),
                                     ("r2_all", "R² DL (all)"), ("n_means", "tissue+region means"),
                                     ("slope_means_DL", "slope DL"), ("slope_means_bicubic", "slope bicubic"),
                                     ("slope_means_fast", "slope fast"), ("closes_half_gap", "DL closes ½ gap")]),
        *trust_tables(summary["trust"], summary["flag_sweep"]),
        "\n### Acceptance bars\n",
        table(summary["criteria"], [("criterion", "criterion"), ("value", "value"), ("passed", "met")]),
        f"\nPassed {sum(c['passed'] for c in summary['criteria'])} of {len(summary['criteria'])}.",
    ]
    return "\n".join(parts)


def trust_tables(consistency_rows: list[dict], flag_rows: list[dict]) -> list[str]:
    return [
        "\n### Consistency flag alone vs lesions with |DL − routine| > 5 %\n",
        table(consistency_rows, [("threshold_pct", "threshold %"), ("lesions", "lesions"), ("bad", "> 5 %"),
                                 ("sensitivity", "sensitivity"), ("false_flag_rate", "false-flag rate")]),
        "\n### Whole trust flag (inconsistent beyond the consistency threshold, imprecise beyond each precision "
        "threshold, too small below each sample count) vs lesions with |DL − routine| > 5 %\n",
        table(flag_rows, [("consistency_threshold_pct", "consistency threshold %"),
                          ("precision_threshold_pct", "precision threshold %"), ("min_samples", "min. samples"),
                          ("lesions", "lesions"),
                          ("bad", "> 5 %"), ("caught", "caught"), ("flagged", "flagged"),
                          ("sensitivity", "sensitivity"), ("false_flag_rate", "false-flag rate")]),
    ]


def flag_markdown(rois: list[Roi], models: dict, cohorts: list[str], consistency: str) -> str:
    """The lesions-only output: every lesion measurement with |DL − routine| > 2 %, then the trust-flag tables."""
    lesions = sorted((r for r in rois if r.family == "lesion"), key=lambda r: -abs(r.error_pct("DL", "routine")))
    rows = [{"subject": r.subject, "map": r.map, "kind": r.name, "voxels": r.voxels,
             "DL_vs_routine": r.error_pct("DL", "routine"), "fast_vs_routine": r.error_pct("fast", "routine"),
             "consistency": r.consistency, "precision": r.precision, "samples": r.samples}
            for r in lesions if abs(r.error_pct("DL", "routine")) > 2]
    return "\n".join([
        "Cohorts: " + ", ".join(cohorts),
        "Models: " + ", ".join(f"{k} `{v['sha256'][:12]}`" for k, v in models.items()) + f" ({consistency})",
        f"\n### Lesion measurements with |DL − routine| > 2 % ({len(rows)} of {len(lesions)})\n",
        table(rows, [("subject", "subject"), ("map", "map"), ("kind", "kind"), ("voxels", "voxels"),
                     ("DL_vs_routine", "DL vs routine %"), ("fast_vs_routine", "fast vs routine %"),
                     ("consistency", "consistency %"), ("precision", "fast SE %"), ("samples", "fast samples")]),
        *trust_tables(trust_sweep(rois), flag_sweep(rois)),
    ])


if __name__ == "__main__":
    sys.exit(main())
