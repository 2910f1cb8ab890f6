"""The training loop: SRGAN as in the paper (L1 + 1e-3·adversarial + 2e-6·VGG; the terms in ``losses.py``),
optional L1 warm-up, Adam with step decay, checkpoints that resume exactly, metrics to JSONL/CSV, DDP under
torchrun."""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import random
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, Sampler
from tqdm import tqdm

from quantsr.errors import InputError
from quantsr.io.atomic import atomic_path
from quantsr.mapkinds import MapKind
from quantsr.model import Generator

from .config import TrainConfig, parse_guide_maps, validate
from .dataset import CachedSubject, PatchDataset, cache_subject
from .distributed import DistInfo, init_distributed, shutdown, training_device
from .losses import GeneratorLoss, discriminator_loss
from .networks import Discriminator, content_loss_network
from .pairs import SubjectSource, pair_all, read_sources
from .split import make_split, read_split, write_split

log = logging.getLogger("quantsr.training")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


class ResumableSampler(Sampler[int]):
    """A DistributedSampler that can start part-way through an epoch (for exact resume)."""

    def __init__(self, dataset: PatchDataset, info: DistInfo, seed: int) -> None:
        self.inner: DistributedSampler[int] = DistributedSampler(
            dataset, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=seed, drop_last=True)
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.inner.set_epoch(epoch)
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        return iter(list(self.inner)[self.skip :])

    def __len__(self) -> int:
        return len(self.inner) - self.skip


def extra_sources(config: TrainConfig, kind: MapKind) -> list[SubjectSource]:
    """Subjects of ``data.extra_train_cohorts``: training only (never in the split), named cohort/subject."""
    guides = parse_guide_maps(config.data.guide_maps)
    sources = []
    for cohort in (Path(c.strip()) for c in config.data.extra_train_cohorts.split(",") if c.strip()):
        name = cohort.name if cohort.is_dir() else cohort.parent.name  # a folder, or the folder of its CSV
        sources += [dataclasses.replace(s, subject=f"{name}/{s.subject}") for s in read_sources(cohort, kind, guides)]
    return sources


def prepare_data(config: TrainConfig, output: Path, info: DistInfo) -> tuple[list[CachedSubject], dict]:
    """Pair, split and cache the training subjects (rank 0 writes; other ranks wait and read)."""
    kind = MapKind.parse(config.data.map)
    if kind is MapKind.UNKNOWN:
        raise InputError("data.map must be T1, T2 or PD")
    guides = parse_guide_maps(config.data.guide_maps)
    sources = read_sources(config.data.cohort, kind, guides)
    split_path = Path(config.data.split_file) if config.data.split_file else output / "split.json"
    if split_path.exists():
        split = read_split(split_path)
    else:
        split = make_split([s.subject for s in sources], [s.group for s in sources], config.data.train_fraction,
                           config.run.seed)
        if info.is_main:
            write_split(split, split_path)
    train_sources = [s for s in sources if s.subject in set(split["train"])] + extra_sources(config, kind)
    cache_dir = Path(config.data.cache_dir) if config.data.cache_dir else output / "cache"
    if info.enabled and not info.is_main:
        torch.distributed.barrier()  # rank 0 caches first
    paired, failed = pair_all(train_sources, kind, config.model.generator.scale, config.data.register, guides)
    cached = [cache_subject(p, kind.norm_physical, cache_dir, config.data.min_head_fraction) for p in paired]
    if info.enabled and info.is_main:
        torch.distributed.barrier()
    description = {
        "cohort": str(config.data.cohort), "extra_train_cohorts": config.data.extra_train_cohorts,
        "map": kind.value, "guide_maps": [g.value for g in guides], "train_subjects": [c.subject for c in cached],
        "test_subjects": split["test"], "train_slices": sum(len(c.slices) for c in cached),
        "pairing_failed": failed, "split_file": str(split_path),
    }
    if failed:
        log.warning("%d subject(s) could not be paired and are left out: %s", len(failed),
                    "; ".join(f"{s}: {why}" for s, why in failed))
    return cached, description


