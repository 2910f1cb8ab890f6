"""Benchmark: super-resolution of a realistic study (T1 + T2 + PD, 24 slices, 256² → 512²).

    python Testing/Benchmarks/bench_sr.py [--repeats 3] [--device cpu]

Side by side: (a) the naive reference — full field of view, batch 1, fp32 eager, no BN folding;
(b) the production engine (BN folded, channels_last, head cropping, batches from the memory budget), run by
torch and — when onnxruntime is installed — by ONNX Runtime (its one-off export, ≈ 0.7 s per map, happens with
model loading, outside the timed region); (c) bicubic upsampling (the floor). Each variant runs in its own
process so peak RSS is its own. On CUDA
(``--device cuda``) the production engine runs with each precision / layout candidate (``CUDA_CANDIDATES``: fp16
autocast — the default —, float32 with and without TF32, bf16 autocast, channels_last, cudnn.benchmark) and without
overlapping host↔device transfers with compute (``production-serial``), after a warm-up, timed with CUDA events as
well as the wall clock, with peak GPU memory (``torch.cuda.max_memory_allocated``); the naive reference there is
strict float32 (TF32 off). Every production variant's max |variant − naive| inside the head is printed against the
accuracy bar (0.1 % of the map's range). ``--env`` / ``--cores`` set the timed processes' environment and CPUs
(e.g. ``--env ONEDNN_MAX_CPU_ISA=AVX2`` emulates a CPU without AVX-512).
The workload is one simulated patient (generated, not downloaded; or ``--study``: the same maps from a folder, e.g.
``bench_cli.py``'s DICOM study); weights are the bundled models, or random-initialised paper-size generators when
none are installed. Prints Markdown tables."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from quantsr.baselines import upsample
from quantsr.engine import EngineOptions, SuperResolver, cpu_cores
from quantsr.mapkinds import QUANT_KINDS
from quantsr.model import Generator, GeneratorConfig, flops_per_slice
from quantsr.modelfile import ModelInfo, find_bundled_model, load_model
from quantsr.onnxbackend import onnxruntime_available


def _workload(folder: Path) -> list[Path]:
    paths = [folder / f"fast_{k.value}.nrrd" for k in QUANT_KINDS]
    if all(p.exists() for p in paths):
        return paths
    from quantsr.io.images import write_image
    from quantsr.simulate.subject import simulate_subject

    subject = simulate_subject("bench", seed=77, n_lesions=2)
    for kind, path in zip(QUANT_KINDS, paths, strict=True):
        write_image(subject.maps["fast"][kind], path)
    return paths


def _maps(args: argparse.Namespace) -> list:
    """The workload's T1, T2 and PD maps: the simulated patient as NRRD (made once), or ``--study`` (e.g. the
    ``bench_cli.py`` DICOM study of the same patient, where SimpleITK is not installed: a lent GPU machine)."""
    if args.study:
        from quantsr.io.loader import load_maps

        found = {m.kind: m for m in load_maps(args.study)}
        return [found[kind] for kind in QUANT_KINDS]
    from quantsr.io.images import read_image

    return [read_image(p) for p in _workload(args.workdir)]


def _resolver(kind, options: EngineOptions) -> tuple[SuperResolver, str]:
    bundled = find_bundled_model(kind)
    if bundled:
        generator, info = load_model(bundled)
        return SuperResolver(generator, info, options), "bundled"
    torch.manual_seed(0)
    return SuperResolver(Generator(GeneratorConfig()), ModelInfo(kind, kind.norm_physical), options), "random"


def _matmul_gflops(device: torch.device) -> float:
    a = torch.rand(2048, 2048, device=device)
    b = torch.rand(2048, 2048, device=device)
    a @ b
    started = time.perf_counter()
    for _ in range(5):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 5 * 2 * 2048**3 / (time.perf_counter() - started) / 1e9


#: production: the engine's default (its CPU convolutions: oneDNN, or NNPACK where the CPU lacks AVX-512);
#: production-onednn / -nnpack: either one forced; production-onnxruntime: the optimized path run by ONNX Runtime
#: (``--runtime onnxruntime``), when installed.
CPU_CANDIDATES: dict[str, dict] = {"production": {}, "production-onednn": {"cpu_convolution": "onednn"},
                                   "production-nnpack": {"cpu_convolution": "nnpack"},
                                   "production-onnxruntime": {"runtime": "onnxruntime"}}
VARIANTS_CPU = ("naive", *CPU_CANDIDATES, "bicubic")
#: On CUDA the production engine (its default: fp16 autocast, NCHW) also runs with the other precision and layout
#: candidates, and without overlapping transfers with compute (what the side streams save). The naive reference
#: is strict float32 (TF32 off), as the accuracy bar is defined against it.
CUDA_CANDIDATES: dict[str, dict] = {
    "production": {},
    "production-fp32": {"amp": False},  # TF32 tensor cores (cuDNN's default for float32)
    "production-fp32-strict": {"amp": False, "tf32": False},
    "production-bf16": {"amp_dtype": "bfloat16"},
    "production-fp16-channels-last": {"channels_last": True},
    "production-fp32-channels-last": {"amp": False, "channels_last": True},
    "production-fp32-cudnn-benchmark": {"amp": False, "cudnn_benchmark": True},
    "production-serial": {"overlap": False},
}
VARIANTS_CUDA = ("naive", *CUDA_CANDIDATES, "bicubic")


def _options(variant: str, device: str, common: dict | None = None) -> EngineOptions:
    """The variant's engine options, plus ``common`` (``--option``) for every variant, the naive one included."""
    if variant == "naive":
        return EngineOptions(device=device, optimized=False, batch_size=1, amp=False, tf32=False, **(common or {}))
    candidates = CUDA_CANDIDATES if torch.device(device).type == "cuda" else CPU_CANDIDATES
    return EngineOptions(device=device, **{**candidates.get(variant, {}), **(common or {})})


