"""Slice-wise inference: geometry, normalisation, batching invariance, determinism, progress, cancel,
kind checks and CUDA out-of-memory back-off (injected)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from quantsr.engine import (
    CPU_OPTIMIZED_BATCH,
    CancelToken,
    EngineOptions,
    SuperResolver,
    batch_size_for,
)
from quantsr.errors import CancelledError, ModelError
from quantsr.mapkinds import MapKind
from quantsr.model import Generator, GeneratorConfig
from quantsr.modelfile import ModelInfo
from quantsr.normalisation import denormalise, denormalise_in_place, normalise
from quantsr.volume import QuantMap


def _resolver(kind: MapKind = MapKind.T1, **options) -> SuperResolver:
    torch.manual_seed(1)
    generator = Generator(GeneratorConfig(channels=8, residual_blocks=2))
    for module in generator.modules():  # non-trivial BN statistics so eval mode matters
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return SuperResolver(generator, ModelInfo(kind, kind.norm_physical), EngineOptions(device="cpu", **options))


def _map(kind: MapKind = MapKind.T1, shape=(6, 20, 24)) -> QuantMap:
    rng = np.random.default_rng(0)
    values = rng.uniform(0, 0.9 * kind.norm_physical, shape).astype(np.float32)
    return QuantMap(values, origin=(10, -5, 3), spacing=(0.8, 0.9, 5.0), kind=kind)


def test_normalisation_matches_paper() -> None:
    # stored 45000 ↔ physical 4500 ms maps to +1; 0 maps to −1
    assert normalise(np.array([0.0, 2250.0, 4500.0]), 4500.0).tolist() == [-1.0, 0.0, 1.0]
    assert denormalise(np.array([-1.0, 1.0]), 180.0).tolist() == [0.0, 180.0]


def test_output_geometry_values_and_metadata() -> None:
    source = _map()
    out = _resolver().run(source)
    assert out.shape == (6, 40, 48)
    assert out.spacing == pytest.approx((0.4, 0.45, 5.0))
    assert out.origin == pytest.approx((10 - 0.2, -5 - 0.225, 3))
    assert out.kind is MapKind.T1
    assert out.array.min() >= 0 and out.array.max() <= 4500
    assert out.metadata["method"] == "dl" and out.metadata["sr_report"].slices == 6
    assert source.array.shape == (6, 20, 24)  # input untouched


def test_batch_size_does_not_change_output() -> None:
    source = _map()
    one = _resolver(batch_size=1).run(source).array
    eight = _resolver(batch_size=8).run(source).array
    np.testing.assert_allclose(one, eight, atol=1e-3)  # ms, float32 kernels differ by batch


def test_cpu_runs_are_deterministic() -> None:
    source = _map()
    resolver = _resolver(batch_size=4)
    np.testing.assert_array_equal(resolver.run(source).array, resolver.run(source).array)


def test_each_slice_is_independent() -> None:
    source = _map()
    full = _resolver(batch_size=3).run(source).array
    single = _resolver().run(source.with_array(source.array[2:3])).array
    np.testing.assert_allclose(full[2:3], single, atol=1e-3)


def test_progress_and_cancellation_between_batches() -> None:
    calls: list[tuple[int, int]] = []
    _resolver(batch_size=4).run(_map(), progress=lambda d, t: calls.append((d, t)))
    assert calls == [(0, 6), (4, 6), (6, 6)]
    token = CancelToken()

    def cancel_after_first(done: int, total: int) -> None:
        if done >= 2:
            token.cancel()

    with pytest.raises(CancelledError):
        _resolver(batch_size=2).run(_map(), progress=cancel_after_first, cancel=token)


def test_model_refuses_other_map_kind_unless_forced() -> None:
    with pytest.raises(ModelError, match="T2 maps but the input is a T1"):
        _resolver(MapKind.T2).run(_map(MapKind.T1))
    out = _resolver(MapKind.T2, force_kind=True).run(_map(MapKind.T1, (1, 8, 8)))
    assert out.kind is MapKind.T1


def test_out_of_range_input_is_clipped_with_warning(caplog) -> None:
    source = _map(shape=(1, 8, 8))
    source.array[0, 0, :3] = 9000.0  # beyond 4500 ms
    out = _resolver().run(source)
    assert "3 voxels lie outside" in caplog.text
    assert out.metadata["sr_report"].warnings


def test_nan_input_is_refused() -> None:
    source = _map(shape=(1, 8, 8))
    source.array[0, 1, 1] = np.nan
    with pytest.raises(ModelError, match="NaN"):
        _resolver().run(source)


def test_memory_budget_caps_batch() -> None:
    assert batch_size_for(256, 256, 64, 2048) == 5
    assert batch_size_for(256, 256, 64, 100) == 1
    assert batch_size_for(128, 128, 64, 2048) >= 4 * batch_size_for(256, 256, 64, 2048)


def test_cpu_optimized_path_runs_slice_by_slice_unless_told() -> None:
    source = _map()
    assert _resolver().run(source).metadata["sr_report"].batch_size == CPU_OPTIMIZED_BATCH == 1
    assert _resolver(batch_size=3).run(source).metadata["sr_report"].batch_size == 3  # the user's choice wins
    naive = SuperResolver(Generator(GeneratorConfig(channels=4, residual_blocks=1)), ModelInfo(MapKind.T1, 4500.0),
                          EngineOptions(device="cpu", optimized=False, memory_budget_mb=2048))
    expected = batch_size_for(source.shape[1], source.shape[2], naive.info.config.channels, 2048)
    assert expected > 1 and naive.run(source).metadata["sr_report"].batch_size == expected  # the budget's


def test_cuda_out_of_memory_halves_batch_then_falls_back_to_cpu(monkeypatch) -> None:
    resolver = _resolver(batch_size=8)
    reference = resolver.run(_map()).array
    sizes: list[int] = []
    real_forward = SuperResolver._forward

    def flaky_forward(self, batch):
        sizes.append(len(batch))
        if self.device.type == "cuda":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
        return real_forward(self, batch)

    monkeypatch.setattr(SuperResolver, "_forward", flaky_forward)
    resolver.device = torch.device("cuda")  # pretend; every CUDA attempt fails
    out = resolver.run(_map())
    assert sizes[:4] == [6, 4, 2, 1]  # 8 (capped to 6 slices) → 4 → 2 → 1 → CPU
    assert resolver.device.type == "cpu"
    report = out.metadata["sr_report"]
    assert any("continuing on the CPU" in w for w in report.warnings)
    np.testing.assert_allclose(out.array, reference, atol=1e-3)


def test_in_place_denormalisation_matches_the_formula_and_clips() -> None:
    values = np.array([-1.2, -1.0, 0.0, 0.5, 1.0, 1.3], np.float32)
    expected = np.clip(denormalise(values, 4500.0), 0.0, 4500.0)
    denormalise_in_place(values, 4500.0)
    np.testing.assert_allclose(values, expected, rtol=1e-6)
    assert values[0] == 0.0 and values[-1] == 4500.0
