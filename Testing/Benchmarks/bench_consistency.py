"""Benchmark: the fast-scan consistency step (``quantsr.consistency.fast_consistent``, issue 16) per map — the
implementation before issue 20 (scipy's Gaussian in float64 over whole slices, six filter calls) against the
current one (float32 banded-matrix products, stacked means, per-slice boxes, slices on this process's cores).

    python Testing/Benchmarks/bench_consistency.py [--repeats 5] [--study /tmp/quantsr-bench-cli/study]

Workload: the ``bench_cli.py`` study (simulated patient, seed 77: fast T1, T2, PD, 24 slices of 256² → 512²) and
the bundled models' DL output for it (the engine with the step off, computed once and kept in ``--workdir``). Both
implementations run in this process, interleaved, ``--repeats`` times per map; for each: wall clock and the
process's CPU time (all threads; on shared cores the CPU time is the figure to compare), min and median, and the
bicubic upsampling of the whole map alone (part of "before"; "now" upsamples slice by slice, ≈ 30 % cheaper).
Accuracy: max |current − before| over the whole map and inside the head, against the 0.1 %-of-range budget, and
each one's distance from a float64 evaluation of the same formula.
Prints a Markdown table. ``OPENBLAS_CORETYPE=Haswell`` in the environment makes numpy's BLAS use its AVX2 kernels
(the AVX2 emulation of ``bench_cpu_isa.py`` covers torch only).

``--study-rounds N`` also times the whole study as ``bench_sr.py``'s production variant does (the engine in memory,
model set-up excluded; each run in its own process, the three settings interleaved, N rounds) with the step as
before, as now, and off — wall clock and CPU time of the study and of the step within it. ``--env KEY=VALUE``
(repeat) sets those processes' environment, e.g. the AVX2 emulation of docs/benchmarks.md:

    python Testing/Benchmarks/bench_consistency.py --repeats 0 --study-rounds 3 --study /tmp/quantsr-bench-cli/study \
        --env ONEDNN_MAX_CPU_ISA=AVX2 --env DNNL_MAX_CPU_ISA=AVX2 --env ATEN_CPU_CAPABILITY=avx2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from quantsr.baselines import upsample
from quantsr.consistency import DEFAULT_EPS, DEFAULT_SIGMA_MM, fast_consistent
from quantsr.mapkinds import QUANT_KINDS
from quantsr.volume import QuantMap


def before(dl: QuantMap, fast: QuantMap, sigma_mm: float = DEFAULT_SIGMA_MM, eps: float | None = DEFAULT_EPS,
           dtype: type = np.float32) -> np.ndarray:
    """The step as it was before issue 20 (``dtype`` float64: the same formula in float64 throughout)."""
    sigma = (0.0, sigma_mm / dl.spacing[1], sigma_mm / dl.spacing[0])

    def mean(a: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(a, sigma, mode="nearest", truncate=3.0)

    values = dl.array.astype(dtype)
    residual = upsample(fast, round(dl.shape[1] / fast.shape[1]), "bicubic").array.astype(dtype) - values
    if eps is None:
        values += mean(residual)
    else:
        guide = np.log(np.maximum(values, 0.0) + 0.01 * dl.kind.norm_physical)
        guide = guide - dtype(guide.mean())
        mean_guide, mean_residual = mean(guide), mean(residual)
        slope = (mean(guide * residual) - mean_guide * mean_residual) / (
            mean(guide * guide) - mean_guide * mean_guide + eps)
        values += mean(slope) * guide + mean(mean_residual - slope * mean_guide)
    return np.maximum(values, 0.0)


def study_maps(args: argparse.Namespace) -> list[tuple[QuantMap, QuantMap]]:
    """(fast, DL) per kind: the study's maps and the engine's output for them with the step off."""
    from quantsr.io.loader import load_maps

    study = args.study
    if study is None:
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_cli import write_study

        study = write_study(args.workdir)
    found = {m.kind: m for m in load_maps(study)}
    pairs = []
    for kind in QUANT_KINDS:
        fast = found[kind]
        cached = args.workdir / f"consistency_dl_{kind.value}.npy"
        if cached.exists():
            dl = upsample(fast, 2, "bicubic").with_array(np.load(cached), metadata={"method": "dl"})
        else:
            from quantsr.engine import EngineOptions, SuperResolver

            resolver = SuperResolver.for_kind(kind, options=EngineOptions(device="cpu", fast_consistency_mm=0.0))
            dl = resolver.run(fast, guides=found)
            dl.metadata.pop("sr_report", None)
            np.save(cached, dl.array)
        pairs.append((fast, dl))
    return pairs


def timed(function, *args) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def before_step(dl: QuantMap, fast: QuantMap, sigma_mm: float = DEFAULT_SIGMA_MM,
                eps: float | None = DEFAULT_EPS) -> QuantMap:
    """``before`` as a drop-in for ``fast_consistent``."""
    if sigma_mm <= 0:
        return dl
    return dl.with_array(before(dl, fast, sigma_mm, eps), metadata=dict(dl.metadata, fast_consistency_mm=sigma_mm))


#: --study-rounds settings: the step's implementation in the engine (None: the step off)
STUDY_SETTINGS = {"step before": before_step, "step now": fast_consistent, "step off": None}


def study_child(setting: str, args: argparse.Namespace) -> dict:
    """One in-memory study as bench_sr.py's production variant, the step as ``setting`` says, timed."""
    from quantsr import engine
    from quantsr.io.loader import load_maps

    found = {m.kind: m for m in load_maps(args.study)}
    maps = [found[kind] for kind in QUANT_KINDS]
    implementation = STUDY_SETTINGS[setting]
    options = engine.EngineOptions(device="cpu", fast_consistency_mm=0.0 if implementation is None else
                                   DEFAULT_SIGMA_MM)
    resolvers = {m.kind: engine.SuperResolver.for_kind(m.kind, options=options) for m in maps}
    step = {"wall": 0.0, "cpu": 0.0}

    def measured(dl: QuantMap, fast: QuantMap, sigma_mm: float, eps: float | None) -> QuantMap:
        wall, cpu, result = timed(implementation, dl, fast, sigma_mm, eps)
        step["wall"] += wall
        step["cpu"] += cpu
        return result  # type: ignore[return-value]

    engine.fast_consistent = measured  # type: ignore[assignment]  # the name SuperResolver.run calls
    wall, cpu, _ = timed(lambda: [resolvers[m.kind].run(m, guides=found) for m in maps])
    return {"seconds": wall, "cpu_seconds": cpu, "step_seconds": step["wall"], "step_cpu_seconds": step["cpu"]}


