"""Benchmark: simulate one subject (phantom → fast and routine acquisitions → T1/T2/PD fits).

    python Testing/Benchmarks/bench_simulate.py [--repeats 3] [--lesions 3]

Prints a Markdown table (median and spread over repeats, peak RSS) for docs/benchmarks.md.
Target (issue 3): one subject, both protocols, 3 maps, ≤ 60 s on the 2-core reference machine."""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import time

import torch

from quantsr.simulate import phantom
from quantsr.simulate.subject import simulate_subject
from quantsr.simulate.writer import write_subject


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lesions", type=int, default=3)
    parser.add_argument("--write", metavar="DIR", help="also time writing the subject (DICOM + NRRD) here")
    args = parser.parse_args()

    started = time.perf_counter()
    phantom.mni_tissues()
    phantom.brain_centre()
    template_s = time.perf_counter() - started

    simulate_s, write_s = [], []
    for repeat in range(args.repeats):
        started = time.perf_counter()
        subject = simulate_subject(f"sub-{repeat:03d}", 1000 + repeat, args.lesions)
        simulate_s.append(time.perf_counter() - started)
        if args.write:
            started = time.perf_counter()
            write_subject(subject, args.write, "patient")
            write_s.append(time.perf_counter() - started)
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2

    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
          f"Python {platform.python_version()}, torch {torch.__version__}")
    print()
    print("| step | median (s) | min–max (s) | runs |")
    print("|---|---|---|---|")
    print(f"| load MNI152 template + build head phantom (once per process) | {template_s:.1f} | – | 1 |")
    print(f"| simulate one subject: both protocols, 3 maps, {args.lesions} lesions | "
          f"{statistics.median(simulate_s):.1f} | {min(simulate_s):.1f}–{max(simulate_s):.1f} | {len(simulate_s)} |")
    if write_s:
        print(f"| write subject (6 DICOM series, truth NRRDs) | {statistics.median(write_s):.1f} | "
              f"{min(write_s):.1f}–{max(write_s):.1f} | {len(write_s)} |")
    print(f"| peak RSS | {peak_gib:.1f} GiB | | |")


if __name__ == "__main__":
    main()
