"""Batches in flight: the CPU runs the same launch/collect bookkeeping synchronously; on CUDA uploads, compute and
downloads overlap on separate streams (tests skip without a GPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.generators import head_map, trained_looking

from quantsr.engine import EngineOptions, SuperResolver
from quantsr.mapkinds import MapKind
from quantsr.model import GeneratorConfig
from quantsr.modelfile import ModelInfo
from quantsr.streams import IN_FLIGHT, PendingResult, StreamedForward

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
SMALL = GeneratorConfig(channels=8, residual_blocks=2)


def _resolver(config: GeneratorConfig = SMALL, **options) -> SuperResolver:
    info = ModelInfo(MapKind.T1, MapKind.T1.norm_physical)
    return SuperResolver(trained_looking(config), info, EngineOptions(**options))


def test_cpu_launch_is_immediate() -> None:
    streams = StreamedForward(torch.device("cpu"))
    pending = streams.launch(torch.arange(6.0).reshape(1, 1, 2, 3), lambda x: x[:, 0] * 2)
    assert not streams.overlapped and pending.done is None
    np.testing.assert_array_equal(pending.wait(), [[[0, 2, 4], [6, 8, 10]]])
    assert PendingResult(np.ones(2)).wait().tolist() == [1, 1]


def test_progress_reaches_every_slice_in_order_including_background_slices() -> None:
    calls: list[int] = []
    source = head_map(shape=(5, 40, 36))  # slice 3 is all background: nothing is run for it
    _resolver(device="cpu", batch_size=1).run(source, progress=lambda done, total: calls.append(done))
    assert calls == [0, 1, 2, 3, 4, 5]


def test_out_of_memory_after_a_launched_batch_keeps_that_batch(monkeypatch) -> None:
    """The batch launched before the failing one is still collected; the failing slices are re-run smaller."""
    source = head_map(shape=(5, 40, 36))
    reference = _resolver(device="cpu", batch_size=2).run(source).array
    resolver = _resolver(device="cpu", batch_size=2, amp=False)
    real_forward = SuperResolver._forward
    sizes: list[int] = []

    def forward_failing_second_batch(self: SuperResolver, batch: np.ndarray) -> PendingResult:
        sizes.append(len(batch))
        if len(sizes) == 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
        return real_forward(self, batch)

    monkeypatch.setattr(SuperResolver, "_forward", forward_failing_second_batch)
    resolver.device = torch.device("cuda")  # pretend: only the back-off logic looks at the device type
    out = resolver.run(source)
    # slices 0–1 launched (in flight); slices 2–3 (3 is background, so one slice is run) fail; then batch 1:
    # slice 2, slice 3 (nothing to run), slice 4
    assert sizes == [2, 1, 1, 1] and IN_FLIGHT >= 1
    report = out.metadata["sr_report"]
    assert report.batch_size == 1 and any("retrying with batch 1" in w for w in report.warnings)
    np.testing.assert_allclose(out.array, reference, atol=1e-3)


@needs_cuda
def test_cuda_results_arrive_intact_when_collected_late() -> None:
    """Several batches in flight, collected in reverse order: every result is its own batch's."""
    device = torch.device("cuda")
    streams = StreamedForward(device)
    batches = [torch.full((2, 1, 512, 512), float(i)) for i in range(6)]
    pending = [streams.launch(b, lambda x: (x * 3 + 1)[:, 0] @ torch.ones(512, 512, device=device)) for b in batches]
    assert streams.overlapped
    for i in reversed(range(6)):
        values = pending[i].wait()
        assert values.shape == (2, 512, 512)
        np.testing.assert_allclose(values, (3 * i + 1) * 512.0)


@needs_cuda
@pytest.mark.parametrize("batch_size", [1, 3])
def test_cuda_overlapped_equals_serial_and_cpu(batch_size: int) -> None:
    """Overlapping transfers changes nothing: same kernels as the serial CUDA path; CPU within TF32 / fp16 noise."""
    source = head_map(shape=(7, 128, 112))
    cpu = _resolver(GeneratorConfig(), device="cpu", optimized=False).run(source)
    overlapped = _resolver(GeneratorConfig(), device="cuda", amp=True, batch_size=batch_size)
    serial = _resolver(GeneratorConfig(), device="cuda", amp=True, batch_size=batch_size, overlap=False)
    assert overlapped.streams.overlapped and not serial.streams.overlapped
    fast, reference = overlapped.run(source), serial.run(source)
    assert np.abs(fast.array - reference.array).max() < 1e-3  # ms
    head = np.kron(source.array > 0, np.ones((1, 2, 2))).astype(bool)
    assert np.abs(fast.array - cpu.array)[head].max() < 0.005 * MapKind.T1.norm_physical
    assert fast.metadata["sr_report"].batch_size == batch_size
