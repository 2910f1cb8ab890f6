"""The engine's optimized path (quantsr.speedups: BN folding, channels_last, head cropping) equals the naive
full-field path inside the head within 0.1 % of the map's range; ``fast=``, the option's old name, still works."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.generators import head_map, trained_looking

from quantsr.engine import EngineOptions, SuperResolver
from quantsr.mapkinds import MapKind
from quantsr.model import GeneratorConfig
from quantsr.modelfile import ModelInfo
from quantsr.speedups import fold_batchnorm, head_box


def test_batchnorm_folding_is_exact() -> None:
    generator = trained_looking(GeneratorConfig(channels=8, residual_blocks=3))
    folded = fold_batchnorm(generator)
    x = torch.rand(2, 1, 20, 24) * 2 - 1
    with torch.inference_mode():
        torch.testing.assert_close(folded(x), generator(x), atol=1e-5, rtol=1e-5)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in generator.modules())  # original untouched


@pytest.mark.parametrize("config", [GeneratorConfig(channels=8, residual_blocks=2), GeneratorConfig(),
                                    GeneratorConfig(channels=8, residual_blocks=2, residual="bicubic")],
                         ids=["small", "paper", "residual"])
def test_optimized_path_equals_naive_inside_the_head(config) -> None:
    generator = trained_looking(config)
    info = ModelInfo(MapKind.T1, MapKind.T1.norm_physical)
    source = head_map(shape=(5, 64, 56) if config.channels == 64 else (5, 96, 80))
    naive = SuperResolver(generator, info, EngineOptions(device="cpu", optimized=False)).run(source)
    optimized = SuperResolver(generator, info, EngineOptions(device="cpu", optimized=True, batch_size=2)).run(source)
    head = np.kron(source.array > 0, np.ones((1, 2, 2))).astype(bool)
    tolerance = 0.001 * MapKind.T1.norm_physical  # 0.1 % of the map's range (4.5 ms)
    assert np.abs(optimized.array - naive.array)[head].max() < tolerance
    assert optimized.same_geometry(naive)
    empty = optimized.array[3]
    assert np.ptp(empty) == 0  # background slice: the generator's constant response


def test_the_old_keyword_fast_still_works_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match="optimized"):
        assert EngineOptions(fast=False).optimized is False
    assert EngineOptions().optimized is True and EngineOptions(optimized=False).optimized is False


def test_head_box_margin_and_empty_batch() -> None:
    batch = np.full((2, 50, 40), -1.0, np.float32)
    batch[1, 20:25, 10:12] = 0.3
    assert head_box(batch, margin=16) == (4, 41, 0, 28)
    assert head_box(np.full((1, 8, 8), -1.0), margin=3) is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_optimized_path_with_autocast_matches_cpu() -> None:
    generator = trained_looking(GeneratorConfig())
    info = ModelInfo(MapKind.T1, MapKind.T1.norm_physical)
    source = head_map(shape=(4, 128, 112))
    cpu = SuperResolver(generator, info, EngineOptions(device="cpu", optimized=False)).run(source)
    cuda = SuperResolver(generator, info, EngineOptions(device="cuda", amp=True)).run(source)
    head = np.kron(source.array > 0, np.ones((1, 2, 2))).astype(bool)
    assert np.abs(cuda.array - cpu.array)[head].max() < 0.005 * MapKind.T1.norm_physical  # fp16 tolerance
    assert "cuda" in cuda.metadata["sr_report"].device
