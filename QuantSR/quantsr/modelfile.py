"""QuantSR model files: safetensors weights with the JSON metadata inside the same file.

Loading never unpickles. The metadata (``__metadata__["quantsr"]``) carries the map kind, the
normalisation constant, the scale, the architecture, provenance and a SHA-256 of the weights, which is
checked on every load.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from . import __version__
from .envelope import Envelope
from .errors import ModelError
from .io.atomic import atomic_path
from .mapkinds import DICOM_STORED_SCALE, QUANT_KINDS, MapKind
from .model import Generator, GeneratorConfig
from .srjob import FORWARD_MODELS

FORMAT_NAME = "quantsr-model"
# 2: the architecture may carry residual="bicubic" (version-1 readers would ignore it); 3: guide maps (extra input
# channels) — older readers must refuse such a model rather than feed it one channel
FORMAT_VERSION = 3
METADATA_KEY = "quantsr"
MODEL_SUFFIX = ".safetensors"
#: Where bundled models live, relative to the repository / extension root.
BUNDLED_DIR_PARTS = ("Resources", "Models")


@dataclass
class ModelInfo:
    """Everything the engine needs to know about a model besides its weights."""

    map_kind: MapKind
    norm_physical: float
    config: GeneratorConfig = field(default_factory=GeneratorConfig)
    trained_on: str = ""
    description: str = ""
    training: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    quantsr_version: str = __version__
    weights_sha256: str = ""
    path: Path | None = None
    envelope: Envelope | None = None  # the training envelope; None: the file carries none (see training_envelope)
    # The study's other fast maps the model reads as input channels 1, 2, … (quantsr.guides); () for a single-map model
    guide_kinds: tuple[MapKind, ...] = ()
    # The fast-scan consistency σ (mm) chosen for this model on validation (quantsr.consistency); None: the default
    fast_consistency_mm: float | None = None
    # ... and its forward model (srjob.FORWARD_MODELS); None: the default ("identity")
    fast_consistency_forward: str | None = None

    @property
    def training_envelope(self) -> Envelope:
        """The envelope recorded in the file, else the bundled models' default (simulated training data)."""
        return self.envelope or Envelope.default(self.map_kind)

    @property
    def scale(self) -> int:
        return self.config.scale

    @property
    def name(self) -> str:
        return self.path.name if self.path else f"untrained {self.map_kind.value} generator"

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            # older QuantSR still reads the models it can run
            "format_version": 3 if self.guide_kinds else 1 if self.config.residual == "none" else 2,
            "map_kind": self.map_kind.value,
            "unit": self.map_kind.unit,
            "norm_physical": self.norm_physical,
            "norm_stored": self.norm_physical * DICOM_STORED_SCALE,
            "stored_scale": DICOM_STORED_SCALE,
            "scale": self.config.scale,
            "architecture": {"name": "srgan-generator", **self.config.to_dict()},
            "trained_on": self.trained_on,
            "description": self.description,
            "training": self.training,
            "created": self.created,
            "quantsr_version": self.quantsr_version,
            "weights_sha256": self.weights_sha256,
            **({"envelope": self.envelope.to_json()} if self.envelope else {}),  # older readers ignore it
            **({"guide_maps": [kind.value for kind in self.guide_kinds]} if self.guide_kinds else {}),
            **({"fast_consistency_mm": self.fast_consistency_mm} if self.fast_consistency_mm is not None else {}),
            **({"fast_consistency_forward": self.fast_consistency_forward}
               if self.fast_consistency_forward is not None else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], path: Path | None = None) -> "ModelInfo":
        where = path or "model metadata"
        if data.get("format") != FORMAT_NAME:
            raise ModelError(f"not a QuantSR model (format is {data.get('format')!r})", where)
        if int(data.get("format_version", 0)) > FORMAT_VERSION:
            raise ModelError(
                f"model format version {data.get('format_version')} is newer than this QuantSR "
                f"understands ({FORMAT_VERSION}); update QuantSR",
                where,
            )
        try:
            kind = MapKind.parse(data["map_kind"])
            norm = float(data["norm_physical"])
            arch = dict(data["architecture"])
            config = GeneratorConfig.from_dict(arch)
            guides = tuple(MapKind.parse(name) for name in data.get("guide_maps") or ())
            consistency = data.get("fast_consistency_mm")
            consistency = None if consistency is None else float(consistency)
            forward = data.get("fast_consistency_forward")
            forward = None if forward is None else str(forward)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model metadata is incomplete or invalid ({exc})", where) from None
        if kind not in QUANT_KINDS:
            raise ModelError(f"model metadata names an unsupported map kind {kind.value}", where)
        if consistency is not None and not 0 <= consistency <= MAX_CONSISTENCY_MM:
            raise ModelError(f"fast_consistency_mm {consistency:g} is outside 0–{MAX_CONSISTENCY_MM:g} mm", where)
        if forward is not None and forward not in FORWARD_MODELS:
            raise ModelError(f"unknown fast_consistency_forward {forward!r} (one of {', '.join(FORWARD_MODELS)})",
                             where)
        if any(g not in QUANT_KINDS or g is kind for g in guides) or len(set(guides)) != len(guides):
            raise ModelError(f"invalid guide maps {[g.value for g in guides]} for a {kind.value} model", where)
        if not (1 <= config.channels <= MAX_CHANNELS and config.residual_blocks <= MAX_BLOCKS
                and config.scale <= MAX_SCALE and config.in_channels == 1 + len(guides)
                and config.out_channels == 1):
            raise ModelError(f"implausible architecture in the metadata ({config}, guide maps "
                             f"{[g.value for g in guides]}); refusing to build it", where)
        if not 0.5 * kind.norm_physical <= norm <= 2 * kind.norm_physical:
            raise ModelError(
                f"normalisation {norm:g} {kind.unit} does not fit {kind.value} maps (expected about "
                f"{kind.norm_physical:g} {kind.unit}, i.e. {kind.norm_physical * DICOM_STORED_SCALE:g} on the "
                "stored DICOM scale): was the constant written on the stored scale?",
                where,
            )
        stored, scale = data.get("norm_stored"), float(data.get("stored_scale", DICOM_STORED_SCALE))
        if stored is not None and abs(float(stored) - norm * scale) > 1e-3:
            raise ModelError("norm_stored and norm_physical disagree", where)
        if not norm > 0:
            raise ModelError(f"normalisation constant must be positive, got {norm}", where)
        if int(data.get("scale", config.scale)) != config.scale:
            raise ModelError("metadata scale and architecture scale disagree", where)
        envelope = None
        if data.get("envelope") is not None:
            try:
                envelope = Envelope.from_json(dict(data["envelope"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise ModelError(f"malformed training envelope in the metadata ({exc})", where) from None
        return cls(
            map_kind=kind,
            norm_physical=norm,
            config=config,
            trained_on=str(data.get("trained_on", "")),
            description=str(data.get("description", "")),
            training=dict(data.get("training") or {}),
            created=str(data.get("created", "")),
            quantsr_version=str(data.get("quantsr_version", "")),
            weights_sha256=str(data.get("weights_sha256", "")),
            path=path,
            envelope=envelope,
            guide_kinds=guides,
            fast_consistency_mm=consistency,
            fast_consistency_forward=forward,
        )


#: Limits on what a model file may ask us to build (a tampered header must not allocate gigabytes).
MAX_CHANNELS, MAX_BLOCKS, MAX_SCALE = 1024, 64, 8
MAX_CONSISTENCY_MM = 10.0


def weights_sha256(state: dict[str, torch.Tensor]) -> str:
    """A digest of names, dtypes, shapes and bytes of every tensor, independent of file layout."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def save_model(generator: Generator, info: ModelInfo, path: str | Path) -> Path:
    """Write weights + metadata atomically; fills ``info.weights_sha256`` and ``info.created``."""
    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    info.config = generator.config
    info.weights_sha256 = weights_sha256(state)
    info.created = info.created or datetime.now(timezone.utc).isoformat(timespec="seconds")
    metadata = {METADATA_KEY: json.dumps(info.to_json(), sort_keys=True)}
    with atomic_path(path, suffix=MODEL_SUFFIX) as tmp:
        save_file(state, str(tmp), metadata=metadata)
    info.path = path
    return path


def _check_not_pickle(path: Path) -> None:
    with open(path, "rb") as handle:
        head = handle.read(16)
    if len(head) >= 10 and head[8:9] == b"{":
        return  # safetensors: 8-byte header length, then the JSON header (whatever the length's bytes are)
    if head[:2] == b"PK" or head[:1] == b"\x80":
        raise ModelError(
            "this is a PyTorch pickle/zip checkpoint; QuantSR never unpickles model files. Convert it "
            "once with `quantsr convert-model FILE -o MODEL.safetensors` (weights only)",
            path,
        )
    raise ModelError("not a safetensors file", path)


def read_model_info(path: str | Path) -> ModelInfo:
    """Read and validate only the metadata (cheap: no weights loaded)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError("model file not found", path)
    _check_not_pickle(path)
    try:
        with open(path, "rb") as handle:
            header_len = int.from_bytes(handle.read(8), "little")
            if header_len <= 0 or header_len > 100_000_000:
                raise ModelError("corrupt safetensors header", path)
            header = json.loads(handle.read(header_len))
        raw = header.get("__metadata__", {}).get(METADATA_KEY)
        if raw is None:
            raise ModelError("safetensors file without QuantSR metadata", path)
        return ModelInfo.from_json(json.loads(raw), path)
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as exc:
        raise ModelError(f"corrupt model metadata ({exc})", path) from None


def load_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[Generator, ModelInfo]:
    """Load a generator in eval mode; verifies the weights' SHA-256 against the metadata."""
    path = Path(path)
    info = read_model_info(path)
    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"cannot read weights ({exc})", path) from None
    if info.weights_sha256 and weights_sha256(state) != info.weights_sha256:
        raise ModelError("weights do not match their SHA-256 (file corrupted or altered)", path)
    generator = Generator(info.config)
    try:
        generator.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelError(f"weights do not fit the declared architecture ({first})", path) from None
    return generator.to(device).eval(), info


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bundled_model_dirs() -> list[Path]:
    """Candidate folders for bundled models: $QUANTSR_MODEL_DIR, the installed package's data, the source
    tree, the Slicer install."""
    dirs: list[Path] = []
    if os.environ.get("QUANTSR_MODEL_DIR"):
        dirs.append(Path(os.environ["QUANTSR_MODEL_DIR"]))
    package = Path(__file__).resolve().parent
    dirs.append(package / "bundled_models")  # an installed wheel: package data (pyproject.toml)
    dirs.append(package.parents[1].joinpath(*BUNDLED_DIR_PARTS))  # repo: QuantSR/quantsr -> root
    dirs.append(package.parent.joinpath(*BUNDLED_DIR_PARTS))  # Slicer: <module>/Resources/Models
    return dirs


def bundled_model_name(kind: MapKind) -> str:
    return f"quantsr_{kind.value.lower()}{MODEL_SUFFIX}"


def find_bundled_model(kind: MapKind) -> Path | None:
    for folder in bundled_model_dirs():
        candidate = folder / bundled_model_name(kind)
        if candidate.is_file():
            return candidate
    return None


def convert_checkpoint(source: str | Path, target: str | Path, kind: MapKind, **info: Any) -> Path:
    """Turn a PyTorch state-dict checkpoint into a QuantSR model, loading tensors only."""
    source = Path(source)
    try:
        payload = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for hostile or broken pickles
        raise ModelError(f"cannot load as weights-only checkpoint ({type(exc).__name__}: {exc})", source) from None
    state = payload.get("generator", payload.get("state_dict", payload)) if isinstance(payload, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError("checkpoint holds no generator state dict", source)
    config = GeneratorConfig.from_dict(info.pop("config", {}) or {})
    generator = Generator(config)
    try:
        generator.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"state dict does not fit the generator ({str(exc).splitlines()[0]})", source) from None
    model_info = ModelInfo(map_kind=kind, norm_physical=kind.norm_physical, config=config, **info)
    return save_model(generator, model_info, target)
