"""Inference-only speed-ups that leave the output unchanged inside the head:

- BatchNorm folded into the preceding convolutions (eval-mode BN is an affine map per channel);
- channels_last memory format on the CPU (oneDNN's preferred layout for 3×3 convolutions);
- each slice batch cropped to the head's bounding box plus a margin of the generator's receptive radius,
  the rest of the output filled with the generator's constant response to background input.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from .model import Generator

#: Normalised background: physical 0 maps to −1 (value / norm × 2 − 1).
BACKGROUND = -1.0


def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A convolution equal to ``bn(conv(x))`` in eval mode."""
    fused = copy.deepcopy(conv)
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    fused.weight.data = conv.weight.detach() * scale.reshape(-1, 1, 1, 1)
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias.detach())
    return fused


def fold_batchnorm(generator: Generator) -> Generator:
    """An inference copy of ``generator`` with every BatchNorm folded away (the original is untouched)."""
    folded = copy.deepcopy(generator).eval()
    for block in folded.body:
        block.conv1, block.bn1 = fold_conv_bn(block.conv1, block.bn1), nn.Identity()
        block.conv2, block.bn2 = fold_conv_bn(block.conv2, block.bn2), nn.Identity()
    folded.body_conv, folded.body_bn = fold_conv_bn(folded.body_conv, folded.body_bn), nn.Identity()
    return folded


def background_response(generator: nn.Module, radius: int, device: torch.device) -> float:
    """The generator's output (normalised) for an input that is background as far as it can see."""
    size = 2 * radius + 9
    patch = torch.full((1, 1, size, size), BACKGROUND, device=device)
    with torch.inference_mode():
        out = generator(patch)
    centre = out.shape[-1] // 2
    return float(out[0, 0, centre, centre])


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
