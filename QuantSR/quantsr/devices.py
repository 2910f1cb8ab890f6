"""Device choice for inference and training: CUDA when present, CPU otherwise; AMP only on CUDA."""

from __future__ import annotations

import torch

from .errors import QuantSRError


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """'auto' → first CUDA device if available else CPU; 'cuda' without a GPU is a clear error."""
    if isinstance(name, torch.device):
        return name
    key = (name or "auto").strip().lower()
    if key == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if key.startswith("cuda"):
        if not torch.cuda.is_available():
            raise QuantSRError(
                "device 'cuda' was requested but PyTorch sees no CUDA GPU (CPU-only torch build, no "
                "driver, or CUDA_VISIBLE_DEVICES empty); use --device cpu or auto"
            )
        return torch.device(key)
    if key == "cpu":
        return torch.device("cpu")
    raise QuantSRError(f"unknown device {name!r}: expected auto, cpu or cuda[:N]")


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        index = device.index or 0
        try:
            return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
        except (RuntimeError, AssertionError, AttributeError):  # e.g. the device vanished
            return f"cuda:{index}"
    return f"cpu ({torch.get_num_threads()} threads)"


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
