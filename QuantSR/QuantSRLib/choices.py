"""The panel's fixed choices as enums with readable labels: Slicer's parameter-node combo-box connector shows
``label()`` and stores the member name, so users read "Deep learning (SRGAN)" instead of a raw "dl"."""

from __future__ import annotations

import enum


class _Labelled(enum.Enum):
    def label(self) -> str:
        return _LABELS[self]


class SRMethod(_Labelled):
    DL = "dl"
    BICUBIC = "bicubic"
    LINEAR = "linear"


class Device(_Labelled):
    AUTO = "auto"
    CUDA = "cuda"
    CPU = "cpu"


class Runtime(_Labelled):
    TORCH = "torch"
    AUTO = "auto"
    ONNXRUNTIME = "onnxruntime"


class Colormap(_Labelled):
    GREY = "grey"
    VIRIDIS = "viridis"
    RAINBOW = "rainbow"


_LABELS: dict[enum.Enum, str] = {
    SRMethod.DL: "Deep learning (SRGAN)",
    SRMethod.BICUBIC: "Bicubic interpolation",
    SRMethod.LINEAR: "Linear interpolation",
    Device.AUTO: "Automatic (GPU when available)",
    Device.CUDA: "GPU (CUDA)",
    Device.CPU: "CPU",
    Runtime.TORCH: "PyTorch",
    Runtime.AUTO: "Automatic (ONNX Runtime when installed)",
    Runtime.ONNXRUNTIME: "ONNX Runtime",
    Colormap.GREY: "Grey",
    Colormap.VIRIDIS: "Viridis",
    Colormap.RAINBOW: "Rainbow",
}

#: quantsr.synth.PRESETS names (upper case) and FLAIR's TR / TE / TI: repeated here so the parameter node is
#: defined without importing quantsr (numpy, SimpleITK) when Slicer starts; a test keeps them in step.
SYNTH_CONTRASTS = ("T1W", "T2W", "PDW", "FLAIR", "STIR", "PSIR")
FLAIR_TIMING_MS = (15000.0, 100.0, 2740.0)
#: The trust flag's default threshold (%), = ``quantsr.trust.DEFAULT_THRESHOLD_PCT`` (a test keeps them equal;
#: repeated here so the panel's parameter node does not import SimpleITK at Slicer start).
DEFAULT_TRUST_THRESHOLD_PCT = 3.0
