"""``quantsr sr``: super-resolve fast maps (DICOM folder/file or NRRD/NIfTI) to NRRD, NIfTI or DICOM."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from ..engine import EngineOptions
from ..io.loader import load_maps
from ..io.outputs import FORMATS, check_not_inside_inputs, plan_outputs
from ..io.writers import write_map
from ..mapkinds import MapKind
from ..pipeline import METHODS, SRJob, super_resolve_maps


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sr",
        help="super-resolve fast synthetic-MRI maps ×2",
        description="Super-resolve fast synthetic-MRI maps (256² → 512²). A folder with "
        "T1, T2 and PD series produces all three.",
    )
    p.add_argument("input", type=Path, help="DICOM folder or file, or an NRRD / NIfTI / MHA map")
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="output file (.nrrd/.nii.gz; several maps get _T1/_T2/_PD suffixes) or folder",
    )
    p.add_argument(
        "--map",
        default="auto",
        choices=["auto", "T1", "T2", "PD"],
        help="map kind (auto: detect from DICOM tags / file name / values)",
    )
    p.add_argument("--series", help="DICOM series to use (SeriesNumber or SeriesInstanceUID) when several match")
    p.add_argument("--model", type=Path, help="model file (.safetensors); default: the bundled model")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda[:N]")
    p.add_argument("--batch-size", type=int, help="slices per batch (default: from --memory-mb)")
    p.add_argument("--memory-mb", type=float, default=2048.0, help="activation memory budget")
    p.add_argument("--method", default="dl", choices=METHODS, help="dl (SRGAN) or a baseline")
    p.add_argument("--format", choices=FORMATS, help="output format (default from the output name)")
    p.add_argument("--force", action="store_true", help="run a model on a map of another kind")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    kind = None if args.map == "auto" else MapKind.parse(args.map)
    maps = load_maps(args.input, kind=kind, series=args.series)
    targets = plan_outputs(args.output, maps, args.method, args.format)
    check_not_inside_inputs(targets, [args.input])
    options = EngineOptions(
        device=args.device, batch_size=args.batch_size, memory_budget_mb=args.memory_mb, force_kind=args.force
    )
    model_paths = {m.kind: args.model for m in maps} if args.model else None
    total = sum(m.shape[0] for m in maps)
    with tqdm(total=total, unit="slice", desc=f"SR ({args.method})", file=sys.stderr) as bar:

        def progress(done: int, _total: int) -> None:
            bar.update(done - bar.n)

        results = super_resolve_maps(maps, SRJob(args.method, model_paths, options), progress)
    for source, result, target in zip(maps, results, targets, strict=True):
        write_map(result, target, derived_from=source)
        report = result.metadata["sr_report"]
        print(
            f"{result.kind.value}: {report.slices} slices {source.shape[2]}×{source.shape[1]} → "
            f"{result.shape[2]}×{result.shape[1]} in {report.seconds:.1f} s on {report.device} "
            f"[{args.method}] → {target}"
        )
    return 0
