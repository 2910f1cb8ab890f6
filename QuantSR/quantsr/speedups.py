"""Inference-only speed-ups of the engine's optimized path (``EngineOptions.optimized``, the default; off, the
engine runs the naive reference path) that leave the output unchanged inside the head:

- BatchNorm folded into the preceding convolutions (eval-mode BN is an affine map per channel);
- channels_last memory format on the CPU (oneDNN's preferred layout for 3×3 convolutions);
- each slice batch cropped to the head's bounding box plus a margin of the generator's receptive radius,
  the rest of the output filled with the generator's constant response to background input;
- on CPUs without AVX-512, the 3×3 convolutions by NNPACK's Winograd F(6×6, 3×3) kernels: there its AVX2 code needs
  fewer CPU-seconds per slice than oneDNN's AVX2 direct convolution, with the same output to within rounding
  (the measurements: ``Testing/Benchmarks/bench_cpu_isa.py``, docs/benchmarks.md). NNPACK uses one core well and
  two poorly, so the engine then runs one slice per core (``quantsr.streams``).
"""

from __future__ import annotations

import copy
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from .model import Generator, ResidualBlock
from .normalisation import BACKGROUND


def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A new convolution equal to ``bn(conv(x))`` in eval mode (built on the meta device and given the folded
    weights: no random initialisation, no copy of the old weights)."""
    assert bn.running_mean is not None and bn.running_var is not None, "BatchNorm without running statistics"
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, bias=True, device="meta", **_geometry(conv))
    fused.weight = nn.Parameter(conv.weight.detach() * scale.reshape(-1, 1, 1, 1))
    fused.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias.detach())
    return fused


def _geometry(conv: nn.Conv2d) -> dict[str, Any]:
    return {"kernel_size": conv.kernel_size, "stride": conv.stride, "padding": conv.padding,
            "dilation": conv.dilation, "groups": conv.groups, "padding_mode": conv.padding_mode}


def _blocks(generator: Generator) -> list[ResidualBlock]:
    return [cast(ResidualBlock, block) for block in generator.body]


def fold_batchnorm(generator: Generator) -> Generator:
    """An inference copy of ``generator`` with every BatchNorm folded away (the original is untouched). Only the
    modules that stay are copied: the folded convolutions and their Identity stand-ins enter the copy directly
    (through deepcopy's memo), so the replaced weights are never cloned."""
    replacements: dict[int, nn.Module] = {}
    pairs = [pair for block in _blocks(generator) for pair in ((block.conv1, block.bn1), (block.conv2, block.bn2))]
    for conv, bn in [*pairs, (generator.body_conv, generator.body_bn)]:
        replacements[id(conv)] = fold_conv_bn(conv, bn)
        replacements[id(bn)] = nn.Identity()
    return copy.deepcopy(generator, memo=replacements).eval()


def background_response(generator: nn.Module, radius: int, device: torch.device) -> float:
    """The generator's output (normalised) for an input that is background as far as it can see.

    Every layer maps a spatially constant input to a constant output away from the borders; with the convolutions
    padding circularly there are no borders, so a small constant patch gives that value exactly (≈ 1 % of the
    arithmetic of a patch as wide as the receptive field, and no extra shapes for oneDNN to compile)."""
    del radius  # kept for callers: the circular padding makes the receptive radius irrelevant
    convs = [m for m in generator.modules() if isinstance(m, nn.Conv2d)]
    padding_modes = [conv.padding_mode for conv in convs]
    size = max(8, *(max(conv.kernel_size) for conv in convs))  # circular padding needs pad ≤ size
    channels = convs[0].in_channels  # the map and any guide maps: all background
    patch = torch.full((1, channels, size, size), BACKGROUND, device=device)
    try:
        for conv in convs:
            conv.padding_mode = "circular"
        with torch.inference_mode():
            out = generator(patch)
    finally:
        for conv, mode in zip(convs, padding_modes, strict=True):
            conv.padding_mode = mode
    # The ×2 output of a constant is periodic with period 2 (PixelShuffle spreads 4 channels over each 2×2 block);
    # the engine fills the background with one of the four phases: (1, 1), the one it has always used.
    return float(out[0, 0, 1, 1])


CPU_CONVOLUTIONS = ("auto", "onednn", "nnpack")


class NnpackConv2d(nn.Conv2d):
    """A stride-1 convolution (3×3 here) whose forward is NNPACK's (``torch._nnpack_spatial_convolution``, NCHW)."""

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> "NnpackConv2d":
        new = cls(conv.in_channels, conv.out_channels, bias=True, device="meta", **_geometry(conv))
        new.weight = nn.Parameter(conv.weight.detach().contiguous(), requires_grad=False)
        new.bias = nn.Parameter(conv.bias.detach() if conv.bias is not None
                                else torch.zeros(conv.out_channels), requires_grad=False)
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padding = [int(p) for p in cast(tuple[int, int], self.padding)]
        return torch._nnpack_spatial_convolution(x.contiguous(), self.weight, self.bias, padding, [1, 1])


def nnpack_available() -> bool:
    """Whether this torch build has NNPACK on this CPU. The call also initialises NNPACK, without which its
    convolutions fail."""
    try:
        return bool(torch._nnpack_available())
    except (AttributeError, RuntimeError):
        return False


def cpu_has_avx512() -> bool:
    """Whether torch's CPU kernels use AVX-512 here (ATEN_CPU_CAPABILITY=avx2 emulates a CPU without it)."""
    return "AVX512" in torch.backends.cpu.get_cpu_capability().upper()


def choose_cpu_convolution(requested: str) -> str:
    """"onednn" or "nnpack" for the CPU's optimized path: "auto" takes NNPACK where the CPU lacks AVX-512 (there its
    Winograd kernels beat oneDNN's AVX2 ones; with AVX-512 oneDNN is as fast per core and scales to more cores)."""
    key = (requested or "auto").strip().lower()
    if key not in CPU_CONVOLUTIONS:
        raise ValueError(f"unknown CPU convolution {requested!r}: expected {', '.join(CPU_CONVOLUTIONS)}")
    wanted = "nnpack" if key == "nnpack" or (key == "auto" and not cpu_has_avx512()) else "onednn"
    return "nnpack" if wanted == "nnpack" and nnpack_available() else "onednn"


def use_nnpack(generator: Generator) -> Generator:
    """Swap ``generator``'s 3×3 convolutions (residual blocks, the one after them, the upsampling ones) for NNPACK's,
    in place; the 9×9 head and 1×1 tail (< 1 % of the arithmetic) stay. The generator must run in NCHW layout."""
    for block in _blocks(generator):
        block.conv1, block.conv2 = NnpackConv2d.from_conv(block.conv1), NnpackConv2d.from_conv(block.conv2)
    generator.body_conv = NnpackConv2d.from_conv(generator.body_conv)
    for index, module in enumerate(generator.upsample):
        if isinstance(module, nn.Conv2d):
            generator.upsample[index] = NnpackConv2d.from_conv(module)
    return generator


def head_box(batch: np.ndarray, margin: int) -> tuple[int, int, int, int] | None:
    """(row0, row1, col0, col1) covering every non-background pixel of the batch plus ``margin``;
    ``None`` for an all-background batch."""
    occupied = np.any(batch > BACKGROUND + 1e-6, axis=0)
    if not occupied.any():
        return None
    rows = np.flatnonzero(occupied.any(axis=1))
    cols = np.flatnonzero(occupied.any(axis=0))
    h, w = occupied.shape
    return (max(0, rows[0] - margin), min(h, rows[-1] + 1 + margin),
            max(0, cols[0] - margin), min(w, cols[-1] + 1 + margin))
