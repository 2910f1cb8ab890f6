"""The fast inference path (BN folding, channels_last, head cropping) equals the naive full-field path
inside the head within 0.1 % of the map's range."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from quantsr.engine import EngineOptions, SuperResolver
from quantsr.fastpath import fold_batchnorm, head_box
from quantsr.mapkinds import MapKind
from quantsr.model import Generator, GeneratorConfig
from quantsr.modelfile import ModelInfo
from quantsr.volume import QuantMap


def _trained_looking(config: GeneratorConfig, seed: int = 0) -> Generator:
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


def _head_map(shape=(5, 96, 80), seed: int = 1) -> QuantMap:
    rng = np.random.default_rng(seed)
    k, h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    head = ((yy - h / 2) / (0.3 * h)) ** 2 + ((xx - w / 2) / (0.3 * w)) ** 2 < 1
    values = np.where(head, rng.uniform(600, 1600, shape), 0.0)
    values[3] = 0.0  # one slice without head (above the vertex)
    return QuantMap(values, spacing=(0.86, 0.86, 5), kind=MapKind.T1)


def test_batchnorm_folding_is_exact() -> None:
    generator = _trained_looking(GeneratorConfig(channels=8, residual_blocks=3))
    folded = fold_batchnorm(generator)
    x = torch.rand(2, 1, 20, 24) * 2 - 1
    with torch.inference_mode():
        torch.testing.assert_close(folded(x), generator(x), atol=1e-5, rtol=1e-5)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in generator.modules())  # original untouched


@pytest.mark.parametrize("config", [GeneratorConfig(channels=8, residual_blocks=2), GeneratorConfig()],
                         ids=["small", "paper"])
def test_fast_path_equals_naive_inside_the_head(config) -> None:
    generator = _trained_looking(config)
    info = ModelInfo(MapKind.T1, MapKind.T1.norm_physical)
    source = _head_map(shape=(5, 64, 56) if config.channels == 64 else (5, 96, 80))
    naive = SuperResolver(generator, info, EngineOptions(device="cpu", fast=False)).run(source)
    fast = SuperResolver(generator, info, EngineOptions(device="cpu", fast=True, batch_size=2)).run(source)
    head = np.kron(source.array > 0, np.ones((1, 2, 2))).astype(bool)
    tolerance = 0.001 * MapKind.T1.norm_physical  # 0.1 % of the map's range (4.5 ms)
    assert np.abs(fast.array - naive.array)[head].max() < tolerance
    assert fast.same_geometry(naive)
    empty = fast.array[3]
    assert np.ptp(empty) == 0  # background slice: the generator's constant response


def test_head_box_margin_and_empty_batch() -> None:
    batch = np.full((2, 50, 40), -1.0, np.float32)
    batch[1, 20:25, 10:12] = 0.3
    assert head_box(batch, margin=16) == (4, 41, 0, 28)
    assert head_box(np.full((1, 8, 8), -1.0), margin=3) is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_fast_path_with_autocast_matches_cpu() -> None:
    generator = _trained_looking(GeneratorConfig())
    info = ModelInfo(MapKind.T1, MapKind.T1.norm_physical)
    source = _head_map(shape=(4, 128, 112))
    cpu = SuperResolver(generator, info, EngineOptions(device="cpu", fast=False)).run(source)
    cuda = SuperResolver(generator, info, EngineOptions(device="cuda", amp=True)).run(source)
    head = np.kron(source.array > 0, np.ones((1, 2, 2))).astype(bool)
    assert np.abs(cuda.array - cpu.array)[head].max() < 0.005 * MapKind.T1.norm_physical  # fp16 tolerance
    assert "cuda" in cuda.metadata["sr_report"].device
