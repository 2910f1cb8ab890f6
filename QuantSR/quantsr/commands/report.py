"""``quantsr report``: the paper's agreement and image-quality analysis of a cohort as one HTML page."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from ..mapkinds import QUANT_KINDS
from ..quality import DEFAULT_SSIM_CONVENTION, SSIM_CONVENTIONS
from .engineargs import add_engine_arguments, engine_options


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="agreement and image-quality report of a cohort (Tables 1–5, plots)",
                       description="Run SR where needed and write REPORT_DIR/report.html (self-contained), "
                       "results.json (every number) and the PNG figures: tissue and regional statistics, lesion "
                       "ROIs, PSNR/SSIM/NIQE, for fast, bicubic, DL and routine. COHORT holds a manifest.csv "
                       "(as `quantsr simulate` writes; see README for your own paired data). Re-running keeps "
                       "subjects measured earlier with the same models.")
    p.add_argument("--cohort", type=Path, required=True, help="folder with manifest.csv")
    p.add_argument("-o", "--output", type=Path, required=True, help="report folder")
    for kind in QUANT_KINDS:
        p.add_argument(f"--model-{kind.value.lower()}", type=Path, metavar="FILE",
                       help=f"{kind.value} model (.safetensors); default: the bundled model")
    p.add_argument("--no-dl", action="store_true", help="baselines only (no model needed)")
    p.add_argument("--subjects", help="comma-separated subject IDs (default: all in the manifest)")
    p.add_argument("--niqe-model", type=Path, help="NIQE pristine parameters (.mat / .npz); default: fitted "
                   "on routine maps of cohort subjects outside the report")
    p.add_argument("--ssim-convention", choices=sorted(SSIM_CONVENTIONS), default=DEFAULT_SSIM_CONVENTION,
                   help="SSIM window: 'matlab' (the paper's: Gaussian σ 1.5, population covariance; default) or "
                   "'skimage' (7×7 uniform, sample covariance)")
    add_engine_arguments(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..report.run import ReportOptions, make_report
    from ..stats import require_statsmodels

    if args.output.resolve() == args.cohort.resolve() or args.cohort.resolve() in args.output.resolve().parents:
        raise InputError("write the report outside the cohort folder (inputs are never modified)", args.output)
    require_statsmodels()  # before any work: the [stats] extra, named in the message
    models = {kind: getattr(args, f"model_{kind.value.lower()}") for kind in QUANT_KINDS}
    options = ReportOptions(
        use_dl=not args.no_dl,
        models={kind: path for kind, path in models.items() if path},
        subjects=[s.strip() for s in args.subjects.split(",") if s.strip()] if args.subjects else None,
        niqe_model=args.niqe_model,
        ssim_convention=args.ssim_convention,
        engine=engine_options(args),
    )
    results = make_report(args.cohort, args.output, options)
    for row in results["tables"]["agreement"]:
        if row["reference"] == "routine":
            fit, ba = row["regression"], row["bland_altman"]
            print(f"{row['map']:>2} {row['method']:>7} vs routine: slope {fit['slope']:.3f}  R² {fit['r2']:.3f}  "
                  f"bias {ba['bias_pct']:+.2f} %  LoA {ba['loa_low_pct']:+.2f}..{ba['loa_high_pct']:+.2f} %")
    print(f"report: {args.output / 'report.html'}")
    return 0
