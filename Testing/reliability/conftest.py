"""Fixtures shared by the reliability suites."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A small untrained T1 model file (4 channels, 1 block): fast, deterministic, no bundled weights needed."""
    import torch

    from quantsr.mapkinds import MapKind
    from quantsr.model import Generator, GeneratorConfig
    from quantsr.modelfile import ModelInfo, save_model

    torch.manual_seed(0)
    return save_model(Generator(GeneratorConfig(channels=4, residual_blocks=1)),
                      ModelInfo(MapKind.T1, MapKind.T1.norm_physical, trained_on="test"),
                      tmp_path_factory.mktemp("model") / "t1.safetensors")