def study_rounds(args: argparse.Namespace) -> None:
    env = dict(os.environ, **dict(item.split("=", 1) for item in args.env))
    runs: dict[str, list[dict]] = {}
    load = [os.getloadavg()[0]]
    for _ in range(args.study_rounds):
        for setting in STUDY_SETTINGS:
            child = subprocess.run([sys.executable, __file__, "--study-child", setting, "--study", str(args.study),
                                    "--workdir", str(args.workdir)], capture_output=True, text=True, check=True,
                                   env=env)
            runs.setdefault(setting, []).append(json.loads(child.stdout.strip().splitlines()[-1]))
            load.append(os.getloadavg()[0])
    print(f"\nWhole study in memory ({args.study_rounds} rounds; env {' '.join(args.env) or '-'}; load average "
          f"{min(load):.1f}–{max(load):.1f}):\n")
    print("| step | study wall s (median, min–max) | study CPU s (median) | step wall s per study | "
          "step CPU s per study |")
    print("|---|---|---|---|---|")
    for setting, rows in runs.items():
        def median(key: str, rows: list[dict] = rows) -> float:
            return statistics.median(r[key] for r in rows)
        walls = [r["seconds"] for r in rows]
        print(f"| {setting} | {median('seconds'):.1f} ({min(walls):.1f}–{max(walls):.1f}) | "
              f"{median('cpu_seconds'):.1f} | {median('step_seconds'):.2f} | {median('step_cpu_seconds'):.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--study", type=Path, help="a folder of fast maps (default: bench_cli.py's study)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "quantsr-bench-cli")
    parser.add_argument("--study-rounds", type=int, default=0)
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--study-child", choices=tuple(STUDY_SETTINGS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.study is None and (args.study_child or args.study_rounds):
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_cli import write_study

        args.study = write_study(args.workdir)
    if args.study_child:
        print(json.dumps(study_child(args.study_child, args)))
        return
    if args.repeats > 0:
        per_map(args)
    if args.study_rounds > 0:
        study_rounds(args)


def per_map(args: argparse.Namespace) -> None:
    pairs = study_maps(args)
    print(f"{platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} CPUs, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(auto)')}, load average at start "
          f"{os.getloadavg()[0]:.1f}")
    rows = []
    for fast, dl in pairs:
        fast_consistent(dl, fast)  # warm-up: the Gaussian matrices, the thread pool, BLAS
        times: dict[str, list[tuple[float, float]]] = {"before": [], "now": [], "bicubic": [], "acquisition": []}
        for _ in range(args.repeats):
            for name, function in (("before", before), ("now", fast_consistent)):
                wall, cpu, result = timed(function, dl, fast)
                times[name].append((wall, cpu))
                if name == "before":
                    old = result
                else:
                    new = result.array  # type: ignore[attr-defined]
            wall, cpu, _ = timed(upsample, fast, 2, "bicubic")
            times["bicubic"].append((wall, cpu))
            wall, cpu, _ = timed(acquisition_step, dl, fast)
            times["acquisition"].append((wall, cpu))
        exact = before(dl, fast, dtype=np.float64)
        head = np.kron(fast.array > 0, np.ones((1, 2, 2))) > 0
        budget = 1e-3 * dl.kind.norm_physical
        difference = np.abs(new - old)
        rows.append((dl.kind.value, times, difference.max(), difference[head].max(), budget,
                     np.abs(old - exact).max(), np.abs(new - exact).max(), dl.kind.unit))
    print(f"load average at end {os.getloadavg()[0]:.1f}\n")
    print("| map | before: CPU s (min / median) | before: wall s | now: CPU s | now: wall s | bicubic alone: CPU s "
          "| max \\|now − before\\| (all / head) | share of the budget "
          "| max \\|before − float64\\| / \\|now − float64\\| | now, acquisition forward model: CPU s | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for kind, times, worst, worst_head, budget, old_error, new_error, unit in rows:
        cells = {(name, which): _spread([t[which] for t in times[name]])
                 for name in times for which in (0, 1)}
        print(f"| {kind} | {cells['before', 1]} | {cells['before', 0]} | {cells['now', 1]} | {cells['now', 0]} | "
              f"{cells['bicubic', 1]} | {worst:.2g} / {worst_head:.2g} {unit} | {worst / budget:.2%} of {budget:g} "
              f"{unit} | {old_error:.2g} / {new_error:.2g} {unit} | {cells['acquisition', 1]} | "
              f"{cells['acquisition', 0]} |")


def acquisition_step(dl: QuantMap, fast: QuantMap) -> QuantMap:
    """The step through the fast acquisition's forward model (session 11): two more FFT round trips per map."""
    return fast_consistent(dl, fast, forward="acquisition")


def _spread(values: list[float]) -> str:
    return f"{min(values):.3f} / {statistics.median(values):.3f}"


if __name__ == "__main__":
    main()
