"""Benchmark: the CPU's optimized path's forward on one head-cropped slice, per instruction set and runtime option —
how an AVX2-only CPU (no AVX-512) does, emulated on a bigger one.

    python Testing/Benchmarks/bench_cpu_isa.py [--rounds 5] [--reps 5] [--isa AVX2 --isa DEFAULT] [--cores 2]

``--isa AVX2`` runs the variant with ``ONEDNN_MAX_CPU_ISA=AVX2`` (and the older ``DNNL_MAX_CPU_ISA``) so oneDNN's
convolutions use their AVX2 kernels, and ``ATEN_CPU_CAPABILITY=avx2`` so torch's own kernels (adds, ReLU,
PixelShuffle) do too; ``DEFAULT`` leaves both alone. Each run is checked: oneDNN's verbose log must name the ISA
and an AVX2 convolution kernel. ONNX Runtime's MLAS kernels choose their ISA from CPUID and have no such switch,
so the ORT row always runs the machine's best ISA (marked).

Workload: the ``bench_cli.py`` study's fast T1 map (simulated patient, seed 77), the slice with the largest head,
cropped as the engine crops it (head box + the receptive radius), normalised; the bundled T1 model, BatchNorm
folded. Variants (each in its own process; ``--rounds`` rounds, the variants interleaved, ``--reps`` timed
forwards per process after two warm-ups; the table shows the median over rounds of each process's fastest):

- production: channels_last, ``torch.inference_mode``, the engine's thread count (the default);
- nchw: the same in contiguous (NCHW) layout;
- … 1 thread: with ``torch.set_num_threads(1)`` / one ORT thread: the cost per core, and how two cores share it;
- nnpack …: the 3×3 convolutions (only the 64→256 upsampling one, or all) by NNPACK's Winograd F(6×6, 3×3)
  kernels (``torch._nnpack_spatial_convolution``; NNPACK has AVX2 kernels only, so it runs the same code on
  either ISA) — fewer multiplications, more data movement;
- onnxruntime: the engine's ONNX Runtime session (``--runtime onnxruntime``), when installed.

Timed per forward: wall clock and the process's CPU time. When other jobs share the cores the wall clock
stretches; the CPU time of a one-thread variant does not (much), and "GFLOP per CPU-second" (the crop's FLOPs
over that time) is the per-core rate to compare with the ISA's peak (AVX2: 32 FLOP per cycle and core).
Errors against the naive fp32 forward of the same crop (BN unfused, NCHW) are printed in ms inside the head.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ISA_ENV = {"AVX2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "DNNL_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"},
           "DEFAULT": {}}
#: variant → threads (0: the engine's own count, all this process's cores)
VARIANTS = {"production": 0, "production, 1 thread": 1, "nchw": 0, "nnpack upsampling conv, 1 thread": 1,
            "nnpack all 3×3 convs": 0, "nnpack all 3×3 convs, 1 thread": 1, "onnxruntime": 0,
            "onnxruntime, 1 thread": 1}


def _crop(workdir: Path):
    import numpy as np

    from quantsr.io.loader import load_maps
    from quantsr.mapkinds import MapKind
    from quantsr.normalisation import normalise
    from quantsr.speedups import head_box

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_cli import write_study

    t1 = next(m for m in load_maps(write_study(workdir)) if m.kind is MapKind.T1)
    index = int(np.argmax((t1.array > 0).sum(axis=(1, 2))))
    lr = normalise(np.clip(t1.array[index : index + 1], 0, 4500.0), 4500.0).astype(np.float32)
    r0, r1, c0, c1 = head_box(lr, 16)
    return lr[:, r0:r1, c0:c1], t1.array[index, r0:r1, c0:c1] > 0


def child(variant: str, reps: int, workdir: Path) -> dict:
    import numpy as np
    import torch

    from quantsr.engine import cpu_threads
    from quantsr.mapkinds import MapKind
    from quantsr.model import flops_per_slice
    from quantsr.modelfile import find_bundled_model, load_model
    from quantsr.speedups import fold_batchnorm

    crop, head = _crop(workdir)
    generator, _ = load_model(find_bundled_model(MapKind.T1))
    threads = VARIANTS[variant] or cpu_threads()
    torch.set_num_threads(threads)
    folded = fold_batchnorm(generator)
    x = torch.from_numpy(crop[:, np.newaxis].copy())
    if variant.startswith("onnxruntime"):
        from quantsr.onnxbackend import OnnxRunner

        runner = OnnxRunner(folded, threads)

        def forward() -> np.ndarray:
            return runner(crop[:, np.newaxis])[0, 0]
    else:
        if variant.startswith("nnpack"):
            _use_nnpack(folded, every_3x3="all" in variant)
        if variant != "nchw" and "all" not in variant:
            folded = folded.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)

        def forward() -> np.ndarray:
            with torch.inference_mode():
                return folded(x)[0, 0].numpy()

    for _ in range(2):
        out = forward()
    times, cpu_times = [], []
    for _ in range(reps):
        started, cpu_started = time.perf_counter(), time.process_time()
        out = forward()
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu_started)
    with torch.inference_mode():
        reference = generator(torch.from_numpy(crop[:, np.newaxis].copy()))[0, 0].numpy()
    inside = np.kron(head, np.ones((2, 2))).astype(bool)
    error_ms = float(np.abs(out - reference)[inside].max() * 4500.0 / 2)
    return {"min": min(times), "median": statistics.median(times), "cpu": min(cpu_times), "error_ms": error_ms,
            "shape": list(crop.shape), "threads": threads,
            "gflop": flops_per_slice(generator.config, crop.shape[1], crop.shape[2]) / 1e9}


def _use_nnpack(generator, every_3x3: bool) -> None:
    """Replace the upsampling convolution (and, with ``every_3x3``, every 3×3 one) by NNPACK's."""
    import torch
    from torch import nn

    class NnpackConv(nn.Module):
        def __init__(self, conv: nn.Conv2d) -> None:
            super().__init__()
            self.weight, self.bias = conv.weight.detach().contiguous(), conv.bias.detach()
            self.padding = list(conv.padding)  # type: ignore[arg-type]

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch._nnpack_spatial_convolution(x.contiguous(), self.weight, self.bias, self.padding, [1, 1])

    if not torch._nnpack_available():  # the call also initialises NNPACK: without it every convolution fails
        raise SystemExit("this torch build has no NNPACK")
    generator.upsample[0] = NnpackConv(generator.upsample[0])
    if every_3x3:
        for block in generator.body:
            block.conv1, block.conv2 = NnpackConv(block.conv1), NnpackConv(block.conv2)
        generator.body_conv = NnpackConv(generator.body_conv)


