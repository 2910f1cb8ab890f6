"""Training configuration: the paper's values as defaults, read from TOML, every field overridable
(``--set section.key=value`` on the command line)."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 (the project's floor) has no tomllib; tomli is the same parser (a dependency there)
    import tomli as tomllib

from quantsr.errors import InputError
from quantsr.mapkinds import QUANT_KINDS, MapKind
from quantsr.model import GeneratorConfig


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
    # The study's other fast maps given to the network as extra input channels ("T2,PD" for a T1 model): they show
    # where CSF and tissue meet when the map itself cannot (issue 16). model.in_channels follows (1 + guides).
    guide_maps: str = ""


@dataclass
class ModelConfig:
    """[model]: the generator's architecture — ``quantsr.model.GeneratorConfig``, its one home (fields, defaults,
    checks): channels, residual_blocks, scale, residual ("bicubic": learn the correction to bicubic) — and the
    discriminator's width. The keys stay flat: ``model.channels = 64`` sets ``generator.channels``."""

    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator_channels: int = 64

    def to_dict(self) -> dict[str, Any]:
        return {**self.generator.to_dict(), "discriminator_channels": self.discriminator_channels}


@dataclass
class LossConfig:
    """[loss]: the weight of each loss term (``losses.py``; 0 turns a term off) and the terms' settings."""

    l1: float = 1.0
    l2: float = 0.0  # pixel MSE: its optimum is the conditional mean, L1's the median (biased for skewed noise)
    local_mean: float = 0.0  # L1 between local means (avg-pooled output vs routine): ROI means kept unbiased
    local_mean_size: int = 8  # pooling window in HR pixels
    fast_consistency: float = 0.0  # L1 between coarse local means of the output and of bicubic(fast input)
    fast_consistency_size: int = 16  # its pooling window in HR pixels (16 = 6.9 mm on the bundled grid)
    gradient: float = 0.0  # L1 between image gradients of output and routine: penalises blurred edges
    relative: float = 0.0  # L1 between log(value): a relative error, so low-valued tissue counts (T2: 3-5 % of range)
    relative_floor: float = 0.01  # added to the value's fraction of the normalisation constant before the log
    edge: float = 0.0  # L1 over the pixels beside routine's high-contrast edges (cortex next to CSF, lesion borders)
    edge_ratio: float = 2.0  # an edge: local max over this times the local min (T1 / T2 CSF : cortex ≈ 2.7 / 22)
    edge_window: int = 5  # its neighbourhood in HR pixels, odd (5 = ± 0.86 mm on the bundled grid)
    edge_floor: float = 0.01  # local minima below this fraction of the constant are background: no edge
    edge_low_side: bool = False  # only the edge's low-valued side (T1 / T2: the tissue beside CSF)
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
    max_minutes: float = 0.0  # > 0: checkpoint and stop once training has run this long (a lent GPU's time limit)


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
    """The whole training configuration, one section per TOML table: [data], [model], [loss], [optim], [run]."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        """Sections of plain values, as in the TOML file (``model`` flat); ``from_dict`` reads it back."""
        return {**dataclasses.asdict(self), "model": self.model.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> "TrainConfig":
        """The defaults with every ``[section] key = value`` of ``data`` applied; all problems in one error."""
        config = cls()
        problems = config.apply(data)
        if problems:
            raise InputError("; ".join(problems), source)
        return config

    def apply(self, data: dict[str, Any]) -> list[str]:
        """Apply ``[section] key = value`` settings; the problems (unknown or invalid settings), not raised."""
        problems = []
        for section, values in data.items():
            if not hasattr(self, section) or not isinstance(values, dict):
                problems.append(f"unknown section [{section}]")
                continue
            problems += [p for key, value in values.items() if (p := self.try_set(f"{section}.{key}", value))]
        return problems

    def set(self, dotted: str, value: Any, source: str = "--set") -> None:
        """Set ``section.key`` to ``value`` (converted to the setting's type); InputError if it cannot be."""
        problem = self.try_set(dotted, value)
        if problem:
            raise InputError(problem, source)

    def try_set(self, dotted: str, value: Any) -> str | None:
        """:meth:`set`, returning the problem (naming the setting) instead of raising it."""
        section_name, _, key = dotted.partition(".")
        generator = self.model.generator
        in_generator = section_name == "model" and key in GeneratorConfig.__dataclass_fields__
        section = generator if in_generator else getattr(self, section_name, None)
        if section is None or not dataclasses.is_dataclass(section) or key not in section.__dataclass_fields__:
            return f"unknown setting {dotted!r}"
        try:
            coerced = _coerce(value, getattr(section, key))
        except ValueError as exc:
            return f"{dotted} = {value!r} {exc}"
        if not in_generator:
            setattr(section, key, coerced)
            return None
        try:  # GeneratorConfig is frozen and checks its own values ("residual must be one of ...")
            self.model.generator = dataclasses.replace(generator, **{key: coerced})
        except ValueError as exc:
            return f"model.{exc}"
        return None


def parse_guide_maps(text: str) -> tuple[MapKind, ...]:
    """``data.guide_maps`` ("T2,PD") as map kinds; ValueError naming what is wrong."""
    kinds = tuple(MapKind.parse(name.strip()) for name in text.split(",") if name.strip())
    if any(kind not in QUANT_KINDS for kind in kinds):
        raise ValueError(f"data.guide_maps must name T1, T2 or PD maps, got {text!r}")
    if len(set(kinds)) != len(kinds):
        raise ValueError(f"data.guide_maps names a map twice: {text!r}")
    return kinds


def validate(config: TrainConfig, source: str = "config", problems: list[str] | None = None) -> TrainConfig:
    """Settings whose range the types do not enforce, checked before any data is read; ``problems`` found
    earlier (settings that could not be applied) are reported in the same error. Completes
    ``model.in_channels`` from ``data.guide_maps`` (1 + the number of guides) when it was left at 1."""
    problems = list(problems or [])
    generator = config.model.generator
    try:
        guides = parse_guide_maps(config.data.guide_maps)
        if any(kind.value == config.data.map.upper() for kind in guides):
            problems.append(f"data.guide_maps must not name the trained map itself ({config.data.map})")
    except ValueError as exc:
        problems.append(str(exc))
        guides = ()
    if generator.in_channels == 1 and guides:
        config.model.generator = generator = dataclasses.replace(generator, in_channels=1 + len(guides))
    if generator.in_channels != 1 + len(guides):
        problems.append(f"model.in_channels must be 1 + the number of data.guide_maps ({1 + len(guides)}), "
                        f"got {generator.in_channels}")
    if generator.out_channels != 1:
        problems.append("model.out_channels must be 1: the network outputs one map")
    if not 0 <= config.data.rare_value_patches <= 1:
        problems.append(f"data.rare_value_patches must lie in [0, 1], got {config.data.rare_value_patches}")
    if config.data.rare_value_power < 0:
        problems.append(f"data.rare_value_power must be ≥ 0, got {config.data.rare_value_power}")
    for name in ("local_mean_size", "fast_consistency_size"):
        if getattr(config.loss, name) < 1:
            problems.append(f"loss.{name} must be ≥ 1, got {getattr(config.loss, name)}")
    problems += [f"loss.{name} must be ≥ 0, got {getattr(config.loss, name)}"
                 for name in ("l1", "l2", "local_mean", "fast_consistency", "gradient", "relative", "edge",
                              "adversarial", "vgg")
                 if getattr(config.loss, name) < 0]
    if config.loss.relative_floor <= 0:
        problems.append("loss.relative_floor must be > 0 (the log of a zero background), "
                        f"got {config.loss.relative_floor}")
    if config.loss.edge_ratio <= 1:
        problems.append(f"loss.edge_ratio must be > 1 (a contrast), got {config.loss.edge_ratio}")
    if config.loss.edge_window < 3 or config.loss.edge_window % 2 == 0:
        problems.append(f"loss.edge_window must be odd and ≥ 3, got {config.loss.edge_window}")
    if config.optim.max_minutes < 0:
        problems.append(f"optim.max_minutes must be ≥ 0 (0: no time limit), got {config.optim.max_minutes}")
    if not 0 <= config.loss.edge_floor < 1:
        problems.append(f"loss.edge_floor must lie in [0, 1), got {config.loss.edge_floor}")
    if problems:
        raise InputError("; ".join(problems), source)
    return config


def _coerce(value: Any, current: Any) -> Any:
    """``value`` as the type of the setting's ``current`` value; ValueError("is not a <type>") if it cannot be."""
    try:
        if isinstance(current, bool):
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
        if isinstance(current, tuple):
            items = value if isinstance(value, (list, tuple)) else str(value).strip("()[]").split(",")
            return tuple(float(v) for v in items)
        return type(current)(value)
    except (TypeError, ValueError):
        raise ValueError(f"is not a {type(current).__name__}") from None


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """The config file (TOML) with ``key=value`` overrides applied; no file → the paper's defaults."""
    config = TrainConfig()
    problems: list[str] = []
    if path:
        path = Path(path)
        try:
            problems += config.apply(tomllib.loads(path.read_text()))
        except FileNotFoundError:
            raise InputError("no such config file", path) from None
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"not valid TOML ({exc})", path) from None
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"--set expects section.key=value, got {item!r}")
        problems += [p for p in [config.try_set(key.strip(), value.strip())] if p]
    return validate(config, str(path) if path else "--set", problems)
