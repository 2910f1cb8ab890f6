"""Map-kind detection from the words vendors use (ImageType tokens, series descriptions, file names)
and, failing those, from the value range of the map itself."""

from __future__ import annotations

import re
from collections.abc import Iterable

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
