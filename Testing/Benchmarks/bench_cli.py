"""End-to-end benchmark of the ``quantsr`` command: wall clock from process start to files written.

    python Testing/Benchmarks/bench_cli.py [--repeats 3] [--device cpu] [--cores 2] [--env ONEDNN_MAX_CPU_ISA=AVX2]
                                           [--method dl] [--format nrrd] [--runtime torch]

Unlike ``bench_sr.py`` (in memory: models loaded, maps read, only the super-resolution timed), this runs
``python -m quantsr.cli sr <3-map DICOM study> -o <folder> --device ...`` as a user does, in a fresh process per
run, and splits each run's wall clock into: interpreter + CLI start (process start → the sr handler), imports
(the handler's: pydicom / SimpleITK / torch), DICOM read, model set-up, compute, write, the rest of the handler,
and exit (handler end → process gone). The split comes from the phases the command writes to
``$QUANTSR_TIMINGS`` (``quantsr/commands/timing.py``); the wall clock from this process's own clock, before
starting and after the child exited. Also timed: ``python -c pass``, ``import torch`` and ``quantsr --help`` /
``quantsr sr --help`` (the start-up floor and the help target).

The workload is the ``bench_sr.py`` patient (simulated, seed 77, two lesions: fast T1 / T2 / PD, 24 slices of
256²) written as a classic DICOM study (one series per map); ``--cores N`` pins every child to N CPUs (emulating a
small machine on a big one); ``--env`` adds environment variables (e.g. ``ONEDNN_MAX_CPU_ISA=AVX2`` to emulate a
CPU without AVX-512). Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Phases in order; "write (waited for)" is the writing not hidden behind compute (the writer thread's own time is
#: shown apart as "write (writer thread)").
ROWS = ("interpreter + CLI start", "imports", "read", "model set-up", "compute", "write (waited for)",
        "other (handler)", "exit")
SERIAL_PHASES = ("imports", "read", "model set-up", "compute", "write (waited for)")


def write_study(folder: Path) -> Path:
    """The benchmark patient's fast maps as a classic DICOM study (made once, then reused)."""
    study = folder / "study"
    if (study / "done").exists():
        return study
    from quantsr.io.dicom_write import StudyContext, write_series
    from quantsr.mapkinds import QUANT_KINDS
    from quantsr.simulate.subject import simulate_subject

    subject = simulate_subject("bench", seed=77, n_lesions=2)
    context = StudyContext.new(patient_id="QSR-BENCH-77", seed="bench-77", study_description="QuantSR benchmark")
    for number, kind in enumerate(QUANT_KINDS, start=101):
        write_series(subject.maps["fast"][kind], study / kind.value, context,
                     series_description=f"MAGiC {kind.value} map (fast)", series_number=number, protocol="fast",
                     seed=f"bench-77-{kind.value}")
    (study / "done").write_text("")
    return study


def _child_env(extra: list[str]) -> dict[str, str]:
    env = dict(os.environ)
    for item in extra:
        key, _, value = item.partition("=")
        env[key] = value
    return env


def _pin(cores: int | None):
    if not cores:
        return None
    chosen = sorted(os.sched_getaffinity(0))[:cores]
    return lambda: os.sched_setaffinity(0, chosen)


