"""``quantsr batch``: super-resolve every study under a folder; failures are listed, not fatal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..io.outputs import FORMATS
from ..methods import DL, METHODS
from ..srjob import SRJob
from .engineargs import add_engine_arguments, engine_options


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("batch", help="super-resolve every study folder under ROOT (resumable; torchrun shards it)",
                       description="Each sub-folder of ROOT is a study (DICOM folder or map files). Outputs go "
                       "to OUTPUT/<study>/; finished studies are skipped on a re-run; failing studies are listed "
                       "at the end and make the exit status 1. Under torchrun each rank (one per GPU, or CPU "
                       "processes) takes every WORLD_SIZE-th study: `torchrun --nproc-per-node 4 -m quantsr.cli "
                       "batch ROOT -o OUTPUT`.")
    p.add_argument("root", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--method", default=DL, choices=METHODS)
    p.add_argument("--format", default="dicom", choices=FORMATS)
    add_engine_arguments(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..batch import Shard, StudyResult, find_studies, gather_results, rank_device, run_batch, summary_table

    shard = Shard.from_environment()
    options = engine_options(args)
    options.device = rank_device(options.device, shard)
    job = SRJob(args.method, None, options)
    studies = shard.mine(find_studies(args.root))
    label = "batch" if shard.world == 1 else f"batch (rank {shard.rank} of {shard.world})"
    # One progress bar per node would interleave: only rank 0 draws its own.
    with tqdm(total=len(studies), unit="study", desc=label, file=sys.stderr, disable=shard.rank != 0) as bar:

        def on_study(result: StudyResult) -> None:
            bar.set_postfix_str(f"{result.study}: {result.status}")
            bar.update(1)

        results = run_batch(args.root, args.output, job, args.format, shard=shard, on_study=on_study)
    everyone = gather_results(results, shard)  # rank 0: every rank's results; the others: None
    if everyone is not None:
        print(summary_table(everyone))
    return 1 if any(r.status == "failed" for r in everyone or results) else 0
