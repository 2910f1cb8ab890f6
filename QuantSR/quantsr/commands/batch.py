"""``quantsr batch``: super-resolve every study under a folder; failures are listed, not fatal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from ..batch import find_studies, run_batch, summary_table
from ..io.outputs import FORMATS
from ..pipeline import METHODS, SRJob
from .engineargs import add_engine_arguments, engine_options


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("batch", help="super-resolve every study folder under ROOT (resumable)",
                       description="Each sub-folder of ROOT is a study (DICOM folder or map files). Outputs go "
                       "to OUTPUT/<study>/; finished studies are skipped on a re-run; failing studies are listed "
                       "at the end and make the exit status 1.")
    p.add_argument("root", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--method", default="dl", choices=METHODS)
    p.add_argument("--format", default="dicom", choices=FORMATS)
    add_engine_arguments(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    job = SRJob(args.method, None, engine_options(args))
    studies = find_studies(args.root)
    with tqdm(total=len(studies), unit="study", desc="batch", file=sys.stderr) as bar:
        results = run_batch(args.root, args.output, job, args.format,
                            on_study=lambda r: (bar.set_postfix_str(f"{r.study}: {r.status}"), bar.update(1)))
    print(summary_table(results))
    return 1 if any(r.status == "failed" for r in results) else 0
