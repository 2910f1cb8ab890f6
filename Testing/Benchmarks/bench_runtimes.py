"""Benchmark: ONNX Runtime (fp32, int8 QDQ) and torch int8 against the torch fp32 CPU path (issue 7).

    .venv/bin/python Testing/Benchmarks/bench_runtimes.py --rounds 5 --size 200

Needs ``onnxruntime`` and ``onnx`` (the optional extra: ``pip install quantsr[onnx]``; the test extra has
them). The workload is
a batch of 2 normalised slices of a simulated fast T1 map (one ``simulate_subject`` run, cached as .npy in
``--workdir``), cropped to ``--size``² around the head as the engine's head crop does; the generator is the
bundled T1 model (random-initialised paper-size generator if none is installed) with BatchNorm folded.

Variants, each taking the same float32 batch and returning the normalised output:

- torch fp32: eager, channels_last, ``torch.inference_mode`` — the production path and the reference;
- ORT fp32: the same folded model exported to ONNX, CPU execution provider, all graph optimisations;
- ORT int8: static QDQ quantisation (``quantize_static``, per-channel int8 weights, uint8 activations, MinMax
  calibration on other slices of the same map); the 9×9 head conv, the 1×1 tail conv and what follows
  (tanh or the bicubic skip) stay fp32 so that the input and output are not rounded to 8 bits;
- torch int8: FX graph-mode post-training quantisation (x86 backend), same fp32 head and tail.

One warm-up run each, then ``--rounds`` interleaved rounds (A B C D, A B C D, …). Errors are against torch fp32,
in physical units after denormalising and clipping as the engine does, inside the head (LR voxels > 0, ×2).
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from quantsr.mapkinds import MapKind
from quantsr.model import Generator, GeneratorConfig, flops_per_slice
from quantsr.modelfile import find_bundled_model, load_model
from quantsr.normalisation import normalise
from quantsr.speedups import fold_batchnorm

Runner = Callable[[np.ndarray], np.ndarray]
THREADS = 2
NORM = MapKind.T1.norm_physical


def fast_maps(workdir: Path) -> dict[MapKind, np.ndarray]:
    """The fast-protocol T1, T2 and PD maps (slices, rows, cols) of one simulated subject, cached as .npy."""
    caches = {kind: workdir / f"fast_{kind.value}_seed77.npy" for kind in (MapKind.T1, MapKind.T2, MapKind.PD)}
    if all(path.exists() for path in caches.values()):
        return {kind: np.load(path) for kind, path in caches.items()}
    from quantsr.simulate.subject import simulate_subject

    started = time.perf_counter()
    fast = simulate_subject("bench", seed=77, n_lesions=2).maps["fast"]
    print(f"(simulated the workload in {time.perf_counter() - started:.0f} s; cached in {workdir})")
    for kind, path in caches.items():
        np.save(path, fast[kind].array.astype(np.float32))
    return {kind: np.load(path) for kind, path in caches.items()}


def model_input(maps: dict[MapKind, np.ndarray], guides: tuple[MapKind, ...]) -> np.ndarray:
    """(slices, 1 + guides, rows, cols): T1 and the model's guide maps, each normalised by its own constant."""
    return np.stack([normalise(np.clip(maps[kind], 0.0, kind.norm_physical), kind.norm_physical)
                     for kind in (MapKind.T1, *guides)], axis=1).astype(np.float32)


def generator() -> tuple[Generator, str, tuple[MapKind, ...]]:
    """The bundled T1 generator (or a random paper-size one) in eval mode, BatchNorm not yet folded, and its guide
    maps."""
    bundled = find_bundled_model(MapKind.T1)
    if bundled is not None:
        model, info = load_model(bundled)
        return model.eval(), f"bundled {bundled.name}", info.guide_kinds
    torch.manual_seed(0)
    return Generator(GeneratorConfig()).eval(), "random-initialised", ()


