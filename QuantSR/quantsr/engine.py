"""The engine: one generator over one map. ``SuperResolver`` runs a loaded model slice by slice over a QuantMap:
normalise (``quantsr.normalisation``; with the study's guide maps as extra channels for a model that reads them,
``quantsr.guides``), batched inference under ``torch.inference_mode`` (or ONNX Runtime on the CPU,
``quantsr.onnxbackend``), denormalise, clip, then the fast-scan consistency step — with progress, cancellation and
CUDA OOM back-off. On CUDA one batch stays in flight while the next is prepared and uploaded (``quantsr.streams``);
the optimized path's speed-ups are ``quantsr.speedups``. A whole study (several maps, DL or a baseline) is a job:
``quantsr.srjob``."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .consistency import DEFAULT_FORWARD, DEFAULT_SIGMA_MM, fast_consistent
from .devices import describe_device, is_out_of_memory, resolve_device
from .errors import CancelledError, ModelError
from .geometry import upsampled_like
from .guides import network_input
from .mapkinds import MapKind
from .methods import DL
from .model import Generator
from .modelfile import ModelInfo, find_bundled_model, load_model
from .normalisation import BACKGROUND, denormalise_in_place
from .onnxbackend import OnnxRunner, resolve_runtime
from .speedups import background_response, choose_cpu_convolution, fold_batchnorm, head_box, use_nnpack
from .srjob import EngineOptions  # defined without torch (the CLI validates options before loading it)
from .streams import PendingResult, StreamedForward
from .volume import QuantMap

log = logging.getLogger("quantsr")

#: progress(done_slices, total_slices)
ProgressCallback = Callable[[int, int], None]

# Peak activation memory per LR input pixel in float32 (measured order of magnitude for the paper-size
# generator: a few 64-channel LR maps, the 4C-channel upsampling input and the HR maps at once).
_BYTES_PER_LR_PIXEL_PER_CHANNEL = 4 * 24


class CancelToken:
    """Thread-safe cancel flag checked between batches (Slicer's Cancel button, Ctrl-C)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass
class RunReport:
    slices: int = 0
    seconds: float = 0.0  # the map's super-resolution, model set-up excluded
    cpu_seconds: float = 0.0  # CPU time of the process (all threads) meanwhile
    setup_seconds: float = 0.0  # loading the model, folding BN, building the runtime (filled in by quantsr.srjob)
    setup_cpu_seconds: float = 0.0
    device: str = ""
    runtime: str = ""  # what ran the model: "torch" or "onnxruntime" ("scipy" for the baselines)
    batch_size: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Launched:
    """A slice batch sent to the generator and where its result goes."""

    start: int
    stop: int
    slices: np.ndarray | None  # which slices of start:stop were run (None: all)
    box: tuple[int, int, int, int] | None  # LR crop (row0, row1, col0, col1); None: the full field
    result: PendingResult | None  # None: nothing was run (an all-background batch)


#: More than this fraction of non-zero voxels above the model's range means the input is on another scale.
MAX_ABOVE_RANGE = 0.05


def cpu_cores() -> int:
    """CPUs this process may run on (affinity-aware; containers often see fewer than the host)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def cpu_threads() -> int:
    """Threads for CPU inference: this process's cores, shared with the other processes torchrun started on this
    node (LOCAL_WORLD_SIZE, e.g. `quantsr batch` with CPU ranks) so they do not oversubscribe the cores."""
    try:
        local_world = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        local_world = 1
    return max(1, cpu_cores() // local_world)


#: On the CPU the optimized path runs one slice at a time: each slice gets its own head crop and its activations
#: stay in cache, which beat larger batches on the benchmark study (docs/benchmarks.md has the times).
CPU_OPTIMIZED_BATCH = 1


def consistency_sigma(option: float | None, info: ModelInfo) -> float:
    """The fast-scan consistency σ in mm: ``option`` if set, else the model's own (chosen on validation and recorded
    in its file), else ``DEFAULT_SIGMA_MM``; 0 is off."""
    for value in (option, info.fast_consistency_mm):
        if value is not None:
            return float(value)
    return DEFAULT_SIGMA_MM


def consistency_forward(option: str | None, info: ModelInfo) -> str:
    """The fast-scan consistency's forward model by the same rule: ``option``, else the model's own, else
    "identity" (no valid name is falsy, so ``or`` is exact here, unlike for a σ of 0)."""
    return option or info.fast_consistency_forward or DEFAULT_FORWARD


def batch_size_for(height: int, width: int, channels: int, budget_mb: float) -> int:
    per_slice = height * width * channels * _BYTES_PER_LR_PIXEL_PER_CHANNEL
    return max(1, int(budget_mb * 1024 * 1024 // per_slice))


class SuperResolver:
    """A loaded model bound to a device, reusable across volumes."""

    def __init__(self, generator: Generator, info: ModelInfo, options: EngineOptions | None = None) -> None:
        self.options = options or EngineOptions()
        self.device = resolve_device(self.options.device)
        self.info = info
        self.radius = generator.receptive_radius_lr
        self.generator = generator.to(self.device).eval()
        self.runtime = resolve_runtime(self.options.runtime, self.device, self.options.optimized)
        on_cpu_torch = self.options.optimized and self.device.type == "cpu" and self.runtime == "torch"
        self.cpu_convolution = choose_cpu_convolution(self.options.cpu_convolution) if on_cpu_torch else "onednn"
        nnpack = self.cpu_convolution == "nnpack"
        layout = self.options.channels_last
        self.channels_last = (self.options.optimized and not nnpack  # NNPACK takes NCHW
                              and (self.device.type == "cpu" if layout is None else layout))
        workers = 1
        if self.options.optimized:
            self.generator = fold_batchnorm(self.generator)
            if self.channels_last:
                self.generator = self.generator.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            if self.device.type == "cpu":
                # NNPACK: one slice per core on one thread each (it uses one core well and two poorly)
                torch.set_num_threads(1 if nnpack else cpu_threads())
                workers = cpu_threads() if nnpack else 1
        # Built once per model: the ONNX export and session set-up cost far more than a slice.
        self.runner = OnnxRunner(self.generator, cpu_threads()) if self.runtime == "onnxruntime" else None
        log.debug("super-resolution runtime: %s (%s convolutions) on %s", self.runtime, self.cpu_convolution,
                  self.device)
        # The torch generator's background response either way (the runtimes agree to < 1e-6 of the range); taken
        # before NNPACK comes in, as it finds the convolutions to pad circularly by their type.
        self.background = (background_response(self.generator, self.radius, self.device) if self.options.optimized
                           else None)
        if nnpack:
            use_nnpack(self.generator)
        self.streams = StreamedForward(self.device, self.options.overlap, cpu_workers=workers)

    @classmethod
    def from_file(cls, path: str | Path, options: EngineOptions | None = None) -> "SuperResolver":
        generator, info = load_model(path)
        return cls(generator, info, options)

    @classmethod
    def for_kind(
        cls, kind: MapKind, model_path: str | Path | None = None, options: EngineOptions | None = None
    ) -> "SuperResolver":
        """The user's model file if given, else the bundled model for ``kind``."""
        if model_path is None:
            model_path = find_bundled_model(kind)
            if model_path is None:
                raise ModelError(
                    f"no bundled {kind.value} model is installed; pass a model file (--model) or use "
                    "the bicubic baseline (--method bicubic)"
                )
        return cls.from_file(model_path, options)

    @property
    def consistency_mm(self) -> float:
        """The fast-scan consistency σ this resolver applies (:func:`consistency_sigma`)."""
        return consistency_sigma(self.options.fast_consistency_mm, self.info)

    @property
    def consistency_forward(self) -> str:
        """The forward model of the fast-scan consistency step (:func:`consistency_forward`)."""
        return consistency_forward(self.options.fast_consistency_forward, self.info)

    def check_input(self, source: QuantMap) -> None:
        expected = self.info.map_kind
        if source.kind not in (expected, MapKind.UNKNOWN) and not self.options.force_kind:
            raise ModelError(
                f"this model is for {expected.value} maps but the input is a {source.kind.value} map; "
                "choose the matching model or force it",
                self.info.path,
            )

    def run(
        self,
        source: QuantMap,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        guides: Mapping[MapKind, QuantMap] | None = None,
    ) -> QuantMap:
        """Super-resolve every slice of ``source``; returns the map on the ×scale grid. ``guides``: the study's
        other fast maps by kind, of which a model with guide maps (``info.guide_kinds``) reads its own."""
        self.check_input(source)
        report = RunReport(slices=source.shape[0])
        started, cpu_started = time.perf_counter(), time.process_time()
        norm = self.info.norm_physical
        lr = self._prepared_input(source, norm, report, guides)
        k, _channels, h, w = lr.shape
        scale = self.info.scale
        shape = (k, h * scale, w * scale)
        batch = self.options.batch_size or batch_size_for(
            h, w, self.info.config.channels, self.options.memory_budget_mb
        )
        if self.options.batch_size is None and self.options.optimized and self.device.type == "cpu":
            batch = min(batch, CPU_OPTIMIZED_BATCH)
        # The optimized path only writes the head's box: everything else is the generator's background response.
        out = np.full(shape, self.background, np.float32) if self.options.optimized else np.empty(shape, np.float32)
        in_flight: deque[_Launched] = deque()
        start = 0
        if progress:
            progress(0, k)
        while start < k:
            if cancel is not None and cancel.cancelled:
                raise CancelledError("super-resolution cancelled by the user")
            stop = min(start + batch, k)
            try:
                in_flight.append(self._launch(lr, start, stop))
            except Exception as exc:
                if not (self.device.type == "cuda" and is_out_of_memory(exc)):
                    raise
                self._collect(in_flight, out, 0, progress)  # batches already launched are fine
                batch = self._back_off(batch, report)
                continue
            start = stop
            self._collect(in_flight, out, self.streams.in_flight, progress)
        self._collect(in_flight, out, 0, progress)
        denormalise_in_place(out, norm)
        report.seconds = time.perf_counter() - started
        report.cpu_seconds = time.process_time() - cpu_started
        report.device = describe_device(self.device)
        if self.cpu_convolution == "nnpack":
            report.device = f"cpu (NNPACK convolutions, {self.streams.workers} slices at a time)"
        report.runtime = self.runtime
        report.batch_size = batch
        metadata = dict(source.metadata)
        metadata.update(
            method=DL,
            model=self.info.name,
            model_sha256=self.info.weights_sha256,
            trained_on=self.info.trained_on,
            sr_report=report,
        )
        result = upsampled_like(
            source,
            out,
            scale,
            kind=self.info.map_kind if source.kind is MapKind.UNKNOWN else source.kind,
            metadata=metadata,
        )
        if self.consistency_mm > 0:
            result = fast_consistent(result, source, self.consistency_mm, self.options.fast_consistency_eps,
                                     self.consistency_forward)
            report.seconds = time.perf_counter() - started
        return result

    def _prepared_input(self, source: QuantMap, norm: float, report: RunReport,
                        guides: Mapping[MapKind, QuantMap] | None) -> np.ndarray:
        """The generator's input (slices, 1 + guides, rows, cols) after checking the map's values."""
        values = source.array
        if not np.all(np.isfinite(values)):
            raise ModelError("input map contains NaN or infinite values", source.metadata.get("source_path"))
        above = int(np.count_nonzero(values > norm))
        occupied = max(int(np.count_nonzero(values > 0)), 1)
        if above > MAX_ABOVE_RANGE * occupied and not self.options.force_kind:
            raise ModelError(
                f"{100 * above / occupied:.0f} % of the map's voxels exceed the model's range 0–{norm:g} "
                f"{source.kind.unit}: the input does not match the model's normalisation (values on the stored "
                "DICOM scale ×10, or another unit?); convert it, or force the run",
                source.metadata.get("source_path"),
            )
        outside = int(np.count_nonzero((values < 0) | (values > norm)))
        if outside:
            message = f"{outside} voxels lie outside the model's range 0–{norm:g} {source.kind.unit} and were clipped"
            log.warning(message)
            report.warnings.append(message)
        return network_input(source, norm, self.info.guide_kinds, guides)

    def _launch(self, lr: np.ndarray, start: int, stop: int) -> _Launched:
        """Send slices ``start:stop`` to the generator. The optimized path sends only the slices with head,
        cropped to the head's bounding box plus the receptive radius; the naive path sends the full field."""
        batch = lr[start:stop]
        if not self.options.optimized:
            return _Launched(start, stop, None, None, self._forward(batch))
        head = batch[:, 0]  # the map's own channel decides where the head is
        with_head = np.flatnonzero(np.any(head > BACKGROUND + 1e-6, axis=(1, 2)))
        box = head_box(head[with_head], self.radius) if with_head.size else None
        if box is None:  # all background: the output is already the background response
            return _Launched(start, stop, with_head, None, None)
        r0, r1, c0, c1 = box
        return _Launched(start, stop, with_head, box, self._forward(batch[with_head, :, r0:r1, c0:c1]))

    def _collect(self, in_flight: deque[_Launched], out: np.ndarray, keep: int,
                 progress: ProgressCallback | None) -> None:
        """Wait for launched batches, oldest first, until ``keep`` remain in flight, and write them to ``out``."""
        scale = self.info.scale
        while len(in_flight) > keep:
            item = in_flight.popleft()
            if item.result is not None:
                values = item.result.wait()
                slices = slice(item.start, item.stop) if item.slices is None else item.start + item.slices
                if item.box is None:
                    out[slices] = values
                else:
                    r0, r1, c0, c1 = item.box
                    out[slices, r0 * scale : r1 * scale, c0 * scale : c1 * scale] = values
            if progress:
                progress(item.stop, out.shape[0])

    def _forward(self, batch: np.ndarray) -> PendingResult:
        """Run an (N, channels, h, w) batch; the result is (N, s·h, s·w)."""
        if self.runner is not None:
            return PendingResult(self.runner(batch)[:, 0])
        tensor = torch.from_numpy(np.ascontiguousarray(batch))
        if self.channels_last and self.device.type == "cpu":
            tensor = tensor.contiguous(memory_format=torch.channels_last)
        return self.streams.launch(tensor, self._generate)

    def _generate(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.device.type != "cuda":
            with torch.inference_mode():
                return self.generator(tensor)[:, 0]
        if self.channels_last:
            tensor = tensor.contiguous(memory_format=torch.channels_last)  # on the device: a cheap copy
        dtype = {"float16": torch.float16, "bfloat16": torch.bfloat16}[self.options.amp_dtype]
        with torch.inference_mode(), torch.autocast("cuda", dtype=dtype, enabled=self.options.amp), \
                torch.backends.cudnn.flags(enabled=True, benchmark=self.options.cudnn_benchmark,
                                           allow_tf32=self.options.tf32):
            return self.generator(tensor).float()[:, 0]

    def _back_off(self, batch: int, report: RunReport) -> int:
        torch.cuda.empty_cache()
        if batch > 1:
            message = f"CUDA out of memory at batch {batch}; retrying with batch {batch // 2}"
            log.warning(message)
            report.warnings.append(message)
            return batch // 2
        message = "CUDA out of memory even at batch 1; continuing on the CPU (slower)"
        log.warning(message)
        report.warnings.append(message)
        self.device = torch.device("cpu")
        self.generator = self.generator.to(self.device)
        self.streams = StreamedForward(self.device)
        return 1
