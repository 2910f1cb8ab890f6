"""Batch super-resolution of many studies: one failing study is reported and skipped, finished studies
are skipped on a re-run (resumable), and a study's outputs appear complete or not at all.

Under ``torchrun`` (or any launcher that sets ``RANK`` / ``WORLD_SIZE``) each rank takes its own share of the
studies: study i of the sorted list belongs to rank i mod WORLD_SIZE, a fixed assignment that does not depend on
what is already finished, so every study has exactly one owner however the ranks are timed, and a re-run (any
number of ranks) skips what the completion markers say is done."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CancelledError, InputError, QuantSRError
from .io.atomic import atomic_directory
from .io.loader import load_maps
from .io.outputs import plan_outputs
from .io.writers import write_map
from .srjob import SRJob, super_resolve_maps

log = logging.getLogger("quantsr.batch")
COMPLETE_MARKER = "quantsr-study.json"


@dataclass
class StudyResult:
    study: str
    status: str  # "done", "skipped" (already complete) or "failed"
    reason: str = ""
    outputs: list[str] = field(default_factory=list)
    seconds: float = 0.0
    rank: int = 0  # the batch rank that handled it (torchrun)


def find_studies(root: str | Path) -> list[Path]:
    """The study folders directly under ``root`` (each holds one study's DICOM or map files)."""
    root = Path(root)
    if not root.is_dir():
        raise InputError("not a folder of studies", root)
    studies = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not studies:
        raise InputError("has no study sub-folders", root)
    return studies


@dataclass(frozen=True)
class Shard:
    """This process's share of a batch: studies i with i mod world == rank."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0  # the rank among this node's processes: which GPU it uses

    @classmethod
    def from_environment(cls) -> "Shard":
        """RANK / WORLD_SIZE / LOCAL_RANK as torchrun (and torch.distributed's other launchers) set them."""
        try:
            rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
            local_rank = int(os.environ.get("LOCAL_RANK", rank))
        except ValueError as exc:
            raise InputError(f"RANK / WORLD_SIZE / LOCAL_RANK must be integers ({exc})") from None
        if world < 1 or not 0 <= rank < world:
            raise InputError(f"RANK {rank} is not within WORLD_SIZE {world}")
        return cls(rank, world, local_rank)

    def mine(self, studies: list[Path]) -> list[Path]:
        return studies[self.rank :: self.world]


def run_batch(root: str | Path, output: str | Path, job: SRJob, fmt: str = "dicom",
              on_study: Callable[[StudyResult], None] | None = None, shard: Shard | None = None) -> list[StudyResult]:
    """Super-resolve this shard's studies (all of them by default) into ``output/<study>/``."""
    output = Path(output)
    shard = shard or Shard()
    results = []
    for study in shard.mine(find_studies(root)):
        started = time.perf_counter()
        target = output / study.name
        if (target / COMPLETE_MARKER).is_file():
            result = StudyResult(study.name, "skipped", "already complete")
        else:
            try:
                result = _run_study(study, target, job, fmt, shard)
            except (CancelledError, KeyboardInterrupt):
                raise
            except QuantSRError as exc:
                result = StudyResult(study.name, "failed", str(exc))
                log.error("%s: %s", study.name, exc)
        result.seconds = time.perf_counter() - started
        result.rank = shard.rank
        results.append(result)
        if on_study:
            on_study(result)
    return results


def _run_study(study: Path, target: Path, job: SRJob, fmt: str, shard: Shard) -> StudyResult:
    maps = load_maps(study)
    results = super_resolve_maps(maps, job)
    with atomic_directory(target) as tmp:  # the study folder appears whole, or a re-run redoes it
        names = []
        for source, result, path in zip(maps, results, plan_outputs(tmp, maps, job.method, fmt), strict=True):
            write_map(result, path, derived_from=source)
            names.append(path.name)
        (tmp / COMPLETE_MARKER).write_text(json.dumps({"study": study.name, "method": job.method, "outputs": names,
                                                       "rank": shard.rank, "world": shard.world}, indent=1))
    return StudyResult(study.name, "done", outputs=names)


def rank_device(device: str, shard: Shard) -> str:
    """The device of one batch rank: with several ranks, "auto" / "cuda" mean this node's GPU number LOCAL_RANK
    (one rank per GPU), when there are GPUs; anything else (cpu, cuda:N) is kept."""
    if shard.world == 1 or device.strip().lower() not in ("auto", "cuda"):
        return device
    import torch

    if not torch.cuda.is_available():
        return device  # "auto" → the CPU; "cuda" → the engine's own error
    return f"cuda:{shard.local_rank % torch.cuda.device_count()}"


#: How long rank 0 waits for the slowest rank before printing the summary (ranks' shares can differ by hours).
GATHER_TIMEOUT_HOURS = 48


def gather_results(results: list[StudyResult], shard: Shard) -> list[StudyResult] | None:
    """Every rank's results on rank 0 (in study order), None on the other ranks; a single process gets its own.
    Ranks talk over a gloo process group (CPU only, whatever the device), when the launcher set one up
    (MASTER_ADDR); without one each rank reports its own share."""
    if shard.world == 1 or "MASTER_ADDR" not in os.environ:
        return results
    import datetime

    import torch.distributed as dist

    dist.init_process_group("gloo", rank=shard.rank, world_size=shard.world,
                            timeout=datetime.timedelta(hours=GATHER_TIMEOUT_HOURS))
    try:
        gathered: list[list[StudyResult]] | None = [[] for _ in range(shard.world)] if shard.rank == 0 else None
        dist.gather_object(results, gathered, dst=0)
    finally:
        dist.destroy_process_group()
    if gathered is None:
        return None
    return sorted((r for part in gathered for r in part), key=lambda r: r.study)


def summary_table(results: list[StudyResult]) -> str:
    done = sum(r.status == "done" for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    failed = [r for r in results if r.status == "failed"]
    lines = [f"{len(results)} studies: {done} done, {skipped} already complete, {len(failed)} failed"]
    if failed:
        width = max(len(r.study) for r in failed)
        lines.append(f"{'failed study'.ljust(width)}  reason")
        lines += [f"{r.study.ljust(width)}  {r.reason}" for r in failed]
    return "\n".join(lines)
