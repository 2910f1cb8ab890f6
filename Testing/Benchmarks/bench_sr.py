"""Benchmark: super-resolution of a realistic study (T1 + T2 + PD, 24 slices, 256² → 512²).

    python Testing/Benchmarks/bench_sr.py [--repeats 3] [--device cpu]

Side by side: (a) the naive reference — full field of view, batch 1, fp32 eager, no BN folding;
(b) the production engine (BN folded, channels_last, head cropping, batches from the memory budget), run by
torch and — when onnxruntime is installed — by ONNX Runtime (its one-off export, ≈ 0.7 s per map, happens with
model loading, outside the timed region); (c) bicubic upsampling (the floor). Each variant runs in its own
process so peak RSS is its own. On CUDA
(``--device cuda``) the production engine runs with and without fp16 autocast and with and without overlapping
host↔device transfers with compute (``production-serial``), after a warm-up, timed
with CUDA events as well as the wall clock, with peak GPU memory (``torch.cuda.max_memory_allocated``).
The workload is one simulated patient (generated, not downloaded); weights are the bundled models, or
random-initialised paper-size generators when none are installed. Prints a Markdown table."""

from __future__ import annotations

import argparse
import json
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
from quantsr.io.images import read_image, write_image
from quantsr.mapkinds import QUANT_KINDS
from quantsr.model import Generator, GeneratorConfig, flops_per_slice
from quantsr.modelfile import ModelInfo, find_bundled_model, load_model
from quantsr.onnxbackend import onnxruntime_available


def _workload(folder: Path) -> list[Path]:
    paths = [folder / f"fast_{k.value}.nrrd" for k in QUANT_KINDS]
    if all(p.exists() for p in paths):
        return paths
    from quantsr.simulate.cohort import simulate_subject

    subject = simulate_subject("bench", seed=77, n_lesions=2)
    for kind, path in zip(QUANT_KINDS, paths, strict=True):
        write_image(subject.maps["fast"][kind], path)
    return paths


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


#: production-onnxruntime: the same fast path run by ONNX Runtime (``--runtime onnxruntime``), when installed.
VARIANTS_CPU = ("naive", "production", "production-onnxruntime", "bicubic")
#: On CUDA the production engine also runs without autocast (AMP's speed and error) and without overlapping
#: transfers with compute (what the side streams save).
VARIANTS_CUDA = ("naive", "production", "production-fp32", "production-serial", "bicubic")


def _options(variant: str, device: str) -> EngineOptions:
    return EngineOptions(device=device, fast=variant != "naive", batch_size=1 if variant == "naive" else None,
                         amp=variant in ("production", "production-serial"),  # naive, production-fp32: float32
                         overlap=variant != "production-serial",
                         runtime="onnxruntime" if variant == "production-onnxruntime" else "torch")


def run_variant(variant: str, paths: list[Path], device: str, out_dir: Path) -> dict:
    maps = [read_image(p) for p in paths]
    cuda = torch.device(device).type == "cuda"
    weights = "-"
    resolvers = {}
    setup_started = time.perf_counter()
    if variant != "bicubic":
        for qmap in maps:
            resolvers[qmap.kind], weights = _resolver(qmap.kind, _options(variant, device))
        if cuda:  # warm-up: cuDNN autotuning and the caching allocator are not part of the study time
            for qmap in maps:
                resolvers[qmap.kind].run(qmap.with_array(qmap.array[: min(4, qmap.shape[0])]))
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
    setup = time.perf_counter() - setup_started  # model loading (+ ONNX export), reported beside the study time
    if cuda:
        start_event, end_event = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start_event.record()
    started = time.perf_counter()
    results = [upsample(q, 2, "bicubic") if variant == "bicubic" else resolvers[q.kind].run(q) for q in maps]
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


def _cpu_model() -> str:
    """The CPU's model name and the vector extensions that matter for convolutions (Linux; else the platform)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    wanted = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_int8") if f in flags]
    return f"{name}; {' '.join(wanted) or 'no AVX2'}"


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "quantsr-bench-sr")
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    paths = _workload(args.workdir)
    if args.variant:  # child process: one run of one variant
        print(json.dumps(run_variant(args.variant, paths, args.device, args.workdir)))
        return

    cuda = torch.device(args.device).type == "cuda"
    runs: dict[str, list[dict]] = {}
    variants = VARIANTS_CUDA if cuda else VARIANTS_CPU
    if not onnxruntime_available():
        variants = tuple(v for v in variants if v != "production-onnxruntime")
    for variant in variants:
        for _ in range(args.repeats):
            child = subprocess.run([sys.executable, __file__, "--variant", variant, "--device", args.device,
                                    "--workdir", str(args.workdir)], capture_output=True, text=True, check=True)
            runs.setdefault(variant, []).append(json.loads(child.stdout.strip().splitlines()[-1]))
    maps = [read_image(p) for p in paths]
    slices = sum(m.shape[0] for m in maps)
    full_flops = sum(flops_per_slice(GeneratorConfig(), m.shape[1], m.shape[2]) * m.shape[0] for m in maps)
    ceiling = _matmul_gflops(torch.device(args.device))
    median = {v: statistics.median(r["seconds"] for r in rs) for v, rs in runs.items()}

    print(f"Machine: {platform.machine()} ({_cpu_model()}), {cpu_cores()} CPUs for torch, torch {torch.__version__}, "
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
    print("| map | " + " | ".join(f"max |{v} − naive| in the head" for v in compared) + " | 0.1 % of range |")
    print("|---|" + "---|" * (len(compared) + 1))
    for qmap in maps:
        naive = np.load(args.workdir / f"naive_{qmap.kind.value}.npy")
        head = np.kron(qmap.array > 0, np.ones((1, 2, 2))).astype(bool)
        errors = [np.abs(np.load(args.workdir / f"{v}_{qmap.kind.value}.npy") - naive)[head].max() for v in compared]
        print(f"| {qmap.kind.value} | " + " | ".join(f"{e:.3f} {qmap.kind.unit}" for e in errors) +
              f" | {0.001 * qmap.kind.norm_physical:.2f} {qmap.kind.unit} |")


if __name__ == "__main__":
    main()
