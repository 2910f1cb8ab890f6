"""Checkpoint → the core's model file (safetensors + metadata with the training config and data)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import torch

from quantsr.envelope import Envelope
from quantsr.errors import InputError
from quantsr.mapkinds import MapKind
from quantsr.model import Generator, GeneratorConfig
from quantsr.modelfile import ModelInfo, save_model

from .config import parse_guide_maps


def export_checkpoint(checkpoint: str | Path, output: str | Path, description: str = "",
                      trained_on: str | None = None, envelope: Envelope | None = None,
                      fast_consistency_mm: float | None = None, fast_consistency_forward: str | None = None) -> Path:
    """``envelope``: the training envelope the model file records (quantsr.envelope); ``fast_consistency_mm`` /
    ``fast_consistency_forward``: the consistency σ and forward model chosen for the model on validation, which
    inference applies by default."""
    checkpoint = Path(checkpoint)
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as exc:
        raise InputError(f"not a readable QuantSR training checkpoint ({exc})", checkpoint) from None
    config = state["config"]
    kind = MapKind.parse(config["data"]["map"])
    generator = Generator(GeneratorConfig.from_dict(config["model"]))  # [model]: the generator's fields, flat
    generator.load_state_dict(state["generator"])
    data = state.get("data", {})
    info = ModelInfo(
        map_kind=kind,
        norm_physical=kind.norm_physical,
        config=generator.config,
        guide_kinds=parse_guide_maps(config["data"].get("guide_maps", "")),
        trained_on=trained_on or f"{len(data.get('train_subjects', []))} subjects from {data.get('cohort', '?')}",
        description=description or f"QuantSR SRGAN generator for {kind.value} maps, iteration {state['iteration']}",
        training={"iteration": int(state["iteration"]), "config": config, "data": data},
        created=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        envelope=envelope,
        fast_consistency_mm=fast_consistency_mm,
        fast_consistency_forward=fast_consistency_forward,
    )
    return save_model(generator, info, output)
