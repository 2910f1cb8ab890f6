"""The SRGAN generator of Liu et al. 2026 (Figure 1A), defined once for the whole project.

9×9 conv + ReLU → N residual blocks (3×3 conv, BN, ReLU, 3×3 conv, BN, identity skip) → 3×3 conv + BN
with a global skip → per ×2 stage: 3×3 conv to 4·C channels, PixelShuffle(2), ReLU → 1×1 conv → tanh.
This is the SRGAN layout the paper used through TensorLayer; it costs ≈ 74 GFLOP per 256² → 512² slice.

``residual="bicubic"`` (our addition, not the paper's) adds the bicubic-upsampled input to the output and
drops the tanh: the network then learns only the correction to bicubic, so regional means — lesion values
included — start at the fast scan's instead of being regenerated from what the training tissue looked like.

``in_channels`` > 1 (our addition): channel 0 is the map being super-resolved, the others are the same study's
other fast maps ("guides", e.g. T2 and PD for a T1 model — one acquisition, one grid). The bicubic skip takes
channel 0 only. Guides show where CSF and tissue meet when the map itself cannot (T1's cortex, issue 16).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional

RESIDUAL_MODES = ("none", "bicubic")


@dataclass(frozen=True)
class GeneratorConfig:
    channels: int = 64
    residual_blocks: int = 5
    scale: int = 2
    in_channels: int = 1
    out_channels: int = 1
    residual: str = "none"  # "bicubic": output = bicubic(input) + learned correction (see module docstring)

    def __post_init__(self) -> None:
        if self.residual not in RESIDUAL_MODES:
            raise ValueError(f"residual must be one of {', '.join(RESIDUAL_MODES)}, got {self.residual!r}")
        if self.scale < 2 or self.scale & (self.scale - 1):
            raise ValueError(f"scale must be a power of two ≥ 2, got {self.scale}")
        if self.channels < 1 or self.residual_blocks < 0:
            raise ValueError("channels must be ≥ 1 and residual_blocks ≥ 0")

    def to_dict(self) -> dict[str, int | str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "GeneratorConfig":
        """The config a model file or checkpoint records; keys it lacks keep their defaults, others are ignored."""
        default = cls()
        return cls(channels=int(values.get("channels", default.channels)),
                   residual_blocks=int(values.get("residual_blocks", default.residual_blocks)),
                   scale=int(values.get("scale", default.scale)),
                   in_channels=int(values.get("in_channels", default.in_channels)),
                   out_channels=int(values.get("out_channels", default.out_channels)),
                   residual=str(values.get("residual", default.residual)))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        return x + self.bn2(self.conv2(y))


class Generator(nn.Module):
    """Maps normalised LR slices (N, C, H, W) in [-1, 1] (channel 0: the map, others: guides) to HR slices
    (N, 1, sH, sW) in [-1, 1]."""

    def __init__(self, config: GeneratorConfig | None = None) -> None:
        super().__init__()
        self.config = config or GeneratorConfig()
        c = self.config.channels
        self.head = nn.Conv2d(self.config.in_channels, c, 9, padding=4)
        self.body = nn.Sequential(*(ResidualBlock(c) for _ in range(self.config.residual_blocks)))
        self.body_conv = nn.Conv2d(c, c, 3, padding=1)
        self.body_bn = nn.BatchNorm2d(c)
        stages: list[nn.Module] = []
        for _ in range(int(math.log2(self.config.scale))):
            stages += [nn.Conv2d(c, 4 * c, 3, padding=1), nn.PixelShuffle(2), nn.ReLU(inplace=True)]
        self.upsample = nn.Sequential(*stages)
        self.tail = nn.Conv2d(c, self.config.out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = torch.relu(self.head(x))
        body = self.body_bn(self.body_conv(self.body(features)))
        correction = self.tail(self.upsample(features + body))
        if self.config.residual == "bicubic":
            skip = x if self.config.in_channels == 1 else x[:, :1]  # no Slice op in a single-map model's graph
            return correction + functional.interpolate(skip, scale_factor=self.config.scale, mode="bicubic",
                                                       align_corners=False)
        return torch.tanh(correction)

    @property
    def receptive_radius_lr(self) -> int:
        """Input pixels on each side that can influence one output pixel (for safe cropping)."""
        convs3 = 2 * self.config.residual_blocks + 1 + int(math.log2(self.config.scale))
        return 4 + convs3  # ≥ the bicubic skip's 2 input pixels


def flops_per_slice(config: GeneratorConfig, height: int, width: int) -> float:
    """Multiply-adds ×2 of one forward pass on an H×W input slice (for benchmarks)."""
    c, lr = config.channels, height * width
    total = 81 * config.in_channels * c * lr
    total += (2 * config.residual_blocks + 1) * 9 * c * c * lr
    pixels = lr
    for _ in range(int(math.log2(config.scale))):
        total += 9 * c * 4 * c * pixels
        pixels *= 4
    total += c * config.out_channels * pixels
    return 2.0 * total