class Trainer:
    """One training run: the generator and discriminator, their optimisers and schedules, the loss terms, the
    iteration count; ``fit`` trains, checkpoints and logs into ``config.run.output``."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = validate(config)
        self.output = Path(config.run.output)
        self.device = training_device(config.run.device)
        self.info = init_distributed(self.device)
        seed_everything(config.run.seed)
        self.kind = MapKind.parse(config.data.map)
        self.generator = Generator(config.model.generator).to(self.device)
        self.discriminator = Discriminator(config.model.discriminator_channels).to(self.device)
        optim = config.optim
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=optim.lr, betas=optim.betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=optim.lr, betas=optim.betas)
        self.sched_g = torch.optim.lr_scheduler.StepLR(self.opt_g, optim.lr_step, optim.lr_gamma)
        self.sched_d = torch.optim.lr_scheduler.StepLR(self.opt_d, optim.lr_step, optim.lr_gamma)
        self.use_amp = config.run.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.iteration = 0
        self.data_description: dict = {}
        if self.info.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.g_model: nn.Module = DistributedDataParallel(self.generator, device_ids=ids)
            self.d_model: nn.Module = DistributedDataParallel(self.discriminator, device_ids=ids)
        else:
            self.g_model, self.d_model = self.generator, self.discriminator
        vgg = content_loss_network(config.loss.vgg_weights, config.loss.vgg_layer, self.device) \
            if config.loss.vgg > 0 else None
        self.loss = GeneratorLoss(config.loss, self.d_model, vgg)
        self.log_fields = ("iteration", "epoch", "lr", *self.loss.log_fields, "seconds")

    # -- checkpoints ----------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "iteration": self.iteration,
            "config": self.config.to_dict(),
            "data": self.data_description,
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "sched_g": self.sched_g.state_dict(), "sched_d": self.sched_d.state_dict(),
            "scaler": self.scaler.state_dict(),
            "torch_rng": torch.get_rng_state(),
        }

    def save_checkpoint(self) -> Path | None:
        if not self.info.is_main:
            return None
        folder = self.output / "checkpoints"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"iter_{self.iteration:07d}.pt"
        state = self.state()
        for target in (path, folder / "last.pt"):
            with atomic_path(target, suffix=".pt") as tmp:
                torch.save(state, tmp)
        return path

    def load_checkpoint(self, path: Path) -> None:
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except (OSError, RuntimeError) as exc:
            raise InputError(f"not a readable QuantSR training checkpoint ({exc})", path) from None
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.sched_g.load_state_dict(state["sched_g"])
        self.sched_d.load_state_dict(state["sched_d"])
        self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["torch_rng"].cpu())
        self.iteration = int(state["iteration"])
        self._truncate_logs()

    def _truncate_logs(self) -> None:
        """Drop log rows written after the checkpoint we resume from (they will be written again)."""
        if not self.info.is_main:
            return
        jsonl = self.output / "metrics.jsonl"
        if jsonl.exists():
            rows = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
            kept = [r for r in rows if r["iteration"] <= self.iteration]
            jsonl.write_text("".join(json.dumps(r) + "\n" for r in kept))
            with open(self.output / "metrics.csv", "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=self.log_fields)
                writer.writeheader()
                for row in kept:
                    writer.writerow({k: row.get(k, "") for k in self.log_fields})

    # -- the loop -------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> Path | None:
        """Train to ``optim.epochs`` (or ``optim.max_iterations``), from ``checkpoints/last.pt`` with
        ``resume``; returns that last checkpoint (rank 0; other ranks get None)."""
        self.output.mkdir(parents=True, exist_ok=True)
        cached, self.data_description = prepare_data(self.config, self.output, self.info)
        if resume:
            self._resume()
        if self.info.is_main:
            with atomic_path(self.output / "config.json") as tmp:
                tmp.write_text(json.dumps(self.config.to_dict(), indent=1))
        self._train(cached)
        if self.info.enabled:
            self._share_batchnorm_statistics()
        shutdown(self.info)
        return self.output / "checkpoints" / "last.pt" if self.info.is_main else None

    def _resume(self) -> None:
        last = self.output / "checkpoints" / "last.pt"
        if not last.exists():
            raise InputError("nothing to resume: no checkpoints/last.pt", self.output)
        self.load_checkpoint(last)
        log.info("resumed at iteration %d", self.iteration)

    def _train(self, cached: list[CachedSubject]) -> None:
        """Iterations from the current one to the total, epoch by epoch; logs and checkpoints on schedule."""
        cfg = self.config
        dataset = PatchDataset(cached, cfg.data.lr_patch, cfg.model.generator.scale, cfg.run.seed,
                               cfg.data.min_head_fraction, rare_share=cfg.data.rare_value_patches,
                               rare_power=cfg.data.rare_value_power)
        sampler = ResumableSampler(dataset, self.info, cfg.run.seed)
        per_epoch = len(sampler.inner) // cfg.optim.batch_size
        if per_epoch == 0:
            raise InputError(f"only {len(dataset)} training slices: fewer than one batch of {cfg.optim.batch_size}")
        total = per_epoch * cfg.optim.epochs
        if cfg.optim.max_iterations > 0:
            total = min(total, cfg.optim.max_iterations)
        bar = tqdm(total=total, initial=self.iteration, unit="it", desc=f"train {self.kind.value}",
                   disable=not self.info.is_main)
        started = time.perf_counter()
        deadline = started + 60 * cfg.optim.max_minutes if cfg.optim.max_minutes > 0 else float("inf")
        while self.iteration < total:
            epoch, done_in_epoch = divmod(self.iteration, per_epoch)
            dataset.set_epoch(epoch)
            sampler.set_epoch(epoch, skip=done_in_epoch * cfg.optim.batch_size)
            loader = DataLoader(dataset, batch_size=cfg.optim.batch_size, sampler=sampler, drop_last=True,
                                num_workers=cfg.run.num_workers, pin_memory=self.device.type == "cuda")
            for lr_batch, hr_batch in loader:
                losses = self.step(lr_batch.to(self.device, non_blocking=True),
                                   hr_batch.to(self.device, non_blocking=True))
                self.iteration += 1
                bar.update(1)
                out_of_time = self._past(deadline)
                if self.iteration % cfg.run.log_every == 0 or self.iteration == total or out_of_time:
                    bar.set_postfix(loss=f"{losses['loss_g']:.4f}")
                    self._write_log({"iteration": self.iteration, "epoch": epoch, "lr": self.sched_g.get_last_lr()[0],
                                     **losses, "seconds": round(time.perf_counter() - started, 2)})
                if self.iteration % cfg.run.checkpoint_every == 0 or self.iteration == total or out_of_time:
                    self.save_checkpoint()
                if out_of_time:
                    log.warning("optim.max_minutes (%g) reached: stopped at iteration %d of %d (resume with "
                                "--resume)", cfg.optim.max_minutes, self.iteration, total)
                    total = self.iteration
                if self.iteration >= total:
                    break
        bar.close()

    def _past(self, deadline: float) -> bool:
        """Whether the wall clock is past ``deadline``; under DDP every rank takes rank 0's answer, so all stop
        at the same iteration."""
        if not self.info.enabled or deadline == float("inf"):
            return time.perf_counter() > deadline
        late = torch.tensor([time.perf_counter() > deadline], dtype=torch.int32, device=self.device)
        torch.distributed.broadcast(late, src=0)
        return bool(late.item())

    def _share_batchnorm_statistics(self) -> None:
        """BN running statistics are per rank between forwards: end every rank on rank 0's."""
        for module in (self.generator, self.discriminator):
            for buffer in module.buffers():
                torch.distributed.broadcast(buffer, src=0)

    def step(self, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, float]:
        """One iteration on a batch (LR (N, 1 + guides, h, w), HR (N, 1, s·h, s·w), normalised): the discriminator's
        step (after the warm-up), then the generator's on the configured loss terms; their values by log field."""
        adversarial = self.loss.has_adversarial and self.iteration >= self.config.optim.warmup_iterations
        self.g_model.train()
        self.d_model.train()
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.use_amp):
            fake = self.g_model(lr)
        values: dict[str, float] = {}
        if self.loss.has_adversarial:
            values["loss_d"] = self._discriminator_step(hr, fake) if adversarial else 0.0
        self.opt_g.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.use_amp):
            loss_g, terms = self.loss(fake, hr, lr, adversarial)
        self.scaler.scale(loss_g).backward()
        self.scaler.step(self.opt_g)
        self.scaler.update()
        self.sched_g.step()
        if adversarial:
            self.sched_d.step()
        return {"loss_g": float(loss_g.detach()), **{k: float(v.detach()) for k, v in terms.items()}, **values}

    def _discriminator_step(self, hr: torch.Tensor, fake: torch.Tensor) -> float:
        self.opt_d.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.use_amp):
            loss_d = discriminator_loss(self.d_model(hr), self.d_model(fake.detach()))
        self.scaler.scale(loss_d).backward()
        self.scaler.step(self.opt_d)
        return float(loss_d.detach())

    def _write_log(self, row: dict) -> None:
        if not self.info.is_main:
            return
        with open(self.output / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps(row) + "\n")
        csv_path = self.output / "metrics.csv"
        new = not csv_path.exists()
        with open(csv_path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.log_fields)
            if new:
                writer.writeheader()
            writer.writerow({k: row.get(k, "") for k in self.log_fields})