def timed(command: list[str], env: dict[str, str], cores: int | None) -> float:
    started = time.time()
    subprocess.run(command, env=env, preexec_fn=_pin(cores), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.time() - started


def run_sr(study: Path, output: Path, args: argparse.Namespace, env: dict[str, str]) -> tuple[dict, dict]:
    """One `quantsr sr` run: its wall clock and its CPU time (all threads) split into ROWS (seconds)."""
    shutil.rmtree(output, ignore_errors=True)
    timings = output.parent / "timings.json"
    timings.unlink(missing_ok=True)
    command = [sys.executable, "-m", "quantsr.cli", "sr", str(study), "-o", str(output), "--device", args.device,
               "--method", args.method, "--format", args.format, "--runtime", args.runtime, *args.sr_arg]
    cpu_before = _children_cpu()
    started = time.time()
    child = subprocess.run(command, env=dict(env, QUANTSR_TIMINGS=str(timings)), preexec_fn=_pin(args.cores),
                           capture_output=True, text=True)
    ended = time.time()
    cpu_total = _children_cpu() - cpu_before
    if child.returncode != 0:
        raise SystemExit(f"quantsr sr failed ({child.returncode}):\n{child.stderr[-2000:]}")
    written = sorted(p.name for p in output.iterdir())
    if len(written) != 3:
        raise SystemExit(f"expected three outputs, found {written}")
    if not timings.exists():  # a QuantSR without phase timings (--pythonpath to an older checkout): the total only
        return {"total": ended - started}, {"total": cpu_total}
    report = json.loads(timings.read_text())
    phases = report["phases"]
    handler = report["handler_finished"] - report["handler_started"]
    row = {"interpreter + CLI start": report["handler_started"] - started, "exit": ended - report["handler_finished"]}
    for name in SERIAL_PHASES:
        row[name] = phases.get(name, 0.0)
    row["other (handler)"] = handler - sum(row[name] for name in SERIAL_PHASES)
    row["write (writer thread)"] = phases.get("write", 0.0)
    row["total"] = ended - started
    cpu_phases = report["cpu_phases"]
    cpu = {"interpreter + CLI start": report["cpu_started"], "exit": cpu_total - report["cpu_finished"],
           "other (handler)": report["cpu_finished"] - report["cpu_started"] - sum(cpu_phases.values()),
           "total": cpu_total, "write (writer thread)": float("nan")}
    for name in SERIAL_PHASES:
        cpu[name] = cpu_phases.get(name, 0.0)
    return row, cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _print_differences(new: Path, old: Path) -> None:
    """Max |new − old| per output map, everywhere and inside the head (where the old output is > 0)."""
    import numpy as np

    from quantsr.io.loader import load_maps

    print()
    print(f"| map | max \\|this run − {old}\\| | inside the head |")
    print("|---|---|---|")
    for name in sorted(p.name for p in new.iterdir()):
        ours, theirs = load_maps(new / name)[0].array, load_maps(old / name)[0].array
        difference = np.abs(ours.astype(np.float64) - theirs)
        head = theirs > 0
        print(f"| {name} | {difference.max():.3g} | {difference[head].max() if head.any() else 0:.3g} |")
    print()


def _print_floors(floors: dict[str, list[float]]) -> None:
    if not floors:
        return
    print("| start-up | median (s) | min–max (s) |")
    print("|---|---|---|")
    for name, times in floors.items():
        print(f"| `{name}` | {statistics.median(times):.2f} | {min(times):.2f}–{max(times):.2f} |")
    print()


def cpu_model() -> str:
    """The CPU's model name and the vector extensions that matter for convolutions (Linux; else the platform)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    wanted = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_int8") if f in flags]
    return f"{name}; {' '.join(wanted) or 'no AVX2'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--method", default="dl", choices=("dl", "bicubic", "linear"))
    parser.add_argument("--format", default="nrrd", choices=("nrrd", "nifti", "dicom"))
    parser.add_argument("--runtime", default="torch", choices=("torch", "onnxruntime", "auto"))
    parser.add_argument("--cores", type=int, help="pin each run to this many CPUs (default: all this process has)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra environment (repeat)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "quantsr-bench-cli")
    parser.add_argument("--skip-floor", action="store_true", help="do not time python / import torch / --help")
    parser.add_argument("--floor-only", action="store_true", help="only time python / import torch / --help")
    parser.add_argument("--pythonpath", type=Path, help="run the quantsr found here (an older QuantSR/)")
    parser.add_argument("--sr-arg", action="append", default=[], metavar="ARG",
                        help="extra argument for quantsr sr (repeat; e.g. --sr-arg=--fast-consistency --sr-arg=0)")
    parser.add_argument("--keep", type=Path, help="copy the last run's outputs here (to compare versions)")
    parser.add_argument("--compare", type=Path, help="print max |difference| of the last run's outputs from the "
                        "outputs kept (--keep) by an earlier run, e.g. of an older version")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    study = None if args.floor_only else write_study(args.workdir)
    env = _child_env(args.env)
    if args.pythonpath:
        env["PYTHONPATH"] = str(args.pythonpath.resolve())
    cores = args.cores or len(os.sched_getaffinity(0))

    floors: dict[str, list[float]] = {}
    if not args.skip_floor:
        probes = {"python -c pass": [sys.executable, "-c", "pass"],
                  "python -c 'import torch'": [sys.executable, "-c", "import torch"],
                  "quantsr --help": [sys.executable, "-m", "quantsr.cli", "--help"],
                  "quantsr sr --help": [sys.executable, "-m", "quantsr.cli", "sr", "--help"],
                  "quantsr sr (arguments missing: an error)": [sys.executable, "-m", "quantsr.cli", "sr"]}
        for _ in range(args.repeats):
            for name, command in probes.items():
                floors.setdefault(name, []).append(timed(command, env, args.cores))
    if args.floor_only:
        print(f"Machine: {platform.machine()} ({cpu_model()}), {cores} CPUs; {args.repeats} runs, fresh process each"
              + (f"; quantsr from {args.pythonpath}" if args.pythonpath else ""))
        print()
        _print_floors(floors)
        return
    measured = [run_sr(study, args.workdir / "out", args, env) for _ in range(args.repeats)]
    runs, cpu_runs = [wall for wall, _ in measured], [cpu for _, cpu in measured]
    if args.keep:
        shutil.rmtree(args.keep, ignore_errors=True)
        shutil.copytree(args.workdir / "out", args.keep)

    extra = f"; env {' '.join(args.env)}" if args.env else ""
    print(f"Machine: {platform.machine()} ({cpu_model()}), {cores} CPUs for the command{extra}; workload: "
          f"3-map DICOM study (24 slices of 256² per map) → {args.format}, method {args.method}, device "
          f"{args.device}, runtime {args.runtime} {' '.join(args.sr_arg)}; {args.repeats} runs, fresh process each")
    print()
    _print_floors(floors)
    print("| `quantsr sr` phase | wall, median (s) | min–max (s) | CPU, median (s, all threads) |")
    print("|---|---|---|---|")
    for name in (*ROWS, "total", "write (writer thread)"):
        if name not in runs[0]:
            continue
        values = [run[name] for run in runs]
        label = f"**{name}**" if name == "total" else name
        print(f"| {label} | {statistics.median(values):.2f} | {min(values):.2f}–{max(values):.2f} | "
              f"{statistics.median(run[name] for run in cpu_runs):.2f} |")
    if args.compare:
        _print_differences(args.workdir / "out", args.compare)
    if "compute" not in runs[0]:
        return
    overhead = [run["total"] - run["compute"] for run in runs]
    print()
    print(f"Everything but compute: median {statistics.median(overhead):.2f} s (of which interpreter + imports "
          f"{statistics.median(r['interpreter + CLI start'] + r['imports'] for r in runs):.2f} s).")


if __name__ == "__main__":
    main()
