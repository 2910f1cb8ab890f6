"""Benchmark: the bicubic baseline as first implemented (``scipy.ndimage.zoom``) against ``quantsr.baselines``
now — the torch-free CPU path, torch on the CPU, and torch on CUDA when there is one — on the ``bench_cli.py``
study's fast T1 / T2 / PD maps (simulated patient, seed 77; 24 slices of 256² → 512²).

    python Testing/Benchmarks/bench_baselines.py [--repeats 3]

Per map: CPU seconds (the process's, all threads; robust when other jobs share the cores) or, on CUDA, wall seconds
after a warm-up; max |new − old| over the whole map; and how far ``torch.nn.functional.interpolate(mode="bicubic")``
— Keys' cubic convolution without prefilter, *not* what QuantSR uses — is from the B-spline baseline inside the head.
Prints a Markdown table."""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from quantsr.baselines import Interpolation, _upsample_torch, upsample
from quantsr.io.loader import load_maps


def zoom_baseline(values: np.ndarray) -> np.ndarray:
    """The baseline as it was: scipy's cubic B-spline zoom, mirrored borders, float64, clipped at 0."""
    out = ndimage.zoom(values.astype(np.float64), (1, 2, 2), order=3, mode="mirror", grid_mode=True)
    return np.maximum(out, 0).astype(np.float32)


def cpu_seconds(call, repeats: int) -> tuple[float, np.ndarray]:
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.process_time()
        result = call()
        best = min(best, time.process_time() - started)
    return best, result


def cuda_seconds(call, repeats: int) -> tuple[float, np.ndarray]:
    call()  # warm-up: cuDNN's choice, the caching allocator
    best, result = float("inf"), None
    for _ in range(repeats):
        torch.cuda.synchronize()
        started = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "quantsr-bench-cli")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_cli import cpu_model, write_study

    maps = load_maps(write_study(args.workdir))
    torch.set_num_threads(1)  # one core each, so the CPU seconds compare like with like
    cuda = torch.cuda.is_available()
    print(f"Machine: {platform.machine()} ({cpu_model()}); torch {torch.__version__}, 1 thread"
          + (f"; GPU {torch.cuda.get_device_name(0)}" if cuda else "") + f"; best of {args.repeats}")
    print()
    columns = ["scipy zoom (before), CPU s", "CPU path (now), CPU s", "torch on the CPU, CPU s"]
    if cuda:
        columns.append("torch on CUDA, wall s")
    print("| map | " + " | ".join(columns) + " | max \\|now − before\\| | Keys' bicubic − B-spline in the head: max / "
          "99th percentile |")
    print("|---|" + "---|" * (len(columns) + 2))
    for qmap in maps:
        before_s, before = cpu_seconds(lambda q=qmap: zoom_baseline(q.array), args.repeats)
        now_s, now = cpu_seconds(lambda q=qmap: upsample(q, 2, "bicubic", device="cpu").array, args.repeats)
        torch_s, on_torch = cpu_seconds(lambda q=qmap: np.maximum(
            _upsample_torch(q.array, 2, Interpolation.BICUBIC, torch.device("cpu")), 0), args.repeats)
        cells = [f"{before_s:.2f}", f"{now_s:.2f}", f"{torch_s:.2f}"]
        differences = [np.abs(now - before).max(), np.abs(on_torch - before).max()]
        if cuda:
            cuda_s, on_cuda = cuda_seconds(lambda q=qmap: upsample(q, 2, "bicubic", device="cuda").array, args.repeats)
            cells.append(f"{cuda_s:.3f}")
            differences.append(np.abs(on_cuda - before).max())
        keys = torch.nn.functional.interpolate(torch.from_numpy(qmap.array)[:, None].double(), scale_factor=2,
                                               mode="bicubic", align_corners=False)[:, 0].clamp(min=0).numpy()
        head = np.kron(qmap.array > 0, np.ones((1, 2, 2))).astype(bool)
        keys_off = np.abs(keys - before)[head]
        print(f"| {qmap.kind.value} | " + " | ".join(cells) + f" | {max(differences):.2g} {qmap.kind.unit} | "
              f"{keys_off.max():.1f} / {np.percentile(keys_off, 99):.1f} {qmap.kind.unit} |")


if __name__ == "__main__":
    main()
