"""Generators and maps for the inference tests: random weights that look trained, and a map with a head."""

from __future__ import annotations

import numpy as np
import torch

from quantsr.mapkinds import MapKind
from quantsr.model import Generator, GeneratorConfig
from quantsr.volume import QuantMap


def trained_looking(config: GeneratorConfig, seed: int = 0) -> Generator:
    """Random weights and random BN running statistics (as after training), eval mode."""
    torch.manual_seed(seed)
    generator = Generator(config)
    for module in generator.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return generator.eval()


def head_map(shape=(5, 96, 80), seed: int = 1) -> QuantMap:
    """An elliptic 'head' of random T1 values on a zero background; slice 3 is empty (above the vertex)."""
    rng = np.random.default_rng(seed)
    k, h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    head = ((yy - h / 2) / (0.3 * h)) ** 2 + ((xx - w / 2) / (0.3 * w)) ** 2 < 1
    values = np.where(head, rng.uniform(600, 1600, shape), 0.0)
    values[3] = 0.0
    return QuantMap(values, spacing=(0.86, 0.86, 5), kind=MapKind.T1)
