"""Tiny paired data and a tiny training configuration shared by the training tests."""

from __future__ import annotations

import pytest
from tiny_data import write_tiny_cohort

from quantsr_training.config import TrainConfig


@pytest.fixture(scope="session")
def tiny_manifest(tmp_path_factory):
    return write_tiny_cohort(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def tiny_config(tiny_manifest, tmp_path) -> TrainConfig:
    config = TrainConfig()
    settings = {
        "data.cohort": str(tiny_manifest), "data.lr_patch": 16, "data.cache_dir": str(tmp_path / "cache"),
        "model.channels": 8, "model.residual_blocks": 1, "model.discriminator_channels": 4,
        "optim.batch_size": 2, "optim.max_iterations": 8, "optim.warmup_iterations": 3,
        "run.output": str(tmp_path / "run"), "run.log_every": 1, "run.checkpoint_every": 4, "run.seed": 5,
    }
    for key, value in settings.items():
        config.set(key, value)
    return config
