"""The super-resolution job (``SRJob``), shared by the CLI, batches, the demo and the Slicer module: a study's maps
in, upsampled maps out, by DL or a baseline (``quantsr.methods``), with one progress stream across all maps and the
loaded models kept for the job's next maps. Each DL map goes through the engine (``quantsr.engine.SuperResolver``:
one generator over one map); each baseline through ``quantsr.baselines``. ``EngineOptions`` (how the engine runs)
is defined here, without torch, so that commands can build and check options before loading it."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .mapkinds import MapKind
from .methods import DL, METHODS

#: What the fast-scan consistency step (quantsr.consistency) compares DL with the fast scan through: itself
#: ("identity", the default, as models without a recorded choice were validated) or the fast acquisition's k-space
#: window ("acquisition").
FORWARD_MODELS = ("identity", "acquisition")
DEFAULT_FORWARD = "identity"

if TYPE_CHECKING:  # imported where used: commands build jobs and options without loading torch or scipy
    from .engine import CancelToken, ProgressCallback
    from .volume import QuantMap


@dataclass
class EngineOptions:
    """How the DL engine (``quantsr.engine``, which re-exports this) runs; defined here so that commands can build
    and check options without importing torch. ``fast=`` (the name of ``optimized`` up to 0.1.0) is still accepted,
    with a DeprecationWarning."""

    device: str = "auto"
    batch_size: int | None = None  # None: 1 on the CPU (optimized path), else the largest batch within memory_budget_mb
    memory_budget_mb: float = 2048.0
    amp: bool = True  # autocast (to amp_dtype) on CUDA only; CPU always runs float32
    amp_dtype: str = "float16"  # CUDA autocast: "float16" or "bfloat16"
    channels_last: bool | None = None  # optimized path's layout; None: channels_last on the CPU, NCHW on CUDA
    tf32: bool = True  # CUDA float32: let cuDNN use TF32 tensor cores (its default); False: strict float32
    cudnn_benchmark: bool = False  # CUDA: cuDNN times its algorithms per input shape (head crops vary by slice)
    # The CPU's optimized path's 3×3 convolutions: "onednn", "nnpack" (Winograd, one slice per core) or "auto"
    # (NNPACK where the CPU lacks AVX-512; quantsr.speedups.choose_cpu_convolution)
    cpu_convolution: str = "auto"
    force_kind: bool = False  # run a model on a map of another kind
    # The inference speed-ups of quantsr.speedups: BN folding, channels_last, head cropping, NNPACK (False: the naive
    # reference path)
    optimized: bool = True
    runtime: str = "torch"  # "torch", "onnxruntime" (CPU optimized path only) or "auto" (onnxruntime if installed)
    overlap: bool = True  # CUDA: upload / download on side streams while the previous / next batch computes
    # Fast-scan consistency (quantsr.consistency): the output's coarse level follows the fast scan, so DL cannot
    # move a region's mean away from what was measured. σ in mm: None takes the model's own (chosen on validation,
    # recorded in its file), else consistency.DEFAULT_SIGMA_MM; 0 turns the step off. ε: DEFAULT_EPS.
    fast_consistency_mm: float | None = None
    fast_consistency_eps: float = 0.01
    # What DL is compared with the fast scan through (FORWARD_MODELS above): None takes the model's own,
    # else "identity"
    fast_consistency_forward: str | None = None
    fast: InitVar[bool | None] = None  # deprecated name of ``optimized`` (a keyword only; never stored)

    def __post_init__(self, fast: bool | None) -> None:
        if fast is not None:
            warnings.warn("EngineOptions(fast=...) is deprecated: use optimized=...", DeprecationWarning, stacklevel=3)
            self.optimized = fast


@dataclass
class BaselineReport:
    """``sr_report`` of a bicubic / linear run: the fields of ``engine.RunReport`` without importing torch."""

    slices: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    setup_seconds: float = 0.0  # always 0: nothing to load
    setup_cpu_seconds: float = 0.0
    device: str = "cpu"
    runtime: str = "scipy"
    batch_size: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass
class SRJob:
    """What to run over a study's maps: the method, the model files, the engine's options."""

    method: str = DL  # quantsr.methods.METHODS
    model_paths: dict[MapKind, Path] | None = None  # per kind; None → bundled models
    options: EngineOptions | None = None
    data_consistency: bool = False  # replace the output's low frequencies by the fast scan's (quantsr.trust)
    dc_window_fraction: float = 1.0  # share of the fast acquisition window replaced (0.5: its central half)
    # The study's other fast maps, not super-resolved themselves, that guide-map models read (quantsr.guides)
    guides: dict[MapKind, QuantMap] = field(default_factory=dict)
    # Loaded models by (kind, model file), kept for the job's next maps and studies (`quantsr batch`, `report`).
    resolvers: dict[tuple[MapKind, Path | None], Any] = field(default_factory=dict, repr=False, compare=False)


def super_resolve_maps(
    maps: Sequence[QuantMap],
    job: SRJob,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> list[QuantMap]:
    """Upsample each map with ``job.method``; progress counts slices over all maps."""
    return list(iter_super_resolved(maps, job, progress, cancel))


def iter_super_resolved(
    maps: Sequence[QuantMap],
    job: SRJob,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Iterator[QuantMap]:
    """:func:`super_resolve_maps` one map at a time, so a caller can write each result while the next computes. A
    model that reads guide maps (the study's other fast maps, ``quantsr.guides``) takes them from ``maps``."""
    if job.method not in METHODS:
        raise ValueError(f"unknown method {job.method!r}: expected one of {', '.join(METHODS)}")
    study = {**job.guides, **{m.kind: m for m in maps}}
    total = sum(m.shape[0] for m in maps)
    done = 0
    for qmap in maps:

        def map_progress(finished: int, _total: int, offset: int = done) -> None:
            if progress:
                progress(offset + finished, total)

        result = _run_dl(qmap, job, map_progress, cancel, study) if job.method == DL else _run_baseline(qmap, job)
        if job.method != DL:
            map_progress(qmap.shape[0], qmap.shape[0])
        if job.data_consistency:
            from .trust import project_data_consistency

            result = project_data_consistency(result, qmap, window_fraction=job.dc_window_fraction)
        done += qmap.shape[0]
        yield result


def _run_dl(qmap: QuantMap, job: SRJob, progress: ProgressCallback, cancel: CancelToken | None,
            study: dict[MapKind, QuantMap]) -> QuantMap:
    from .engine import SuperResolver

    model = (job.model_paths or {}).get(qmap.kind)
    started, cpu_started = time.perf_counter(), time.process_time()
    key = (qmap.kind, model)
    if key not in job.resolvers:
        job.resolvers[key] = SuperResolver.for_kind(qmap.kind, model, job.options)
    setup, setup_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    result = job.resolvers[key].run(qmap, progress, cancel, guides=study)
    report = result.metadata["sr_report"]
    report.setup_seconds, report.setup_cpu_seconds = setup, setup_cpu
    return result


def _run_baseline(qmap: QuantMap, job: SRJob) -> QuantMap:
    from .baselines import baseline_device, upsample

    started, cpu_started = time.perf_counter(), time.process_time()
    device = baseline_device(job.options.device if job.options else "auto")  # DL's device when on CUDA
    out = upsample(qmap, 2, job.method, device=device)
    out.metadata["sr_report"] = BaselineReport(
        slices=qmap.shape[0], seconds=time.perf_counter() - started, cpu_seconds=time.process_time() - cpu_started,
        device="cpu" if device is None else str(device), runtime="scipy" if device is None else "torch")
    return out
