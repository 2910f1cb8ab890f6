"""Optional ONNX Runtime CPU backend for the engine's optimized path: the BatchNorm-folded generator exported to
ONNX in memory and run by an ``InferenceSession``, somewhat faster than torch on the CPU with the same output to
within rounding (the measurements: ``Testing/Benchmarks/bench_runtimes.py``, ``docs/benchmarks.md``).

``onnxruntime`` and ``onnx`` (torch's exporter needs it) are optional dependencies (``pip install quantsr[onnx]``);
the runtime choice lives here too so that the engine only asks "which runtime?" and gets "torch" or "onnxruntime".
"""

from __future__ import annotations

import io
import logging
import warnings
from typing import TYPE_CHECKING

import numpy as np

from .errors import ModelError, QuantSRError

if TYPE_CHECKING:  # torch is imported where used: the CLI reads RUNTIMES without loading it
    import torch

    from .model import Generator

log = logging.getLogger("quantsr")

RUNTIMES = ("torch", "onnxruntime", "auto")

# Any size works (the batch and spatial axes are dynamic); small keeps the trace cheap.
_EXAMPLE_SIZE = 16

_MISSING = ("the onnxruntime runtime was requested but onnxruntime or onnx is not installed: pip install onnxruntime "
            "onnx (or pip install quantsr[onnx])")


def onnxruntime_available() -> bool:
    """Whether ``onnxruntime`` and ``onnx`` import (a real import: a wheel can still lack its native library)."""
    try:
        import onnx  # noqa: F401  (torch.onnx.export needs it)
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_runtime(name: str, device: torch.device, optimized: bool) -> str:
    """"torch" or "onnxruntime" for a requested runtime: ONNX Runtime only on the CPU's optimized path ("auto": when
    installed); the naive path (``optimized`` False) is the reference and always runs torch."""
    key = (name or "torch").strip().lower()
    if key not in RUNTIMES:
        raise QuantSRError(f"unknown runtime {name!r}: expected {', '.join(RUNTIMES)}")
    if key == "torch":
        return "torch"
    if not optimized:
        if key == "onnxruntime":
            log.warning("the naive path (optimized=False) is the torch reference; ignoring runtime onnxruntime")
        return "torch"
    if device.type != "cpu":
        if key == "onnxruntime":
            log.warning("the onnxruntime runtime runs on the CPU only; using torch on %s", device)
        return "torch"
    if onnxruntime_available():
        return "onnxruntime"
    if key == "onnxruntime":
        raise ModelError(_MISSING)
    return "torch"


class OnnxRunner:
    """A generator as an ONNX Runtime CPU session: ``runner(batch (N, 1, H, W) float32) → (N, 1, sH, sW)``."""

    def __init__(self, generator: Generator, threads: int) -> None:
        try:
            import onnx  # noqa: F401  (torch.onnx.export needs it)
            import onnxruntime as ort
        except ImportError as exc:
            raise ModelError(_MISSING) from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1  # one graph at a time: the convolutions use every core already
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(export_onnx(generator), options, providers=["CPUExecutionProvider"])

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"lr": np.ascontiguousarray(batch, dtype=np.float32)})[0]


def export_onnx(generator: Generator) -> bytes:
    """The generator (on the CPU; switched to eval mode) as ONNX bytes, opset 17, dynamic batch and spatial axes.

    The TorchScript-based exporter (``dynamo=False``): the dynamo exporter needs ``onnxscript``."""
    import torch

    model = generator.eval()
    example = torch.full((1, generator.config.in_channels, _EXAMPLE_SIZE, _EXAMPLE_SIZE), -1.0)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice is not the user's concern
        # a file object works; torch's annotation says path only
        torch.onnx.export(model, (example,), buffer,  # type: ignore[arg-type]
                          dynamo=False, opset_version=17, input_names=["lr"],
                          output_names=["hr"], dynamic_axes={"lr": {0: "n", 2: "h", 3: "w"},
                                                             "hr": {0: "n", 2: "h2", 3: "w2"}})
    return buffer.getvalue()
