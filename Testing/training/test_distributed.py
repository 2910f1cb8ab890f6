"""DistributedDataParallel with two gloo processes on the CPU: both ranks end with identical weights."""

from __future__ import annotations

import os
import socket

import torch
import torch.multiprocessing as mp

from quantsr_training.config import TrainConfig
from quantsr_training.trainer import Trainer


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank(rank: int, world: int, port: int, config: dict, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    trainer = Trainer(TrainConfig.from_dict(config))
    trainer.fit()
    torch.save({k: v.clone() for k, v in trainer.generator.state_dict().items()}, f"{out}/rank{rank}.pt")


def test_two_gloo_ranks_keep_identical_weights(tiny_config, tmp_path) -> None:
    tiny_config.set("optim.max_iterations", 4)
    tiny_config.set("optim.warmup_iterations", 2)
    config = tiny_config.to_dict()
    config["optim"]["betas"] = list(config["optim"]["betas"])
    mp.spawn(_rank, args=(2, _free_port(), config, str(tmp_path)), nprocs=2, join=True)
    first = torch.load(tmp_path / "rank0.pt", weights_only=True)
    second = torch.load(tmp_path / "rank1.pt", weights_only=True)
    initial = {k: v for k, v in first.items()}
    for key in first:
        torch.testing.assert_close(first[key], second[key], rtol=0, atol=0)
    assert any(not torch.equal(v, torch.zeros_like(v)) for v in initial.values())
    metrics = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(metrics) == 4  # only rank 0 writes
