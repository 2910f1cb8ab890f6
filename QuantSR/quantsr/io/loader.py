"""One entry point for every input a user can give: a DICOM folder or file, or an NRRD/NIfTI/MHA map."""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import InputError
from ..mapkinds import QUANT_KINDS, MapKind
from ..volume import QuantMap
from .dicom_read import SeriesInfo, discover_series, read_series
from .images import read_image
from .outputs import image_suffix

log = logging.getLogger("quantsr.io")


def load_maps(path: str | Path, kind: MapKind | None = None, series: str | None = None) -> list[QuantMap]:
    """The quantitative maps at ``path``, in T1, T2, PD order.

    ``kind`` overrides detection for a single map; for a folder holding several maps it selects that
    kind. ``series`` picks one DICOM series by number or SeriesInstanceUID (its kind then comes from
    ``kind`` or detection).
    """
    path = Path(path)
    if not path.exists():
        raise InputError("no such file or folder", path)
    if path.is_file() and image_suffix(path):
        qmap = read_image(path, kind)
        _require_known(qmap, path)
        return [qmap]
    found = discover_series(path)
    studies = {s.study_uid for s in found if s.study_uid}
    if len(studies) > 1 and series is None:
        raise InputError(f"holds series of {len(studies)} different studies (StudyInstanceUID); give one study's "
                         "folder, or pick a series with --series", path)
    if series is not None:
        chosen = [s for s in found if series in (str(s.number), s.uid)]
        if not chosen:
            raise InputError(f"has no series {series!r}; it has: {_labels(found)}", path)
        maps = [read_series(s, kind) for s in chosen]
    else:
        maps = _read_maps(found, kind, path)
    for qmap in maps:
        _require_known(qmap, path)
    return sorted(maps, key=lambda m: QUANT_KINDS.index(m.kind))


def _read_maps(found: list[SeriesInfo], kind: MapKind | None, path: Path) -> list[QuantMap]:
    known = [s for s in found if s.is_map]
    if not known:
        if len(found) == 1:  # a lone series without telling words: values (or the user) decide
            return [read_series(found[0], kind)]
        raise InputError(
            f"none of its {len(found)} series is recognisably a T1, T2 or PD map ({_labels(found)}); "
            "pick one with --series and name its kind with --map",
            path,
        )
    if kind is not None:
        known = [s for s in known if s.kind is kind] or ([known[0]] if len(known) == 1 else [])
        if not known:
            raise InputError(f"has no {kind.value} map series ({_labels(found)})", path)
    by_kind: dict[MapKind, SeriesInfo] = {}
    for info in known:
        if info.kind in by_kind:
            raise InputError(
                f"holds two {info.kind.value} map series ({by_kind[info.kind].label()} and {info.label()}); "
                "pick one with --series",
                path,
            )
        by_kind[info.kind] = info
    skipped = [s for s in found if not s.is_map]
    if skipped:
        log.info("%s: ignoring %d series that are not T1/T2/PD maps: %s", path, len(skipped), _labels(skipped))
    return [read_series(info, kind if len(by_kind) == 1 else None) for info in by_kind.values()]


def _require_known(qmap: QuantMap, path: Path) -> None:
    if qmap.kind is MapKind.UNKNOWN:
        raise InputError("cannot tell whether this is a T1, T2 or PD map; say which with --map", path)


def _labels(series: list[SeriesInfo]) -> str:
    return "; ".join(f"{s.label()} [{s.kind.value if s.is_map else 'not a map'}]" for s in series)


def describe_series(path: str | Path) -> str:
    """A table of the series under ``path``: number, description, images, detected kind and why."""
    rows = [("Series", "Description", "Images", "Kind", "Detected from")]
    for s in discover_series(path):
        rows.append((str(s.number), s.description or "-", str(len(s.files)),
                     s.kind.value if s.is_map else "not a map", s.kind_source or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)
