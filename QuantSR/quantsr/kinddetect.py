"""Map-kind detection from the words vendors use (ImageType tokens, series descriptions, file names)
and, failing those, from the value range of the map itself."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .mapkinds import MapKind

#: Tokens that name one quantitative map (SyMRI ``QMAP\T1``, MAGiC ``T1MAP``, file names ``t1map``).
_KIND_TOKENS: dict[str, MapKind] = {
    "T1": MapKind.T1,
    "T1MAP": MapKind.T1,
    "T1MAPS": MapKind.T1,
    "T2": MapKind.T2,
    "T2MAP": MapKind.T2,
    "T2MAPS": MapKind.T2,
    "PD": MapKind.PD,
    "PDMAP": MapKind.PD,
    "PDMAPS": MapKind.PD,
}

#: Words that make a series a contrast-weighted image (synthetic or acquired), never a map.
_WEIGHTED_TOKENS = frozenset(
    {"FLAIR", "T1FLAIR", "T2FLAIR", "STIR", "PSIR", "DIR", "T1W", "T2W", "PDW", "WEIGHTED", "SWI", "DWI", "ADC"}
)

#: Tokens of a series that bundles all maps (GE MAGiC "QMaps (T1T2PD)", ``MULTI_QMAP``).
_MULTI_TOKENS = frozenset({"MULTI_QMAP", "QMAPS", "T1T2PD"})


def tokens(text: str | Iterable[str]) -> list[str]:
    """Upper-case words of a description, an ImageType value list or a file name."""
    if not isinstance(text, str):
        text = "\\".join(str(t) for t in text)
    return [t for t in re.split(r"[^A-Za-z0-9_]+|_", text.upper()) if t]


def kind_from_words(*texts: str | Iterable[str]) -> MapKind | None:
    """The one map kind the words name; ``None`` when they name none, several, or a weighted image."""
    words: list[str] = []
    for text in texts:
        words.extend(tokens(text))
    if _WEIGHTED_TOKENS.intersection(words):
        return None
    found = {_KIND_TOKENS[w] for w in words if w in _KIND_TOKENS}
    return found.pop() if len(found) == 1 else None


def names_multi_map(*texts: str | Iterable[str]) -> bool:
    """Whether the words describe a series bundling T1, T2 and PD (split it per instance)."""
    raw = " ".join(t if isinstance(t, str) else "\\".join(map(str, t)) for t in texts).upper()
    words = set(tokens(raw))
    return bool(_MULTI_TOKENS.intersection(words)) or "MULTI_QMAP" in raw


def kind_from_values(array: np.ndarray) -> MapKind | None:
    """Guess the kind of a brain map in physical units from its value distribution.

    T1 tissue lies near 800–1300 ms, T2 tissue near 70–100 ms with CSF above 1000 ms, PD within 0–110 %.
    Returns ``None`` when the values fit none of these (e.g. a map stored without its rescale slope).
    """
    values = np.asarray(array, dtype=np.float64)
    values = values[np.isfinite(values) & (values > 0)]
    if values.size < 16:
        return None
    median = float(np.median(values))
    high = float(np.percentile(values, 99.5))
    if high <= 130.0 and median >= 20.0:
        return MapKind.PD
    if 300.0 <= median <= 2500.0 and high <= 6000.0:
        return MapKind.T1
    if 30.0 <= median < 300.0 and high <= 3000.0:
        return MapKind.T2
    return None


# -- evidence that a series is a quantitative map (issue 18) -------------------------------------------------

#: ImageType / description tokens that say "a computed map" (SyMRI ``QMAP``, MAGiC ``MULTI_QMAP`` / ``T1MAP``,
#: the Enhanced MR Derived Pixel Contrast terms ``T1_MAP`` / ``T2_MAP`` split at the underscore, "T1 map").
_MAP_TOKENS = frozenset({"QMAP", "QMAPS", "MAP", "MAPS", "MAPPING", "T1MAP", "T2MAP", "PDMAP", "T1MAPS", "T2MAPS",
                         "PDMAPS", "RELAXOMETRY", "QT1", "QT2", "QPD", "QUANT", "QUANTITATIVE", "SYMRI"})
#: Kind words, with the "q" prefix of quantitative protocols (qT1, qT2, qPD).
_MAP_KIND_TOKENS: dict[str, MapKind] = {**_KIND_TOKENS, "QT1": MapKind.T1, "QT2": MapKind.T2, "QPD": MapKind.PD}
#: Contrast-weighted acquisitions and reconstructions named by protocol / sequence words.
_SEQUENCE_WORDS = re.compile(r"MP-?RAGE|MPRAGE|SPGR|BRAVO|\bTFE\b|\bTSE\b|\bFSE\b|\bGRE\b|\bFFE\b|\bSPACE\b|"
                             r"\bCUBE\b|\bVIBE\b|\bMPR\b|\bMIP\b|\bMOSAIC\b|DIFFUSION|\bDTI\b|\bEPI\b|BOLD|"
                             r"\bSWAN\b|\bPHASE\b", re.IGNORECASE)
#: ImageType tokens of magnitude / phase / complex images (Siemens ``M``/``P``, Philips ``M``/``R``/``I``).
_COMPONENT_TOKENS = {"M": "a magnitude image", "P": "a phase image", "R": "a real-part image",
                     "I": "an imaginary-part image", "MAGNITUDE": "a magnitude image", "PHASE": "a phase image"}
#: Maps of quantities QuantSR has no model for.
_OTHER_MAPS = {"FIELD": "a B0 field map (Hz)", "B0": "a B0 field map (Hz)", "B1": "a B1 map",
               "B1MAP": "a B1 map", "ADC": "an ADC map", "R1": "an R1 rate map (1/s)", "R2": "an R2 rate map (1/s)",
               "T2STAR": "a T2* map", "SNR": "an SNR map", "FA": "a fractional anisotropy map"}
#: Enhanced MR Image Flavor (ImageType value 3) → the weighting it names.
_FLAVOURS = {"T1": "T1-weighted", "T2": "T2-weighted", "PROTON_DENSITY": "proton-density-weighted",
             "T2_STAR": "T2*-weighted", "FLAIR": "FLAIR", "STIR": "STIR"}
#: Real World Value Mapping / RescaleType units (UCUM code values or our writer's RescaleType) → kinds they allow.
_UNIT_KINDS: dict[str, tuple[MapKind, ...]] = {
    "MS": (MapKind.T1, MapKind.T2), "%": (MapKind.PD,), "PCT": (MapKind.PD,), "PERCENT": (MapKind.PD,),
}
_OTHER_UNITS = {"HZ": "a B0 field map (Hz)", "S-1": "a relaxation-rate map (1/s)", "/S": "a relaxation-rate map (1/s)",
                "1/S": "a relaxation-rate map (1/s)", "MM2/S": "an ADC map (mm²/s)", "UM2/S": "an ADC map (µm²/s)"}
#: Physical ranges a brain map's head voxels must fit: (floor that separates head from air, median range).
PLAUSIBLE_HEAD: dict[MapKind, tuple[float, tuple[float, float]]] = {
    MapKind.T1: (100.0, (300.0, 3500.0)),
    MapKind.T2: (10.0, (30.0, 400.0)),
    MapKind.PD: (5.0, (20.0, 110.0)),
}


@dataclass(frozen=True)
class KindEvidence:
    """What the header says a series is: a map kind, whether the header says *map* (not just a kind word),
    and, when the header describes a weighted or other non-T1/T2/PD image, why."""

    kind: MapKind = MapKind.UNKNOWN
    source: str = ""
    explicit: bool = False
    not_a_map: str = ""

    @property
    def is_candidate(self) -> bool:
        return self.kind is not MapKind.UNKNOWN and not self.not_a_map


def classify(image_type: Iterable[str] = (), description: str = "", *, enhanced: bool = False,
             units: Iterable[str] = (), stored_scale: bool = False,
             acquisition_contrast: str = "") -> KindEvidence:
    """Decide from the header alone; a bare T1/T2/PD word only proposes a kind (values must confirm it).

    ``enhanced``: ImageType value 3 is the Enhanced MR image *flavour* (the weighting), value 4 the derived
    pixel contrast (``T1_MAP`` …). ``units``: Real World Value Mapping / RescaleType units. ``stored_scale``:
    stored ×10 with RescaleSlope 0.1, the synthetic-MRI convention."""
    if isinstance(image_type, str):  # a single-valued ImageType reads as a string
        image_type = image_type.split("\\")
    values = [str(v).strip().upper() for v in image_type]
    type_words = tokens(values)
    desc_words = tokens(description)
    raw = " ".join(values) + " " + description.upper()
    unit_set = {str(u).strip().upper() for u in units if str(u).strip()}
    # quantities QuantSR has no model for, and named weightings
    for unit in unit_set:
        if unit in _OTHER_UNITS:
            return KindEvidence(not_a_map=f"{_OTHER_UNITS[unit]} (units {unit.lower()})")
    if "FIELD_MAP" in values or re.search(r"FIELD[ _-]?MAP|\bB0\b", raw):
        return KindEvidence(not_a_map="a B0 field map (Hz)")
    for word in (*type_words, *desc_words):
        if word in _OTHER_MAPS and word not in ("R1", "R2", "FA", "ADC"):
            return KindEvidence(not_a_map=_OTHER_MAPS[word])
    weighted = sorted(_WEIGHTED_TOKENS.intersection(type_words + desc_words))
    if weighted:
        return KindEvidence(not_a_map=f"a contrast-weighted image ({', '.join(weighted)})")
    if (match := _SEQUENCE_WORDS.search(raw)) is not None:
        return KindEvidence(not_a_map=f"an acquired or reformatted image ({match.group(0).strip()})")
    map_words = _MAP_TOKENS.intersection(type_words + desc_words) or {v for v in values if v.endswith("_MAP")}
    kinds_in_type = {_MAP_KIND_TOKENS[w] for w in type_words if w in _MAP_KIND_TOKENS}
    kinds_in_desc = {_MAP_KIND_TOKENS[w] for w in desc_words if w in _MAP_KIND_TOKENS}
    if "PROTON" in type_words + desc_words and "DENSITY" in type_words + desc_words:
        (kinds_in_type if "PROTON" in type_words else kinds_in_desc).add(MapKind.PD)
    unit_kinds = {k for u in unit_set for k in _UNIT_KINDS.get(u, ())}
    if enhanced and len(values) >= 3 and values[2] in _FLAVOURS and not map_words and not unit_kinds:
        return KindEvidence(not_a_map=f"a {_FLAVOURS[values[2]]} image (Enhanced MR image flavour {values[2]}, "
                                      f"no map in ImageType value 4 '{values[3] if len(values) > 3 else ''}')")
    if acquisition_contrast.upper() in _FLAVOURS and not map_words and not unit_kinds:
        return KindEvidence(not_a_map=f"a {_FLAVOURS[acquisition_contrast.upper()]} image "
                                      f"(AcquisitionContrast {acquisition_contrast})")
    components = [w for w in values[2:] if w in _COMPONENT_TOKENS]
    if components and not map_words and not unit_kinds:
        return KindEvidence(not_a_map=f"{_COMPONENT_TOKENS[components[0]]} (ImageType {chr(92).join(values)})")
    kind, source = MapKind.UNKNOWN, ""
    for found, where in ((kinds_in_type, "ImageType"), (kinds_in_desc, "SeriesDescription")):
        if unit_kinds:
            found = found & unit_kinds if found & unit_kinds else found
        if len(found) == 1:
            kind, source = next(iter(found)), where
            break
    if kind is MapKind.UNKNOWN and len(unit_kinds) == 1:
        kind, source = next(iter(unit_kinds)), "units"
    explicit = bool(map_words or (unit_kinds and kind in unit_kinds) or (stored_scale and kind is not MapKind.UNKNOWN))
    return KindEvidence(kind=kind, source=source, explicit=explicit)


def head_values(array: np.ndarray, kind: MapKind) -> np.ndarray:
    """The voxels above the kind's air floor: the head of a brain map."""
    floor = PLAUSIBLE_HEAD[kind][0]
    values = np.asarray(array, dtype=np.float64)
    return values[np.isfinite(values) & (values > floor)]


def implausible_values(array: np.ndarray, kind: MapKind) -> str:
    """Why the values cannot be a brain ``kind`` map ("" when they can): the head's median must lie in the
    map's tissue range (a T1 map's in the hundreds to thousands of ms)."""
    if kind not in PLAUSIBLE_HEAD:
        return ""
    floor, (low, high) = PLAUSIBLE_HEAD[kind]
    head = head_values(array, kind)
    values = np.asarray(array)
    if head.size < max(16, 0.02 * values.size):
        return f"almost no voxel lies above {floor:g} {kind.unit} (no head in a {kind.value} map's range)"
    median = float(np.median(head))
    if not low <= median <= high:
        return (f"the head's median is {median:.0f} {kind.unit}, where a brain {kind.value} map's lies within "
                f"{low:.0f}–{high:.0f} {kind.unit}")
    return ""
