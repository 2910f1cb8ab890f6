"""``quantsr-train``: fit, export and evaluate QuantSR super-resolution models."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from quantsr.cli import quiet_third_party, run_guarded
from quantsr.commands.engineargs import add_engine_arguments, engine_options
from quantsr.errors import InputError, QuantSRError
from quantsr.srjob import FORWARD_MODELS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quantsr-train", description="Train QuantSR SRGAN models on paired "
                                     "fast/routine synthetic-MRI maps (Liu et al. 2026).")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    fit = sub.add_parser("fit", help="train (or --resume) a model from a TOML config")
    fit.add_argument("config", nargs="?", type=Path, help="TOML config (default: the paper's values)")
    fit.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                     help="override a config value (repeatable), e.g. --set data.map=T2")
    fit.add_argument("--resume", action="store_true", help="continue from <output>/checkpoints/last.pt")
    fit.set_defaults(handler=_fit)

    export = sub.add_parser("export", help="checkpoint → model file (.safetensors + metadata)")
    export.add_argument("checkpoint", type=Path)
    export.add_argument("-o", "--output", type=Path, required=True)
    export.add_argument("--description", default="")
    export.add_argument("--trained-on", default=None, help="what the model was trained on (provenance)")
    export.add_argument("--envelope-from", type=Path, default=None, metavar="COHORT",
                        help="measure the training envelope (pixel spacing, matrix, slice thickness, value range) "
                        "from this cohort's fast maps (default: the checkpoint's training cohort; the bundled "
                        "models' simulated-data envelope when that is not reachable)")
    export.add_argument("--fast-consistency", type=float, default=None, metavar="MM",
                        help="the fast-scan consistency σ chosen for this model on validation, recorded in the file "
                        "and applied by default at inference (default: none recorded → 1 mm; 0: off)")
    export.add_argument("--fast-consistency-forward", choices=FORWARD_MODELS, default=None,
                        help="the consistency step's forward model chosen on validation, recorded in the file "
                        "(default: none recorded → identity)")
    export.set_defaults(handler=_export)

    evaluate = sub.add_parser("evaluate", help="PSNR / SSIM / tissue bias on held-out subjects")
    evaluate.add_argument("--cohort", type=Path, required=True, help="cohort folder or manifest CSV")
    evaluate.add_argument("--model", action="append", default=[], metavar="[MAP=]FILE",
                          help="model file(s); MAP= is read from the file when omitted")
    evaluate.add_argument("--maps", default="", help="baselines only for these maps (e.g. T1,T2)")
    evaluate.add_argument("--split", type=Path, help="split.json (its test subjects are evaluated)")
    evaluate.add_argument("--subjects", default="", help="comma-separated subjects (instead of --split)")
    evaluate.add_argument("-o", "--output", type=Path, required=True)
    evaluate.add_argument("--ssim-convention", choices=("matlab", "skimage"), default="matlab",
                          help="SSIM window: 'matlab' (the paper's, default) or 'skimage' (7×7 uniform)")
    add_engine_arguments(evaluate)
    evaluate.set_defaults(handler=_evaluate)
    return parser


def _fit(args: argparse.Namespace) -> int:
    from .config import load_config
    from .trainer import Trainer

    config = load_config(args.config, args.set)
    last = Trainer(config).fit(resume=args.resume)
    if last:
        print(f"trained {config.data.map}: checkpoint {last}; export it with quantsr-train export {last} -o MODEL")
    return 0


def _export(args: argparse.Namespace) -> int:
    from .export import export_checkpoint

    envelope = _training_envelope(args.checkpoint, args.envelope_from)
    if args.fast_consistency is not None and not 0 <= args.fast_consistency <= 10:
        raise InputError(f"--fast-consistency must lie in 0–10 mm, got {args.fast_consistency:g}")
    path = export_checkpoint(args.checkpoint, args.output, args.description, args.trained_on, envelope=envelope,
                             fast_consistency_mm=args.fast_consistency,
                             fast_consistency_forward=args.fast_consistency_forward)
    print(f"wrote {path} (training envelope: {envelope.source})")
    return 0


#: Training subjects read to measure the envelope (their fast maps' headers and values).
ENVELOPE_SUBJECTS = 8


def _training_envelope(checkpoint: Path, cohort: Path | None):  # -> quantsr.envelope.Envelope
    """The envelope the exported model records, so QuantSR can warn about inputs unlike its training data:
    measured from the training cohort's fast maps (train subjects first), else the simulated-data default."""
    import numpy as np
    import torch

    from quantsr.envelope import Envelope
    from quantsr.errors import QuantSRError
    from quantsr.io.loader import load_maps
    from quantsr.mapkinds import MapKind

    from .pairs import read_sources

    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        kind = MapKind.parse(state["config"]["data"]["map"])
        cohort = cohort or Path(state["config"]["data"]["cohort"])
        train = set(state.get("data", {}).get("train_subjects", []))
    except (OSError, RuntimeError, KeyError, TypeError, ValueError):
        return Envelope()  # export_checkpoint reports the unreadable checkpoint
    default = Envelope.default(kind)
    if not str(cohort) or not Path(cohort).exists():
        print(f"quantsr-train: training cohort {cohort} not found; recording the simulated-data envelope")
        return default
    try:
        sources = read_sources(cohort, kind)
        sources.sort(key=lambda s: s.subject not in train)
        maps = [load_maps(s.fast, kind=kind)[0] for s in sources[:ENVELOPE_SUBJECTS]]
    except QuantSRError as exc:
        print(f"quantsr-train: cannot measure the envelope ({exc}); recording the simulated-data envelope")
        return default
    spacing = [s for m in maps for s in (m.spacing[1], m.spacing[0])]
    thickness = [float(m.metadata.get("slice_thickness") or m.spacing[2]) for m in maps]
    head = np.concatenate([m.array[m.array > 0].ravel() for m in maps])
    high = float(np.percentile(head, 99.9)) if head.size else default.value_range[1]
    return Envelope(pixel_spacing_mm=(min(spacing), max(spacing)),
                    matrix=(max(m.shape[1] for m in maps), max(m.shape[2] for m in maps)),
                    slice_thickness_mm=(min(thickness), max(thickness)),
                    value_range=(0.0, max(high, default.value_range[1] * 0.5)),
                    source=f"measured on {len(maps)} subject(s) of {cohort}")


