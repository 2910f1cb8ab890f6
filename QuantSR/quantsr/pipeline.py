"""The super-resolution job shared by the CLI and batch use: maps in, upsampled maps out (DL or a
baseline), with one progress stream across all maps."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .baselines import Interpolation, upsample
from .mapkinds import MapKind
from .volume import QuantMap

if TYPE_CHECKING:  # the engine imports torch: only DL loads it, so bicubic / linear work without torch
    from .engine import CancelToken, EngineOptions, ProgressCallback

METHODS = ("dl", "bicubic", "linear")


@dataclass
class BaselineReport:
    """``sr_report`` of a bicubic / linear run: the fields of ``engine.RunReport`` without importing torch."""

    slices: int = 0
    seconds: float = 0.0
    device: str = "cpu"
    runtime: str = "scipy"
    batch_size: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass
class SRJob:
    method: str = "dl"
    model_paths: dict[MapKind, Path] | None = None  # per kind; None → bundled models
    options: EngineOptions | None = None
    data_consistency: bool = False  # replace the output's low frequencies by the fast scan's (quantsr.trust)
    dc_window_fraction: float = 1.0  # share of the fast acquisition window replaced (0.5: its central half)


def super_resolve_maps(
    maps: Sequence[QuantMap],
    job: SRJob,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> list[QuantMap]:
    """Upsample each map with ``job.method``; progress counts slices over all maps."""
    if job.method not in METHODS:
        raise ValueError(f"unknown method {job.method!r}: expected one of {', '.join(METHODS)}")
    total = sum(m.shape[0] for m in maps)
    done = 0
    results = []
    for qmap in maps:

        def map_progress(finished: int, _total: int, offset: int = done) -> None:
            if progress:
                progress(offset + finished, total)

        if job.method == "dl":
            from .engine import SuperResolver

            model = (job.model_paths or {}).get(qmap.kind)
            resolver = SuperResolver.for_kind(qmap.kind, model, job.options)
            results.append(resolver.run(qmap, map_progress, cancel))
        else:
            started = time.perf_counter()
            out = upsample(qmap, 2, Interpolation(job.method))
            out.metadata["sr_report"] = BaselineReport(slices=qmap.shape[0], seconds=time.perf_counter() - started)
            results.append(out)
            map_progress(qmap.shape[0], qmap.shape[0])
        if job.data_consistency:
            from .trust import project_data_consistency

            results[-1] = project_data_consistency(results[-1], qmap, window_fraction=job.dc_window_fraction)
        done += qmap.shape[0]
    return results