def _run(variant: str, isa: str, args: argparse.Namespace, verbose: bool = False) -> dict | str:
    env = dict(os.environ, **ISA_ENV[isa])
    if verbose:
        env["ONEDNN_VERBOSE"] = "1"
    chosen = sorted(os.sched_getaffinity(0))[: args.cores] if args.cores else None
    done = subprocess.run([sys.executable, __file__, "--child", variant, "--reps", "1" if verbose else str(args.reps),
                           "--workdir", str(args.workdir)], env=env, capture_output=True, text=True, check=True,
                          preexec_fn=(lambda: os.sched_setaffinity(0, chosen)) if chosen else None)
    if verbose:
        isa_line = next((line.split("isa:", 1)[1] for line in done.stdout.splitlines() if ",isa:" in line), "?")
        kernels = sorted({line.split(",")[6] for line in done.stdout.splitlines() if ",exec,cpu,convolution," in line})
        return f"oneDNN ISA: {isa_line}; convolution kernels: {', '.join(kernels)}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--isa", action="append", choices=sorted(ISA_ENV), help="default: AVX2 and DEFAULT")
    parser.add_argument("--variant", action="append", choices=list(VARIANTS), help="default: all")
    parser.add_argument("--cores", type=int, help="pin each run to this many CPUs")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "quantsr-bench-cli")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.reps, args.workdir)))
        return
    from quantsr.onnxbackend import onnxruntime_available

    isas = args.isa or ["AVX2", "DEFAULT"]
    variants = [v for v in (args.variant or VARIANTS) if not v.startswith("onnxruntime") or onnxruntime_available()]
    for isa in isas:
        print(f"{isa}: {_run('production', isa, args, verbose=True)}")
    runs: dict[tuple[str, str], list[dict]] = {}
    for _ in range(args.rounds):
        for isa in isas:
            for variant in variants:
                runs.setdefault((isa, variant), []).append(_run(variant, isa, args))  # type: ignore[arg-type]
    first = next(iter(runs.values()))[0]
    print()
    print(f"Crop {first['shape'][1]}×{first['shape'][2]} LR pixels (one slice, {first['gflop']:.1f} GFLOP); "
          f"{args.rounds} rounds × {args.reps} forwards")
    print()
    print("| ISA | variant | threads | wall s / slice (median of per-process minima) | spread | CPU s / slice | "
          "GFLOP per CPU-second | max error in the head (ms) |")
    print("|---|---|---|---|---|---|---|---|")
    for (isa, variant), results in runs.items():
        minima = [r["min"] for r in results]
        cpu = statistics.median(r["cpu"] for r in results)
        mlas = variant.startswith("onnxruntime") and isa != "DEFAULT"
        label = f"{variant} (MLAS picks its own ISA)" if mlas else variant
        print(f"| {isa} | {label} | {results[0]['threads']} | {statistics.median(minima):.3f} | "
              f"{min(minima):.3f}–{max(minima):.3f} | {cpu:.3f} | {first['gflop'] / cpu:.0f} | "
              f"{max(r['error_ms'] for r in results):.4f} |")


if __name__ == "__main__":
    main()