def _evaluate(args: argparse.Namespace) -> int:
    from quantsr.mapkinds import MapKind
    from quantsr.modelfile import read_model_info

    from .evaluate import evaluate, markdown_table, write_report
    from .split import read_split

    models: dict[MapKind, Path | None] = {}
    for item in args.model:
        kind_text, sep, file = item.partition("=")
        path = Path(file if sep else kind_text)
        kind = MapKind.parse(kind_text) if sep else read_model_info(path).map_kind
        models[kind] = path
    for kind_text in filter(None, args.maps.split(",")):
        models.setdefault(MapKind.parse(kind_text), None)
    if not models:
        raise QuantSRError("give at least one --model or --maps")
    subjects = read_split(args.split)["test"] if args.split else [s for s in args.subjects.split(",") if s]
    if not subjects:
        raise QuantSRError("no subjects to evaluate: give --split or --subjects")
    report = evaluate(models, args.cohort, subjects, engine_options(args), args.ssim_convention)
    json_path, md_path = write_report(report, args.output)
    print(markdown_table(report["summary"], args.ssim_convention))
    print(f"\nwrote {json_path} and {md_path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("quantsr-train: %(levelname)s: %(message)s"))
    for name in ("quantsr", "quantsr.training"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.DEBUG if args.verbose else logging.INFO)
        logger.propagate = False
    quiet_third_party(args.verbose)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    return run_guarded("quantsr-train", lambda: args.handler(args), "resume with --resume")


if __name__ == "__main__":
    sys.exit(main())
