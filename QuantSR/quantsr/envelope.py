"""A model's training envelope (the input geometry and value ranges it was trained on) and the warning for
an input outside it. The model still runs: the warning is printed and written into the output's metadata,
because a super-resolution network trained at 0.86 mm pixels has never seen a 2 mm one."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .mapkinds import MapKind
from .volume import QuantMap

#: Relative tolerance on spacing, thickness and matrix before an input counts as outside the envelope.
TOLERANCE = 0.10
#: NRRD key and metadata key the warning travels under.
WARNING_KEY = "quantsr_envelope_warning"

#: The bundled models' envelope (simulated training data): fast input 256×256 pixels of 0.859375 mm over a
#: 220 mm field of view, 5 mm slices; map ranges per kind. Used for model files that carry none.
DEFAULT_VALUE_RANGES: dict[MapKind, tuple[float, float]] = {
    MapKind.T1: (0.0, 4500.0),
    MapKind.T2: (0.0, 2200.0),
    MapKind.PD: (0.0, 180.0),
}


@dataclass
class Envelope:
    """Input geometry and values a model was trained on (ranges are inclusive, before tolerance)."""

    pixel_spacing_mm: tuple[float, float] = (0.859375, 0.859375)
    matrix: tuple[int, int] = (256, 256)  # (max rows, max columns) seen: smaller crops are fine, larger not
    slice_thickness_mm: tuple[float, float] = (5.0, 5.0)
    value_range: tuple[float, float] = (0.0, 4500.0)
    source: str = "default"  # "default" (bundled models' simulated data) or "measured" at export
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def default(cls, kind: MapKind) -> "Envelope":
        return cls(value_range=DEFAULT_VALUE_RANGES.get(kind, (0.0, float("inf"))))

    def to_json(self) -> dict[str, Any]:
        return {"pixel_spacing_mm": list(self.pixel_spacing_mm), "matrix": list(self.matrix),
                "slice_thickness_mm": list(self.slice_thickness_mm), "value_range": list(self.value_range),
                "source": self.source, **self.extra}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Envelope":
        """Parse the model file's ``envelope`` entry; raises ValueError on a malformed one."""
        known = {"pixel_spacing_mm", "matrix", "slice_thickness_mm", "value_range", "source"}
        spacing = tuple(float(v) for v in data["pixel_spacing_mm"])
        matrix = tuple(int(v) for v in data["matrix"])
        thickness = tuple(float(v) for v in data["slice_thickness_mm"])
        values = tuple(float(v) for v in data["value_range"])
        if not (len(spacing) == len(matrix) == len(thickness) == len(values) == 2):
            raise ValueError("envelope entries are [low, high] pairs")
        if min(spacing) <= 0 or min(matrix) <= 0 or min(thickness) <= 0 or values[0] > values[1]:
            raise ValueError("envelope ranges must be positive and ordered")
        return cls(spacing, matrix, thickness, values, str(data.get("source", "measured")),
                   {k: v for k, v in data.items() if k not in known})


def _outside(value: float, low: float, high: float) -> bool:
    return value < low * (1 - TOLERANCE) or value > high * (1 + TOLERANCE)


def envelope_warnings(qmap: QuantMap, envelope: Envelope) -> list[str]:
    """Each way ``qmap`` lies outside ``envelope`` (empty when inside)."""
    found: list[str] = []
    low, high = envelope.pixel_spacing_mm
    spacing = (qmap.spacing[1], qmap.spacing[0])  # (rows, columns) like PixelSpacing
    if any(_outside(s, low, high) for s in spacing):
        trained = f"{low:.3g} mm" if low == high else f"{low:.3g}–{high:.3g} mm"
        found.append(f"in-plane pixel spacing {spacing[0]:.3g}×{spacing[1]:.3g} mm (trained on {trained})")
    rows, cols = qmap.shape[1:]
    if rows > envelope.matrix[0] * (1 + TOLERANCE) or cols > envelope.matrix[1] * (1 + TOLERANCE) or (
            min(rows, cols) < 0.5 * min(envelope.matrix) and any(_outside(s, low, high) for s in spacing)):
        found.append(f"matrix {rows}×{cols} (trained on {envelope.matrix[0]}×{envelope.matrix[1]})")
    thickness = float(qmap.metadata.get("slice_thickness") or qmap.spacing[2])
    t_low, t_high = envelope.slice_thickness_mm
    if _outside(thickness, t_low, t_high):
        trained = f"{t_low:.3g} mm" if t_low == t_high else f"{t_low:.3g}–{t_high:.3g} mm"
        found.append(f"slice thickness {thickness:.3g} mm (trained on {trained})")
    values = qmap.array[np.isfinite(qmap.array) & (qmap.array > 0)]
    if values.size:
        v_low, v_high = envelope.value_range
        p99 = float(np.percentile(values, 99.0))
        if p99 > v_high * (1 + TOLERANCE) or float(np.percentile(values, 1.0)) < v_low - TOLERANCE * (v_high - v_low):
            unit = qmap.kind.unit
            found.append(f"values up to {p99:.0f} {unit} at the 99th percentile (trained on "
                         f"{v_low:.0f}–{v_high:.0f} {unit})")
    return found


def warning_text(kind: MapKind, problems: list[str], model_name: str) -> str:
    """One sentence for the terminal, the output's metadata and the Slicer panel ("" when inside)."""
    if not problems:
        return ""
    return (f"{kind.value} input outside the training envelope of {model_name}: {'; '.join(problems)}. "
            "The result is an extrapolation; check it against the input.")


def input_warning(qmap: QuantMap, model_path: str | Path | None = None) -> str:
    """The envelope warning for running ``qmap`` through ``model_path`` (default: the bundled model of its
    kind); "" when the input is inside, or when there is no model to compare with (the run reports that)."""
    from .errors import ModelError
    from .modelfile import find_bundled_model, read_model_info

    if qmap.kind is MapKind.UNKNOWN:
        return ""
    path = Path(model_path) if model_path is not None else find_bundled_model(qmap.kind)
    if path is None:
        return ""
    try:
        info = read_model_info(path)
    except ModelError:
        return ""  # the run itself reports the broken model
    return warning_text(qmap.kind, envelope_warnings(qmap, info.training_envelope), info.name)
