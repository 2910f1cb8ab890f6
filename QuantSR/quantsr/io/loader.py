"""One entry point for every input a user can give: a DICOM folder or file, or an NRRD/NIfTI/MHA map."""

from __future__ import annotations

import logging
from collections.abc import Collection
from pathlib import Path

from ..errors import InputError
from ..mapkinds import QUANT_KINDS, MapKind
from ..volume import QuantMap
from .dicom_read import Discovery, SeriesInfo, read_series, scan
from .outputs import image_suffix

log = logging.getLogger("quantsr.io")


def load_maps(path: str | Path, kind: MapKind | None = None, series: str | None = None,
              force: bool = False, only: Collection[MapKind] | None = None) -> list[QuantMap]:
    """The quantitative maps at ``path``, in T1, T2, PD order.

    ``kind`` overrides detection for a single map; for a folder holding several maps it selects that
    kind. ``series`` picks one DICOM series by number or SeriesInstanceUID (its kind then comes from
    ``kind`` or detection). A series whose header or values say it is no map is refused unless ``force``
    (with ``kind``). A broken series (a file without pixel data) is skipped with a warning when other maps
    are there, and refused when it is the one asked for.

    Args:
        path: a DICOM folder (searched recursively) or file, or an NRRD / NIfTI / MHA map.
        kind: T1, T2 or PD: the kind of a single map, or the one map to take from a folder; None: detect.
        series: a DICOM SeriesNumber or SeriesInstanceUID.
        force: read a series that does not look like a map (needs ``kind``).
        only: from a folder of recognised map series, read just these kinds (perhaps none): the study's other maps
            wanted as guides, without reading the one already in hand a second time.

    Returns:
        One :class:`~quantsr.volume.QuantMap` per map, float32 (slices, rows, columns) in physical units (T1 and
        T2 in ms, PD in %), LPS geometry from the files.

    Raises:
        InputError: no map, an unreadable or ambiguous input (several studies, several series of one kind), or
            a series refused as no map; the message names the file.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("no such file or folder", path)
    if path.is_file() and image_suffix(path):
        from .images import read_image  # SimpleITK: only for image files, not for DICOM

        qmap = read_image(path, kind)
        _require_known(qmap, path)
        return [qmap]
    discovery = scan(path)
    _warn_problems(discovery)
    found = discovery.series
    readable = [s for s in found if not s.problem]
    studies = {s.study_uid for s in readable if s.study_uid}
    if len(studies) > 1 and series is None:
        raise InputError(f"holds series of {len(studies)} different studies (StudyInstanceUID); give one study's "
                         "folder, or pick a series with --series", path)
    if series is not None:
        chosen = [s for s in found if series in (str(s.number), s.uid)]
        if not chosen:
            raise InputError(f"has no series {series!r}; it has: {_labels(found)}", path)
        if kind is not None and len(chosen) > 1:
            chosen = [s for s in chosen if s.kind is kind] or chosen
        maps = [read_series(s, kind, force) for s in chosen]
    else:
        maps = _read_maps(found, kind, path, force, only)
    for qmap in maps:
        _require_known(qmap, path)
    return sorted(maps, key=lambda m: QUANT_KINDS.index(m.kind))


def _warn_problems(discovery: Discovery) -> None:
    for file, reason in discovery.problems:
        log.warning("%s: skipped: %s", file, reason)


def _read_maps(found: list[SeriesInfo], kind: MapKind | None, path: Path, force: bool,
               only: Collection[MapKind] | None = None) -> list[QuantMap]:
    readable = [s for s in found if not s.problem]
    broken = [s for s in found if s.problem]
    known = [s for s in readable if s.is_map]
    if not known:
        if len(readable) == 1:  # a lone series: its header, its values, or the user decide
            return [read_series(readable[0], kind, force)]
        if not readable and broken:
            return [read_series(broken[0], kind, force)]  # raises the broken series' problem
        raise InputError(
            f"none of its {len(found)} series is recognisably a T1, T2 or PD map ({_labels(found)}); "
            "pick one with --series and name its kind with --map",
            path,
        )
    if kind is not None:
        known = [s for s in known if s.kind is kind] or ([known[0]] if len(known) == 1 else [])
        if not known:
            if any(s.kind is kind for s in broken):
                return [read_series(next(s for s in broken if s.kind is kind), kind, force)]
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
    skipped = [s for s in readable if not s.is_map]
    if skipped:
        log.info("%s: ignoring %d series that are not T1/T2/PD maps: %s", path, len(skipped), _labels(skipped))
    for info in broken:
        log.warning("%s: skipping series %s: %s", info.problem_path or path, info.label(), info.problem)
    wanted = [info for info in by_kind.values() if only is None or info.kind in only]
    return [read_series(info, kind if len(by_kind) == 1 else None, force) for info in wanted]


def _require_known(qmap: QuantMap, path: Path) -> None:
    if qmap.kind is MapKind.UNKNOWN:
        raise InputError("cannot tell whether this is a T1, T2 or PD map; say which with --map", path)


def _kind_cell(s: SeriesInfo) -> str:
    if s.problem:
        return "unreadable"
    return s.kind.value if s.is_map else "not a map"


def _labels(series: list[SeriesInfo]) -> str:
    return "; ".join(f"{s.label()} [{_kind_cell(s)}{': ' + s.not_a_map if s.not_a_map else ''}]" for s in series)


def _source_cell(s: SeriesInfo) -> str:
    if s.problem:
        return s.problem
    if s.not_a_map:
        return f"looks like {s.not_a_map}"
    if not s.kind_source:
        return "-"
    return s.kind_source + ("" if s.explicit or s.kind_source == "per instance" else " (values will be checked)")


def describe_series(path: str | Path) -> str:
    """A table of the series under ``path`` (number, description, images, detected kind and why), then
    each file that could not be read with its reason."""
    discovery = scan(path)
    rows = [("Series", "Description", "Images", "Kind", "Detected from")]
    for s in discovery.series:
        layout = f"{len(s.frames)} frames" if s.enhanced else str(len(s.files))
        rows.append((str(s.number), s.description or "-", layout, _kind_cell(s), _source_cell(s)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    if discovery.problems:
        lines.append("")
        lines.append(f"Unreadable files ({len(discovery.problems)}):")
        lines.extend(f"  {file}: {reason}" for file, reason in discovery.problems)
    return "\n".join(lines)
