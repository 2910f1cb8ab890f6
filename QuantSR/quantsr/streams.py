"""Running the generator batch after batch so that, on CUDA, host↔device transfers overlap compute.

On CUDA each batch is uploaded from pinned host memory on an *upload* stream, computed on the device's current
stream, and copied back into pinned host memory on a *download* stream; nothing waits on the host until the
engine asks for a result. While the GPU computes batch i the host crops batch i+1 and its upload runs on the
copy engine; batch i's download runs while batch i+1 computes. The engine keeps one batch in flight
(``IN_FLIGHT``), so at most two batches' inputs and outputs are on the device at once.

Ordering is explicit: the compute stream waits for the upload, the download waits for the compute, and every
tensor used on a stream other than the one that allocated it is ``record_stream``-ed there so the caching
allocator does not hand its memory out before that stream is done with it. Pinned host blocks are returned to
torch's caching host allocator, which keeps them until the copies that used them have finished.

On the CPU (and for ONNX Runtime, or with ``overlap=False``) the same interface runs synchronously, or — with
``cpu_workers`` > 1 — on that many worker threads, one batch each (torch releases the GIL inside its kernels): the
CPU path for kernels that use one core better than two (NNPACK, ``quantsr.speedups``), so the cores work on
different slices instead of splitting one.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

#: Batches launched but not yet collected before the engine waits for the oldest one.
IN_FLIGHT = 1

#: The generator's forward: an input on the device → (N, sH, sW) float32 on the device.
Forward = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class PendingResult:
    """A batch's output on its way to the host; ``wait()`` blocks until it is there."""

    host: torch.Tensor | np.ndarray | None
    done: torch.cuda.Event | None = None  # None: already complete (CPU, ONNX Runtime)
    future: Future | None = None  # a CPU worker thread's result (StreamedForward with cpu_workers > 1)

    def wait(self) -> np.ndarray:
        if self.done is not None:
            self.done.synchronize()  # the download into pinned memory has finished
            self.done = None
        if self.future is not None:
            self.host, self.future = self.future.result(), None
        assert self.host is not None
        return self.host.numpy() if isinstance(self.host, torch.Tensor) else self.host


class StreamedForward:
    """``launch(batch, forward)`` → a :class:`PendingResult`; asynchronous on CUDA, immediate on the CPU."""

    def __init__(self, device: torch.device, overlap: bool = True, cpu_workers: int = 1) -> None:
        self.device = device
        self.overlapped = overlap and device.type == "cuda"
        if self.overlapped:
            self.upload_stream = torch.cuda.Stream(device)
            self.download_stream = torch.cuda.Stream(device)
        workers = cpu_workers if device.type == "cpu" else 1
        self.workers = workers
        # Each worker computes on one thread: set in the worker itself (OpenMP's thread count is per thread), or
        # oneDNN would size its kernels for all cores there and round differently the first time.
        self.pool = (ThreadPoolExecutor(workers, thread_name_prefix="quantsr-cpu", initializer=torch.set_num_threads,
                                        initargs=(1,)) if workers > 1 else None)
        #: Batches the engine may keep launched beyond the one it waits for: one per extra worker on the CPU.
        self.in_flight = workers - 1 if self.pool is not None else IN_FLIGHT

    def launch(self, batch: torch.Tensor, forward: Forward) -> PendingResult:
        """Run ``forward`` on ``batch`` (a CPU tensor) on this device."""
        if self.pool is not None:
            return PendingResult(None, future=self.pool.submit(lambda: forward(batch).numpy()))
        if not self.overlapped:
            return PendingResult(forward(batch.to(self.device)).cpu().numpy())
        # The whole launch in inference mode: nothing here needs autograd, and the copies and record_stream
        # calls then treat the generator's inference-mode output like any other tensor.
        with torch.inference_mode():
            compute_stream = torch.cuda.current_stream(self.device)
            host_input = batch.pin_memory()
            with torch.cuda.stream(self.upload_stream):
                device_input = host_input.to(self.device, non_blocking=True)
            compute_stream.wait_stream(self.upload_stream)
            device_input.record_stream(compute_stream)  # allocated on the upload stream, read on the compute stream
            device_output = forward(device_input)
            self.download_stream.wait_stream(compute_stream)
            with torch.cuda.stream(self.download_stream):
                # non_blocking device→host copies land in pinned memory and return before they finish
                host_output = device_output.to("cpu", non_blocking=True)
                done = torch.cuda.Event()
                done.record(self.download_stream)
            device_output.record_stream(self.download_stream)  # read by the download after Python lets go of it
        return PendingResult(host_output, done)
