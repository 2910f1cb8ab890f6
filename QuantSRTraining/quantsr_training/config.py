"""Training configuration: the paper's values as defaults, read from TOML, every field overridable
(``--set section.key=value`` on the command line)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from quantsr.errors import InputError
from quantsr.model import RESIDUAL_MODES


@dataclass
class DataConfig:
    cohort: str = ""  # a simulator cohort folder (manifest.csv) or a manifest CSV: subject,map,fast,routine
    map: str = "T1"
    train_fraction: float = 0.8  # subject-level split, as in the paper (80/20)
    split_file: str = ""  # reuse / write the split here (default: <output>/split.json)
    extra_train_cohorts: str = ""  # comma-separated cohorts used for training only (e.g. simulated lesions)
    register: bool = False  # rigid MI registration of routine to fast before pairing (real data)
    lr_patch: int = 32  # low-resolution patch size (HR patch = scale × this)
    min_head_fraction: float = 0.25  # patches with less head than this are redrawn
    rare_value_patches: float = 0.0  # share of patches centred on rare routine values (lesions, extremes)
    rare_value_power: float = 0.5  # voxel weight ∝ count(value bin)^−power: 0 = uniform, 1 = every bin equal
    cache_dir: str = ""  # preprocessed slices (default: <output>/cache)


@dataclass
class ModelConfig:
    channels: int = 64
    residual_blocks: int = 5
    scale: int = 2
    discriminator_channels: int = 64
    residual: str = "none"  # "bicubic": learn the correction to bicubic upsampling (quantsr.model)


@dataclass
class LossConfig:
    l1: float = 1.0
    l2: float = 0.0  # pixel MSE: its optimum is the conditional mean, L1's the median (biased for skewed noise)
    local_mean: float = 0.0  # L1 between local means (avg-pooled output vs routine): ROI means kept unbiased
    local_mean_size: int = 8  # pooling window in HR pixels
    fast_consistency: float = 0.0  # L1 between coarse local means of the output and of bicubic(fast input)
    fast_consistency_size: int = 16  # its pooling window in HR pixels (16 = 6.9 mm on the bundled grid)
    adversarial: float = 1e-3
    vgg: float = 2e-6
    vgg_weights: str = ""  # torchvision VGG-19 state dict (.pth / .safetensors); empty → VGG term off
    vgg_layer: int = 35  # index in torchvision's vgg19().features: 35 = relu5_4 ("VGG54")


@dataclass
class OptimConfig:
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    lr_step: int = 1000  # step decay every N iterations (paper)
    lr_gamma: float = 0.9  # the paper does not give the decay factor; 0.9 is our choice
    batch_size: int = 8
    epochs: int = 200
    max_iterations: int = 0  # > 0 stops earlier (CPU runs, tests)
    warmup_iterations: int = 0  # L1-only generator iterations before adversarial training


@dataclass
class RunConfig:
    output: str = "runs/quantsr"
    seed: int = 2026
    device: str = "auto"
    amp: bool = True  # CUDA only; ignored on the CPU
    checkpoint_every: int = 500
    log_every: int = 10
    num_workers: int = 0


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> "TrainConfig":
        config = cls()
        for section, values in data.items():
            if not hasattr(config, section) or not isinstance(values, dict):
                raise InputError(f"unknown section [{section}]", source)
            for key, value in values.items():
                config.set(f"{section}.{key}", value, source)
        return config

    def set(self, dotted: str, value: Any, source: str = "--set") -> None:
        section_name, _, key = dotted.partition(".")
        section = getattr(self, section_name, None)
        if section is None or not dataclasses.is_dataclass(section) or key not in section.__dataclass_fields__:
            raise InputError(f"unknown setting {dotted!r}", source)
        current = getattr(section, key)
        setattr(section, key, _coerce(value, current, dotted, source))


def validate(config: TrainConfig, source: str = "config") -> TrainConfig:
    """Settings whose range the types do not enforce, checked before any data is read."""
    problems = []
    if config.model.residual not in RESIDUAL_MODES:
        problems.append(f"model.residual must be one of {', '.join(RESIDUAL_MODES)}, got {config.model.residual!r}")
    if not 0 <= config.data.rare_value_patches <= 1:
        problems.append(f"data.rare_value_patches must lie in [0, 1], got {config.data.rare_value_patches}")
    if config.data.rare_value_power < 0:
        problems.append(f"data.rare_value_power must be ≥ 0, got {config.data.rare_value_power}")
    for name in ("local_mean_size", "fast_consistency_size"):
        if getattr(config.loss, name) < 1:
            problems.append(f"loss.{name} must be ≥ 1, got {getattr(config.loss, name)}")
    problems += [f"loss.{name} must be ≥ 0, got {getattr(config.loss, name)}"
                 for name in ("l1", "l2", "local_mean", "fast_consistency", "adversarial", "vgg")
                 if getattr(config.loss, name) < 0]
    if problems:
        raise InputError("; ".join(problems), source)
    return config


def _coerce(value: Any, current: Any, name: str, source: str) -> Any:
    try:
        if isinstance(current, bool):
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
        if isinstance(current, tuple):
            items = value if isinstance(value, (list, tuple)) else str(value).strip("()[]").split(",")
            return tuple(float(v) for v in items)
        return type(current)(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} = {value!r} is not a {type(current).__name__}", source) from None


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """The config file (TOML) with ``key=value`` overrides applied; no file → the paper's defaults."""
    config = TrainConfig()
    if path:
        path = Path(path)
        try:
            config = TrainConfig.from_dict(tomllib.loads(path.read_text()), str(path))
        except FileNotFoundError:
            raise InputError("no such config file", path) from None
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"not valid TOML ({exc})", path) from None
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"--set expects section.key=value, got {item!r}")
        config.set(key.strip(), value.strip())
    return validate(config, str(path) if path else "--set")
