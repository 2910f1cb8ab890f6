"""``quantsr demo``: the main job on embedded (simulated) data, for a first look (README has its run time)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="simulate a patient, super-resolve, measure lesions, write DICOM + CSV + figure",
        description="Simulate one patient with lesions (fast and routine scans), super-resolve the fast "
        "T1/T2/PD maps with the bundled models, measure every lesion on fast / DL / routine / truth and "
        "write the DL DICOM, a CSV table and a side-by-side PNG.",
    )
    p.add_argument("-o", "--output", type=Path, default=Path("quantsr-demo"), help="output folder")
    p.add_argument("--seed", type=int, default=2026, help="simulation seed")
    p.add_argument("--lesions", type=int, default=3, help="number of lesions")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..demo import lesion_summary, run_demo

    def step(message: str) -> None:
        print(f"quantsr demo: {message}", file=sys.stderr, flush=True)

    result = run_demo(args.output, args.seed, args.lesions, args.device, step)
    print(lesion_summary(result.rows, result.flags))
    print()
    print(f"input DICOM (fast + routine), truth, labels: {result.subject_dir}")
    print(f"super-resolved DICOM ({result.method}):      {result.sr_dirs[0].parent}")
    print(f"lesion ROI table:                           {result.table}")
    print(f"side-by-side figure:                        {result.figure}")
    print("timing: " + ", ".join(f"{k} {v:.0f} s" for k, v in result.seconds.items()))
    for notice in result.notices:
        print(f"\n*** {notice} ***", file=sys.stderr)
    return 0
