"""Model set-up made cheap without changing a number: the background response from a small circularly padded
patch equals the one from a patch as wide as the receptive field; BN folding copies only what stays; a job keeps
its loaded models for its next maps; CPU threads are shared between torchrun's ranks on a node. And the CPU path for
CPUs without AVX-512: NNPACK's Winograd convolutions, one slice per core."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.generators import head_map, trained_looking

from quantsr.engine import SuperResolver, cpu_cores, cpu_threads
from quantsr.mapkinds import MapKind
from quantsr.model import GeneratorConfig
from quantsr.modelfile import ModelInfo, save_model
from quantsr.normalisation import BACKGROUND
from quantsr.speedups import NnpackConv2d, background_response, choose_cpu_convolution, fold_batchnorm, nnpack_available
from quantsr.srjob import EngineOptions, SRJob, super_resolve_maps
from quantsr.streams import StreamedForward


def _wide_patch_response(generator, radius: int) -> float:
    """The reference: the centre of a patch that is background as far as the generator can see."""
    size = 2 * radius + 9
    with torch.inference_mode():
        out = generator(torch.full((1, 1, size, size), BACKGROUND))
    return float(out[0, 0, out.shape[-1] // 2, out.shape[-1] // 2])


@pytest.mark.parametrize("config", [GeneratorConfig(channels=8, residual_blocks=2),
                                    GeneratorConfig(channels=8, residual_blocks=3, residual="bicubic")],
                         ids=["plain", "bicubic-residual"])
def test_background_response_equals_the_wide_patch(config) -> None:
    generator = fold_batchnorm(trained_looking(config))
    radius = generator.receptive_radius_lr
    expected = _wide_patch_response(generator, radius)
    assert background_response(generator, radius, torch.device("cpu")) == pytest.approx(expected, abs=1e-6)
    assert all(conv.padding_mode == "zeros" for conv in generator.modules() if isinstance(conv, torch.nn.Conv2d))


def test_folding_copies_only_the_modules_that_stay() -> None:
    generator = trained_looking(GeneratorConfig(channels=8, residual_blocks=2))
    folded = fold_batchnorm(generator)
    kept = {id(p) for p in generator.parameters()}
    assert not kept & {id(p) for p in folded.parameters()}  # nothing shared with the original
    assert folded.head.weight.data_ptr() != generator.head.weight.data_ptr()
    torch.testing.assert_close(folded.head.weight, generator.head.weight)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())


def test_job_loads_each_model_once_and_reports_set_up(tmp_path) -> None:
    torch.manual_seed(0)
    path = save_model(trained_looking(GeneratorConfig(channels=4, residual_blocks=1)),
                      ModelInfo(MapKind.T1, MapKind.T1.norm_physical), tmp_path / "t1.safetensors")
    job = SRJob("dl", {MapKind.T1: path}, EngineOptions(device="cpu", fast_consistency_mm=0))
    source = head_map(shape=(4, 24, 20))
    first = super_resolve_maps([source], job)[0]
    loaded = dict(job.resolvers)
    second = super_resolve_maps([source], job)[0]
    assert job.resolvers == loaded and len(loaded) == 1  # the same resolver object, not reloaded
    np.testing.assert_array_equal(first.array, second.array)
    report = first.metadata["sr_report"]
    assert report.setup_seconds > 0 and report.seconds > 0
    assert second.metadata["sr_report"].setup_seconds < report.setup_seconds


def test_cpu_threads_are_shared_between_the_ranks_of_a_node(monkeypatch) -> None:
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert cpu_threads() == cpu_cores()
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(cpu_cores() * 4))
    assert cpu_threads() == 1
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "nonsense")
    assert cpu_threads() == cpu_cores()


needs_nnpack = pytest.mark.skipif(not nnpack_available(), reason="this torch build has no NNPACK")


@needs_nnpack
def test_nnpack_path_equals_naive_inside_the_head_and_runs_a_slice_per_core() -> None:
    generator = trained_looking(GeneratorConfig(channels=16, residual_blocks=2, residual="bicubic"))
    info = ModelInfo(MapKind.T1, MapKind.T1.norm_physical)
    source = head_map(shape=(6, 64, 56))
    naive = SuperResolver(generator, info, EngineOptions(device="cpu", optimized=False,
                                                         fast_consistency_mm=0)).run(source)
    resolver = SuperResolver(generator, info, EngineOptions(device="cpu", cpu_convolution="nnpack",
                                                            fast_consistency_mm=0))
    calls: list[int] = []
    out = resolver.run(source, progress=lambda done, total: calls.append(done))
    head = np.kron(source.array > 0, np.ones((1, 2, 2))).astype(bool)
    assert np.abs(out.array - naive.array)[head].max() < 0.01  # ms: Winograd rounding, bar 4.5 ms
    assert calls == [0, 1, 2, 3, 4, 5, 6]  # every slice once, in order, with two in flight
    assert resolver.streams.workers == cpu_threads() and "NNPACK" in out.metadata["sr_report"].device
    convs3 = [m for m in resolver.generator.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    assert convs3 and all(isinstance(m, NnpackConv2d) for m in convs3)
    np.testing.assert_array_equal(resolver.run(source).array, out.array)  # deterministic across runs


def test_auto_takes_nnpack_only_without_avx512(monkeypatch) -> None:
    import quantsr.speedups as speedups

    monkeypatch.setattr(speedups, "nnpack_available", lambda: True)
    monkeypatch.setattr(speedups, "cpu_has_avx512", lambda: True)
    assert choose_cpu_convolution("auto") == "onednn" and choose_cpu_convolution("nnpack") == "nnpack"
    monkeypatch.setattr(speedups, "cpu_has_avx512", lambda: False)
    assert choose_cpu_convolution("auto") == "nnpack" and choose_cpu_convolution("onednn") == "onednn"
    monkeypatch.setattr(speedups, "nnpack_available", lambda: False)
    assert choose_cpu_convolution("nnpack") == "onednn"  # a torch build without NNPACK: oneDNN, not an error
    with pytest.raises(ValueError, match="unknown CPU convolution"):
        choose_cpu_convolution("winograd")


def test_cpu_workers_return_each_batch_its_own_result() -> None:
    streams = StreamedForward(torch.device("cpu"), cpu_workers=2)
    assert streams.in_flight == 1
    pending = [streams.launch(torch.full((1, 1, 2, 2), float(i)), lambda x: x[:, 0] * 10) for i in range(5)]
    assert [float(p.wait()[0, 0, 0]) for p in reversed(pending)] == [40.0, 30.0, 20.0, 10.0, 0.0]