def _common_options(items: list[str]) -> dict:
    """--option KEY=VALUE → EngineOptions keyword arguments (numbers and booleans parsed)."""
    parsed = {}
    for item in items:
        key, _, text = item.partition("=")
        value: object = {"true": True, "false": False}.get(text.lower(), text)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):  # not a number: keep the text
                value = float(text) if "." in text else int(text)
        parsed[key.strip()] = value
    return parsed


def run_variant(variant: str, maps: list, device: str, out_dir: Path, common: dict | None = None) -> dict:
    cuda = torch.device(device).type == "cuda"
    weights = "-"
    resolvers = {}
    setup_started = time.perf_counter()
    if variant != "bicubic":
        for qmap in maps:
            resolvers[qmap.kind], weights = _resolver(qmap.kind, _options(variant, device, common))
        if cuda:  # warm-up: cuDNN autotuning and the caching allocator are not part of the study time
            head = {q.kind: q.with_array(q.array[: min(4, q.shape[0])]) for q in maps}
            for qmap in head.values():
                resolvers[qmap.kind].run(qmap, guides=head)
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
    setup = time.perf_counter() - setup_started  # model loading (+ ONNX export), reported beside the study time
    if cuda:
        start_event, end_event = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start_event.record()
    started = time.perf_counter()
    study = {q.kind: q for q in maps}  # guide-map models read the study's other maps
    results = [upsample(q, 2, "bicubic") if variant == "bicubic" else resolvers[q.kind].run(q, guides=study)
               for q in maps]
    seconds = time.perf_counter() - started
    row = {"variant": variant, "seconds": seconds, "setup_seconds": setup, "weights": weights,
           "peak_rss_gib": _peak_rss_gib()}
    if cuda:
        end_event.record()
        torch.cuda.synchronize()
        row["gpu_seconds"] = start_event.elapsed_time(end_event) / 1000
        row["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 1024**3
    for qmap, result in zip(maps, results, strict=True):
        np.save(out_dir / f"{variant}_{qmap.kind.value}.npy", result.array)
    return row


def _peak_rss_gib() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a
    child would report its parent's peak (the simulated workload)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main() -> None:
    from bench_cli import cpu_model  # stdlib only: also where SimpleITK is missing (a lent GPU machine)

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "quantsr-bench-sr")
    parser.add_argument("--study", type=Path, help="the workload from this folder (DICOM / NRRD T1, T2 and PD maps) "
                        "instead of the simulated NRRDs in --workdir")
    parser.add_argument("--variants", help="comma-separated subset of the variants (naive is always run)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="environment of the timed processes (repeat), e.g. ONEDNN_MAX_CPU_ISA=AVX2")
    parser.add_argument("--cores", type=int, help="pin the timed processes to this many CPUs")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="an EngineOptions field for every variant (repeat), e.g. fast_consistency_mm=0")
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.variant:  # child process: one run of one variant
        print(json.dumps(run_variant(args.variant, _maps(args), args.device, args.workdir,
                                     _common_options(args.option))))
        return

    maps = _maps(args)  # made here once (the simulation), not in every child
    cuda = torch.device(args.device).type == "cuda"
    runs: dict[str, list[dict]] = {}
    variants = VARIANTS_CUDA if cuda else VARIANTS_CPU
    if args.variants:
        wanted = {"naive", *(v.strip() for v in args.variants.split(","))}
        variants = tuple(v for v in variants if v in wanted)
    if not onnxruntime_available():
        variants = tuple(v for v in variants if v != "production-onnxruntime")
    env = dict(os.environ, **dict(item.split("=", 1) for item in args.env))
    chosen = sorted(os.sched_getaffinity(0))[: args.cores] if args.cores else None
    study = ["--study", str(args.study)] if args.study else []
    study += [f"--option={item}" for item in args.option]
    for _ in range(args.repeats):  # variants interleaved: a change in the machine's load hits them alike
        for variant in variants:
            child = subprocess.run([sys.executable, __file__, "--variant", variant, "--device", args.device,
                                    "--workdir", str(args.workdir), *study], capture_output=True, text=True,
                                   check=True, env=env,
                                   preexec_fn=(lambda: os.sched_setaffinity(0, chosen)) if chosen else None)
            runs.setdefault(variant, []).append(json.loads(child.stdout.strip().splitlines()[-1]))
    slices = sum(m.shape[0] for m in maps)
    full_flops = sum(flops_per_slice(GeneratorConfig(), m.shape[1], m.shape[2]) * m.shape[0] for m in maps)
    ceiling = _matmul_gflops(torch.device(args.device))
    median = {v: statistics.median(r["seconds"] for r in rs) for v, rs in runs.items()}

    cores = args.cores or cpu_cores()
    extra = f"; env {' '.join(args.env)}" if args.env else ""
    extra += f"; options {' '.join(args.option)}" if args.option else ""
    print(f"Machine: {platform.machine()} ({cpu_model()}), {cores} CPUs for torch{extra}, torch {torch.__version__}, "
          f"device {args.device}; weights: {runs['naive'][0]['weights']}; workload: 3 maps × "
          f"{maps[0].shape[0]} slices, {maps[0].shape[2]}×{maps[0].shape[1]} → ×2; matmul ceiling "
          f"{ceiling:.0f} GFLOP/s")
    print()
    gpu_header = " GPU s (CUDA events) | peak GPU memory (GiB) |" if cuda else ""
    print("| variant | s / study (median) | min–max | slices/s | GFLOP/s (full-field equivalent) | "
          f"% of matmul ceiling | peak RSS (GiB) | naive / variant | model set-up (s) |{gpu_header}")
    print("|---|---|---|---|---|---|---|---|---|" + ("---|---|" if cuda else ""))
    for variant, rs in runs.items():
        times = [r["seconds"] for r in rs]
        gflops = full_flops / median[variant] / 1e9
        gpu = (f" {statistics.median(r['gpu_seconds'] for r in rs):.2f} | "
               f"{max(r['peak_gpu_gib'] for r in rs):.2f} |" if cuda else "")
        rate = "– | –" if variant == "bicubic" else f"{gflops:.0f} | {100 * gflops / ceiling:.0f} %"
        print(f"| {variant} | {median[variant]:.1f} | {min(times):.1f}–{max(times):.1f} | "
              f"{slices / median[variant]:.1f} | {rate} | "
              f"{max(r['peak_rss_gib'] for r in rs):.2f} | {median['naive'] / median[variant]:.1f}× | "
              f"{statistics.median(r['setup_seconds'] for r in rs):.2f} |{gpu}")
    print()
    compared = [v for v in runs if v.startswith("production")]
    naive_maps = {q.kind: np.load(args.workdir / f"naive_{q.kind.value}.npy") for q in maps}
    heads = {q.kind: np.kron(q.array > 0, np.ones((1, 2, 2))).astype(bool) for q in maps}
    print("| max \\|variant − naive\\| in the head | " + " | ".join(
        f"{q.kind.value} (bar {0.001 * q.kind.norm_physical:.2f} {q.kind.unit})" for q in maps) + " | within the bar |")
    print("|---|" + "---|" * (len(maps) + 1))
    for variant in compared:
        shares = []
        cells = []
        for qmap in maps:
            result = np.load(args.workdir / f"{variant}_{qmap.kind.value}.npy")
            error = float(np.abs(result - naive_maps[qmap.kind])[heads[qmap.kind]].max())
            shares.append(error / (0.001 * qmap.kind.norm_physical))
            cells.append(f"{error:.3f} {qmap.kind.unit} ({100 * shares[-1]:.0f} %)")
        print(f"| {variant} | " + " | ".join(cells) + f" | {'yes' if max(shares) <= 1 else 'no'} |")


if __name__ == "__main__":
    main()
