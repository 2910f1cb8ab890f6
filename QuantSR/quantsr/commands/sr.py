"""``quantsr sr``: super-resolve fast maps (DICOM folder/file or NRRD/NIfTI) to NRRD, NIfTI or DICOM."""

from __future__ import annotations

import argparse
import logging
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError
from ..io.outputs import FORMATS
from ..mapkinds import MapKind
from ..methods import DL, METHODS
from .engineargs import add_engine_arguments, engine_options
from .timing import PhaseTimer

if TYPE_CHECKING:
    from ..volume import QuantMap

log = logging.getLogger("quantsr.sr")


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
    p.add_argument("--guide", type=Path, action="append", default=[], metavar="PATH",
                   help="the study's other fast maps (folder or file; repeatable) for a model that reads them as "
                   "guides (`quantsr model-info` lists a model's guides); default: the input folder")
    p.add_argument("--method", default=DL, choices=METHODS, help="dl (SRGAN) or a baseline")
    p.add_argument("--format", choices=FORMATS, help="output format (default from the output name)")
    p.add_argument("--force", action="store_true",
                   help="run a model on a map of another kind, or (with --map) on a series QuantSR does not "
                   "recognise as a map (a weighted image, values outside the map's range)")
    p.add_argument("--dicom-layout", default="same", choices=["same", "classic", "enhanced"],
                   help="DICOM output: one file per slice (classic), one Enhanced MR multi-frame object "
                   "(enhanced), or the input's layout (same, the default)")
    p.add_argument("--trust", action="store_true",
                   help="write <output>_deviation_pct: how far each result departs from the fast scan (%%)")
    p.add_argument("--data-consistency", action="store_true",
                   help="replace each result's low frequencies by the fast scan's (approximate DC projection)")
    p.add_argument("--dc-window", type=float, default=1.0, metavar="FRACTION",
                   help="with --data-consistency: share of the fast k-space window replaced (default 1; 0.5 keeps "
                   "more of DL's denoising, docs/lesion_t2.md)")
    add_engine_arguments(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not 0 < args.dc_window <= 1:
        raise InputError(f"--dc-window must be in (0, 1], got {args.dc_window}")
    options = engine_options(args, force_kind=args.force)  # checked before any work
    timer = PhaseTimer()
    with timer.phase("imports"):  # here, not at the top: `quantsr --help` and argument errors skip them
        from tqdm import tqdm

        from ..io.loader import load_maps
        from ..io.outputs import check_not_inside_inputs, plan_outputs
        from ..srjob import SRJob, iter_super_resolved

        if args.method == DL:
            from .. import engine  # noqa: F401  (torch: its import is its own phase, not the first map's set-up)
    kind = None if args.map == "auto" else MapKind.parse(args.map)
    if args.force and kind is None and args.input.is_dir():
        log.info("--force without --map: only the model's kind check is relaxed")
    with timer.phase("read"):
        maps = load_maps(args.input, kind=kind, series=args.series, force=args.force and kind is not None)
    targets = plan_outputs(args.output, maps, args.method, args.format)
    check_not_inside_inputs(targets, [args.input])
    model_paths = {m.kind: args.model for m in maps} if args.model else None
    warnings = _envelope_warnings(maps, model_paths) if args.method == DL else {}
    total = sum(m.shape[0] for m in maps)
    job = SRJob(args.method, model_paths, options, data_consistency=args.data_consistency,
                dc_window_fraction=args.dc_window)
    if args.method == DL:
        with timer.phase("read"):
            job.guides = _guide_maps(args, maps, model_paths)
    # Each result is written on a writer thread while the next map computes (SimpleITK's writers release the GIL);
    # at most one write is pending, and a failed write stops the run at the next map.
    with tqdm(total=total, unit="slice", desc=f"SR ({args.method})", file=sys.stderr) as bar, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="quantsr-write") as writer:

        def progress(done: int, _total: int) -> None:
            bar.update(done - bar.n)

        pending: Future | None = None
        for source, target, result in zip(maps, targets, iter_super_resolved(maps, job, progress), strict=True):
            report = result.metadata["sr_report"]
            timer.add("model set-up", report.setup_seconds, report.setup_cpu_seconds)
            timer.add("compute", report.seconds, report.cpu_seconds)
            if pending is not None:
                pending.result()
            pending = writer.submit(_write, result, source, target, args, warnings.get(source.kind), timer)
        with timer.phase("write (waited for)"):
            if pending is not None:
                pending.result()
    timer.finish()
    return 0


def _write(result: QuantMap, source: QuantMap, target: Path, args: argparse.Namespace, warning: str | None,
           timer: PhaseTimer) -> None:
    """Write one result (and its trust map) and say what was done."""
    from ..envelope import WARNING_KEY
    from ..io.writers import write_map

    if warning:
        result.metadata[WARNING_KEY] = warning
    with timer.phase("write", cpu=False):  # on the writer thread: the process's CPU clock would count compute too
        write_map(result, target, derived_from=source, layout=args.dicom_layout)
    report = result.metadata["sr_report"]
    print(
        f"{result.kind.value}: {report.slices} slices {source.shape[2]}×{source.shape[1]} → "
        f"{result.shape[2]}×{result.shape[1]} in {report.seconds:.1f} s on {report.device} "
        f"with {report.runtime} "
        f"[{args.method}{' + DC' if args.data_consistency else ''}] → {target}"
    )
    if args.trust:
        _write_trust(result, source, target)


def _guide_maps(args: argparse.Namespace, maps: list[QuantMap],
                model_paths: dict[MapKind, Path] | None) -> dict[MapKind, QuantMap]:
    """The fast maps the models need as guides (``quantsr.guides``) beyond those being super-resolved: read from
    ``--guide`` paths, else from the input folder; none read when no model needs them."""
    from ..guides import guides_needed
    from ..io.loader import load_maps

    needed = guides_needed((m.kind for m in maps), model_paths)
    sources = args.guide or ([args.input] if args.input.is_dir() else [])
    found: dict[MapKind, QuantMap] = {}
    for source in sources if needed else []:
        missing = set(needed) - set(found)
        if not missing:
            break
        found.update({m.kind: m for m in load_maps(source, only=missing) if m.kind in missing})
    return found  # a guide still missing: the engine names it


def _envelope_warnings(maps: list[QuantMap], model_paths: dict[MapKind, Path] | None) -> dict[MapKind, str]:
    """Warn (stderr) about each input outside its model's training envelope; the text goes into the output."""
    from ..envelope import input_warning

    found = {}
    for qmap in maps:
        text = input_warning(qmap, (model_paths or {}).get(qmap.kind))
        if text:
            print(f"quantsr: warning: {text}", file=sys.stderr)
            found[qmap.kind] = text
    return found


def _write_trust(result: QuantMap, source: QuantMap, target: Path) -> None:
    """The percent deviation volume next to ``target`` (always NRRD: a % map is no T1/T2/PD series)."""
    from ..io.images import write_image
    from ..io.outputs import image_suffix
    from ..trust import deviation

    trust = deviation(result, source)
    suffix = image_suffix(target)
    stem = target.name[: -len(suffix)] if suffix else target.name
    path = target.with_name(f"{stem}_deviation_pct{suffix or '.nrrd'}")
    write_image(trust.percent.with_array(trust.percent.array, kind=MapKind.UNKNOWN), path)
    median, p95 = trust.head_percentiles((50.0, 95.0))
    print(f"{result.kind.value}: deviation from the fast scan in the head: median {median:.2f} %, "
          f"95th percentile {p95:.2f} % → {path}")