def batches(values: np.ndarray, size: int, calibration: int) -> tuple[np.ndarray, np.ndarray]:
    """(test batch of 2 slices, calibration slices) of normalised (slices, channels, rows, cols) input, cropped to
    size² around the head (channel 0's)."""
    occupied = (values[:, 0] > -1).sum(axis=(1, 2))
    ranked = [int(i) for i in np.argsort(-occupied) if occupied[i] > 0.5 * occupied.max()]
    test = sorted(ranked[:2])
    rest = sorted(ranked[2:])
    calib = [rest[int(i)] for i in np.linspace(0, len(rest) - 1, min(calibration, len(rest)))]
    head = np.any(values[test, 0] > -1, axis=0)
    rows, cols = np.flatnonzero(head.any(axis=1)), np.flatnonzero(head.any(axis=0))
    h, w = head.shape
    r0 = int(np.clip((rows[0] + rows[-1] + 1) // 2 - size // 2, 0, max(0, h - size)))
    c0 = int(np.clip((cols[0] + cols[-1] + 1) // 2 - size // 2, 0, max(0, w - size)))
    norm = np.ascontiguousarray(values[..., r0 : r0 + size, c0 : c0 + size])
    print(f"(test slices {test}, calibration slices {calib}, crop rows {r0}:{r0 + size}, cols {c0}:{c0 + size})")
    return norm[test], norm[calib]


def torch_fp32(model: Generator) -> Runner:
    model = model.to(memory_format=torch.channels_last)

    def run(batch: np.ndarray) -> np.ndarray:
        tensor = torch.from_numpy(np.ascontiguousarray(batch))
        with torch.inference_mode():
            return model(tensor.contiguous(memory_format=torch.channels_last))[:, 0].numpy()

    return run


def export_onnx(model: Generator, example: np.ndarray, path: Path) -> Path:
    """TorchScript-based exporter (the dynamo exporter needs onnxscript); dynamic batch and size."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.from_numpy(example),), str(path), dynamo=False,
                          input_names=["lr"], output_names=["sr"], opset_version=17,
                          dynamic_axes={"lr": {0: "n", 2: "h", 3: "w"}, "sr": {0: "n", 2: "sh", 3: "sw"}})
    return path


def ort_session(path: Path) -> Runner:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {"lr": np.ascontiguousarray(batch)})[0][:, 0]

    return run


def fp32_nodes(path: Path) -> list[str]:
    """Nodes left in fp32: the head and tail convs, Resize (bicubic skip) and everything after the tail."""
    import onnx

    graph = onnx.load(str(path)).graph
    outputs = {o.name for o in graph.output}  # the node writing the output: tanh, or the bicubic skip's Add
    return [node.name for node in graph.node
            if node.name.startswith(("/head/", "/tail/")) or node.op_type in ("Resize", "Tanh")
            or outputs.intersection(node.output)]


def quantise_onnx(fp32: Path, calibration: np.ndarray, workdir: Path) -> tuple[Path, list[str]]:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"lr": calibration[i : i + 1]} for i in range(len(calibration))])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    prepared, int8 = workdir / "generator_prep.onnx", workdir / "generator_int8.onnx"
    quant_pre_process(str(fp32), str(prepared))
    keep = fp32_nodes(prepared)
    quantize_static(str(prepared), str(int8), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=keep)
    return int8, keep


def torch_int8(unfolded: Generator, calibration: np.ndarray) -> Runner:
    """FX post-training static quantisation (x86 backend folds BN itself); head and tail kept fp32."""
    from torch.ao.quantization import get_default_qconfig_mapping, quantize_fx

    torch.backends.quantized.engine = "x86"
    mapping = get_default_qconfig_mapping("x86").set_module_name("head", None).set_module_name("tail", None)
    example = torch.from_numpy(calibration[:1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = quantize_fx.prepare_fx(unfolded.eval(), mapping, (example,))
        with torch.inference_mode():
            for i in range(len(calibration)):
                prepared(torch.from_numpy(calibration[i : i + 1]))
        model = quantize_fx.convert_fx(prepared)

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(np.ascontiguousarray(batch)))[:, 0].numpy()

    return run


def physical(out: np.ndarray) -> np.ndarray:
    return np.clip((out.astype(np.float64) + 1.0) / 2.0 * NORM, 0.0, NORM)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=200, help="LR crop (pixels per side)")
    parser.add_argument("--calibration", type=int, default=4, help="calibration slices for int8")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "quantsr-bench-runtimes")
    parser.add_argument("--skip-torch-int8", action="store_true")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(THREADS)

    import onnx
    import onnxruntime

    unfolded, weights, guides = generator()
    batch, calibration = batches(model_input(fast_maps(args.workdir), guides), args.size, args.calibration)
    folded = fold_batchnorm(unfolded)
    runners: dict[str, Runner] = {}
    problems: list[str] = []
    started = time.perf_counter()
    fp32_path = export_onnx(folded, batch, args.workdir / "generator_fp32.onnx")
    int8_path, kept = quantise_onnx(fp32_path, calibration, args.workdir)
    print(f"(export + quantisation {time.perf_counter() - started:.0f} s; ORT int8 fp32 nodes: {kept})")
    runners["torch fp32 eager, channels_last (reference)"] = torch_fp32(folded)
    runners["ONNX Runtime fp32"] = ort_session(fp32_path)
    runners["ONNX Runtime int8 QDQ (per-channel)"] = ort_session(int8_path)
    if not args.skip_torch_int8:
        try:
            runners["torch int8 FX (x86 backend)"] = torch_int8(unfolded, calibration)
        except Exception as exc:  # an optional variant: report and go on
            problems.append(f"torch int8: {type(exc).__name__}: {exc}")

    outputs = {name: run(batch) for name, run in runners.items()}  # warm-up, and the outputs compared
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(args.rounds):
        for name, run in runners.items():
            t0 = time.perf_counter()
            run(batch)
            seconds[name].append(time.perf_counter() - t0)

    reference = physical(outputs[next(iter(runners))])
    head = np.kron(batch > -1.0 + 1e-6, np.ones((1, 2, 2))).astype(bool)
    n, h, w = batch.shape
    gflop = flops_per_slice(unfolded.config, h, w) * n / 1e9
    print(f"Machine: {platform.machine()} ({platform.processor() or 'cpu'}), torch {torch.__version__} "
          f"({THREADS} threads), onnxruntime {onnxruntime.__version__}, onnx {onnx.__version__}, numpy "
          f"{np.__version__}; weights: {weights} (residual={unfolded.config.residual}); batch {n}×{h}×{w} → ×2 "
          f"({gflop:.0f} GFLOP fp32); {args.rounds} interleaved rounds after 1 warm-up; head voxels {head.sum()}")
    print()
    print("| variant | s / batch (median) | min–max (s) | slices/s | GFLOP/s (fp32-equivalent) | speed-up vs torch "
          "fp32 | max abs err in head (ms) | p99 abs err in head (ms) | within 4.5 ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    base = statistics.median(seconds[next(iter(runners))])
    for name in runners:
        med = statistics.median(seconds[name])
        error = np.abs(physical(outputs[name]) - reference)[head]
        ok = "yes" if error.max() <= 0.001 * NORM else "no"
        print(f"| {name} | {med:.2f} | {min(seconds[name]):.2f}–{max(seconds[name]):.2f} | {n / med:.2f} | "
              f"{gflop / med:.0f} | {base / med:.2f}× | {error.max():.3f} | {np.percentile(error, 99):.3f} | {ok} |")
    for problem in problems:
        print(f"\nProblem: {problem}")


if __name__ == "__main__":
    main()
