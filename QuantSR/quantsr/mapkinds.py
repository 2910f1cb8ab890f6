"""The quantitative map kinds and their physical conventions (units, normalisation, display)."""

from __future__ import annotations

from enum import Enum

#: Synthetic-MRI DICOM stores maps at ten times the physical value (RescaleSlope 0.1).
DICOM_STORED_SCALE = 10.0


class MapKind(str, Enum):
    T1 = "T1"
    T2 = "T2"
    PD = "PD"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, text: str | "MapKind") -> "MapKind":
        if isinstance(text, MapKind):
            return text
        key = str(text).strip().upper()
        if key in ("", "AUTO", "UNKNOWN"):
            return cls.UNKNOWN
        try:
            return cls(key)
        except ValueError:
            raise ValueError(f"unknown map kind {text!r}: expected T1, T2 or PD") from None

    @property
    def unit(self) -> str:
        return {"T1": "ms", "T2": "ms", "PD": "%"}.get(self.value, "")

    @property
    def norm_physical(self) -> float:
        """The paper's normalisation constant in physical units (45000 / 22000 / 1800 stored ÷ 10)."""
        try:
            return PAPER_NORMALISATION_STORED[self] / DICOM_STORED_SCALE
        except KeyError:
            raise ValueError("a map of unknown kind has no normalisation constant") from None

    @property
    def display_range(self) -> tuple[float, float]:
        """A clinical window for brain maps, in physical units."""
        return DISPLAY_RANGES.get(self, (0.0, 1.0))


#: Normalisation constants of Liu et al. 2026 on the stored DICOM scale.
PAPER_NORMALISATION_STORED: dict[MapKind, float] = {
    MapKind.T1: 45000.0,
    MapKind.T2: 22000.0,
    MapKind.PD: 1800.0,
}

DISPLAY_RANGES: dict[MapKind, tuple[float, float]] = {
    MapKind.T1: (0.0, 4000.0),
    MapKind.T2: (0.0, 300.0),
    MapKind.PD: (0.0, 110.0),
}

QUANT_KINDS: tuple[MapKind, ...] = (MapKind.T1, MapKind.T2, MapKind.PD)
