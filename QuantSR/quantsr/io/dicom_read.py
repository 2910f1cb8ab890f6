"""DICOM series of quantitative maps: discover the series in a folder, detect each map kind, and read a
series into a :class:`QuantMap` in physical units with geometry taken from the slice positions.

Classic MR (one file per slice) and Enhanced MR Image Storage (multi-frame, geometry and rescale in the Shared /
Per-Frame Functional Groups) are both read; an enhanced object's frames are split by frame type and content, so
one object may hold several maps. Kind detection asks for evidence of a *map* (``quantsr.kinddetect.classify``):
a weighted image is listed as "not a map" with the reason, and refused unless the user forces it."""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from ..errors import InputError, QuantSRError
from ..kinddetect import KindEvidence, classify, implausible_values, kind_from_values, kind_from_words, names_multi_map
from ..mapkinds import MapKind
from ..volume import QuantMap

log = logging.getLogger("quantsr.dicom")

#: Relative tolerance on slice-spacing uniformity before a series counts as having gaps.
SPACING_TOLERANCE = 0.05
#: Header attributes kept with the map so derived series stay in the same study.
STUDY_KEYS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "StudyDescription",
    "AccessionNumber",
    "FrameOfReferenceUID",
    "Manufacturer",
    "MagneticFieldStrength",
)


#: Enhanced MR Image Storage and its relatives: multi-frame objects with functional groups.
ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
#: Attributes a frame takes from its functional groups: (sequence, attributes).
_FRAME_GROUPS = (
    ("PlanePositionSequence", ("ImagePositionPatient",)),
    ("PlaneOrientationSequence", ("ImageOrientationPatient",)),
    ("PixelMeasuresSequence", ("PixelSpacing", "SliceThickness", "SpacingBetweenSlices")),
    ("PixelValueTransformationSequence", ("RescaleSlope", "RescaleIntercept", "RescaleType")),
    ("MRImageFrameTypeSequence", ("FrameType", "AcquisitionContrast")),
    ("FrameContentSequence", ("StackID", "InStackPositionNumber")),
)


@dataclass(frozen=True)
class FrameRef:
    """One slice on disk: a single-frame file, or frame ``frame`` (0-based) of a multi-frame object."""

    path: Path
    frame: int | None = None

    @property
    def label(self) -> Path:
        """The file, with the frame number for messages ("IM1.dcm[frame 3]")."""
        return self.path if self.frame is None else self.path.with_name(f"{self.path.name}[frame {self.frame + 1}]")


@dataclass
class SeriesInfo:
    """One series (or one map of a series or object bundling several maps) found in a folder."""

    uid: str
    number: int
    description: str
    modality: str
    image_type: tuple[str, ...]
    kind: MapKind
    files: list[Path] = field(default_factory=list)
    kind_source: str = ""  # how the kind was found: "ImageType", "SeriesDescription", "units", "values", ...
    multi_map: bool = False  # part of a series bundling several maps
    study_uid: str = ""
    frames: list[FrameRef] = field(default_factory=list)  # the slices; one per file for classic series
    explicit: bool = False  # the header says "map" (token, units, stored scale), not just a kind word
    not_a_map: str = ""  # why the header says this is no T1/T2/PD map (weighted image, field map, ...)
    problem: str = ""  # why the series cannot be read (e.g. a file without pixel data); "" when readable
    problem_path: Path | None = None
    enhanced: bool = False  # frames of an Enhanced (multi-frame) object

    def __post_init__(self) -> None:
        if not self.frames:
            self.frames = [FrameRef(f) for f in self.files]
        if not self.files:
            self.files = list(dict.fromkeys(f.path for f in self.frames))

    @property
    def is_map(self) -> bool:
        return self.kind is not MapKind.UNKNOWN and not self.not_a_map

    def label(self) -> str:
        return f"#{self.number} {self.description or '(no description)'}"

    def refusal(self, kind: MapKind | None = None) -> InputError:
        """The error for a series whose header says it is not a map; names the way to force it."""
        what = (kind or self.kind).value if (kind or self.kind) is not MapKind.UNKNOWN else "T1"
        return InputError(
            f"series {self.label()} looks like {self.not_a_map}, not a quantitative T1/T2/PD map; nothing was "
            f"written. If it really is a map, name its kind and force it: --map {what} --force",
            self.files[0] if len(self.files) == 1 else self.files[0].parent,
        )


@dataclass
class Discovery:
    """What a folder holds: the series found, and each file that could not be used with its reason."""

    series: list[SeriesInfo]
    problems: list[tuple[Path, str]] = field(default_factory=list)


@contextlib.contextmanager
def _reading(where: Path) -> Iterator[None]:
    """Whatever a malformed file makes pydicom or numpy raise becomes an InputError naming the file."""
    try:
        yield
    except QuantSRError:
        raise
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - damaged files fail in many ways; the user needs one message
        raise InputError(f"malformed DICOM ({type(exc).__name__}: {exc})", where) from None


def list_dicom_files(path: Path, problems: list[tuple[Path, str]] | None = None) -> tuple[list[Path], list[Path]]:
    """(DICOM files, other files) under a folder, or the single file given; with ``problems``, a file that
    cannot be opened is noted there instead of stopping the listing."""
    if path.is_file():
        return [path], []
    if not path.is_dir():
        raise InputError("no such file or folder", path)
    dicom: list[Path] = []
    other: list[Path] = []
    for candidate in sorted(p for p in path.rglob("*") if p.is_file()):
        if candidate.name.startswith("."):
            continue
        try:
            (dicom if _looks_like_dicom(candidate) else other).append(candidate)
        except InputError as exc:
            if problems is None:
                raise
            problems.append((candidate, _reason(exc)))
    return dicom, other


def _looks_like_dicom(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(132)
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror})", path) from None
    if len(head) == 132 and head[128:132] == b"DICM":
        return True
    if path.suffix.lower() in (".dcm", ".ima", "") and len(head) >= 8:
        try:  # files written without the preamble (raw data set)
            pydicom.dcmread(path, stop_before_pixels=True, force=False, specific_tags=["SOPClassUID"])
            return True
        except (InvalidDicomError, OSError, ValueError, TypeError, AttributeError, KeyError):
            return False
    return False


def _header(path: Path) -> pydicom.Dataset:
    try:
        return pydicom.dcmread(path, defer_size="4 KB")  # PixelData present but not loaded
    except (InvalidDicomError, OSError, ValueError, TypeError, AttributeError, KeyError, EOFError) as exc:
        raise InputError(f"not a readable DICOM file ({exc})", path) from None


def discover_series(path: str | Path) -> list[SeriesInfo]:
    """Every image series under ``path`` with its detected map kind (see :func:`scan`); unreadable files
    are logged as warnings, and only a folder with nothing usable is an error."""
    found = scan(path)
    for file, reason in found.problems:
        log.warning("%s: skipped: %s", file, reason)
    return found.series


def scan(path: str | Path) -> Discovery:
    """Every image series under ``path`` with its detected map kind; bundled multi-map series and
    multi-map enhanced objects are split into one entry per map. A file that cannot be read is reported
    (not fatal); a series with a file lacking pixel data is listed as broken. Non-DICOM files are skipped
    with a notice."""
    path = Path(path)
    problems: list[tuple[Path, str]] = []
    files, others = list_dicom_files(path, problems)
    if others:
        log.info("%s: skipped %d non-DICOM file(s), e.g. %s", path, len(others), others[0].name)
    if not files and not problems:
        raise InputError("contains no DICOM files", path)
    groups: dict[str, list[tuple[Path, pydicom.Dataset]]] = defaultdict(list)
    broken: dict[str, tuple[Path, str]] = {}
    first_headers: dict[str, pydicom.Dataset] = {}  # series seen so far only through files without pixels
    for file in files:
        try:
            with _reading(file):
                header = _header(file)
                uid = str(header.get("SeriesInstanceUID", "") or f"no-uid:{file.parent}")
                if "PixelData" not in header and "FloatPixelData" not in header:
                    if _is_image_storage(header):
                        broken.setdefault(uid, (file, "DICOM image without pixel data (PixelData missing)"))
                        groups[uid]  # noqa: B018 - the series exists, even if this is its only file
                        first_headers.setdefault(uid, header)
                    continue  # structured reports, presentation states, DICOMDIR
                groups[uid].append((file, header))
        except InputError as exc:
            problems.append((file, _reason(exc)))
    series: list[SeriesInfo] = []
    for uid in list(groups):
        members = groups[uid]
        if not members:  # every image of the series lacks pixel data
            try:
                with _reading(broken[uid][0]):  # its header may be damaged too (fuzz finding, test_fuzz.py)
                    series.append(_broken_series(uid, first_headers[uid], broken[uid]))
            except InputError as exc:
                problems.append((broken[uid][0], _reason(exc)))
            continue
        try:
            with _reading(members[0][0].parent):
                described = _describe_group(uid, members)
        except InputError as exc:
            problems.append((members[0][0], _reason(exc)))
            continue
        if uid in broken:
            for info in described:
                info.problem, info.problem_path = broken[uid][1], broken[uid][0]
        series.extend(described)
    if not series:
        if problems:
            file, reason = problems[0]
            more = f" (and {len(problems) - 1} more unreadable file(s))" if len(problems) > 1 else ""
            raise InputError(f"no readable DICOM image: {file.name}: {reason}{more}", path)
        raise InputError("contains DICOM files but no images", path)
    series.sort(key=lambda s: (s.number, s.kind.value))
    return Discovery(series, problems)


def _reason(exc: InputError) -> str:
    text = str(exc)
    return text.split(": ", 1)[1] if exc.path is not None and ": " in text else text


def _broken_series(uid: str, header: pydicom.Dataset, problem: tuple[Path, str]) -> SeriesInfo:
    return SeriesInfo(uid=uid, number=int(header.get("SeriesNumber", 0) or 0),
                      description=str(header.get("SeriesDescription", "") or ""),
                      modality=str(header.get("Modality", "") or ""),
                      image_type=_multi(header.get("ImageType")), kind=MapKind.UNKNOWN,
                      files=[problem[0]], study_uid=str(header.get("StudyInstanceUID", "") or ""),
                      problem=problem[1], problem_path=problem[0])


def _multi(value: object) -> tuple[str, ...]:
    """A multi-valued attribute as a tuple of strings (pydicom gives a lone value as a plain string)."""
    if value is None or value == "":
        return ()
    if isinstance(value, (str, bytes)):
        return (str(value),)
    return tuple(str(v) for v in value)  # type: ignore[attr-defined]


def _is_image_storage(header: pydicom.Dataset) -> bool:
    return "Rows" in header and "Columns" in header


def is_enhanced(header: pydicom.Dataset) -> bool:
    """Multi-frame with functional groups (Enhanced MR and its family), or an Enhanced MR SOP class."""
    return ("PerFrameFunctionalGroupsSequence" in header or "SharedFunctionalGroupsSequence" in header
            or str(header.get("SOPClassUID", "")) == ENHANCED_MR)


def frame_view(ds: pydicom.Dataset, frame: int) -> pydicom.Dataset:
    """Frame ``frame`` of an enhanced object as a flat dataset: its functional groups' attributes (per-frame
    over shared) on top of the object's Rows / Columns, as classic single-frame attributes."""
    view = pydicom.Dataset()
    for keyword in ("Rows", "Columns", "SamplesPerPixel", "NumberOfFrames"):
        if keyword in ds:
            setattr(view, keyword, ds[keyword].value)
    shared = _first_item(ds.get("SharedFunctionalGroupsSequence"))
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    own = per_frame[frame] if frame < len(per_frame) else None
    for sequence, keywords in _FRAME_GROUPS:
        item = _first_item(own.get(sequence) if own is not None else None) or _first_item(
            shared.get(sequence) if shared is not None else None)
        if item is None:
            continue
        for keyword in keywords:
            if keyword in item and item[keyword].value not in (None, ""):
                setattr(view, keyword, item[keyword].value)
    view.real_world_units = _units(own, shared, ds)  # a plain attribute, not a DICOM element
    return view


def _first_item(sequence: object) -> pydicom.Dataset | None:
    try:
        return sequence[0] if sequence else None  # type: ignore[index]
    except (IndexError, TypeError):
        return None


def _units(*sources: pydicom.Dataset | None) -> list[str]:
    """Units of the Real World Value Mapping (UCUM code values) and RescaleType, wherever they are."""
    units: list[str] = []
    for source in sources:
        if source is None:
            continue
        for mapping in source.get("RealWorldValueMappingSequence") or []:
            for code in mapping.get("MeasurementUnitsCodeSequence") or []:
                if code.get("CodeValue"):
                    units.append(str(code.CodeValue))
        if units:
            break
    return units


def _classic_units(header: pydicom.Dataset) -> list[str]:
    units = _units(header)
    rescale_type = str(header.get("RescaleType", "") or "").upper()
    if rescale_type in ("MS", "PCT", "HZ"):
        units.append(rescale_type)
    return units


def _stored_scale(slope: object) -> bool:
    try:
        return abs(float(slope) - 0.1) < 1e-6  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _base(uid: str, first: pydicom.Dataset) -> dict:
    return dict(
        uid=uid,
        number=int(first.get("SeriesNumber", 0) or 0),
        description=str(first.get("SeriesDescription", "") or ""),
        modality=str(first.get("Modality", "") or ""),
        study_uid=str(first.get("StudyInstanceUID", "") or ""),
    )


def _info(base: dict, evidence: KindEvidence, image_type: tuple[str, ...], frames: list[FrameRef],
          **extra: object) -> SeriesInfo:
    return SeriesInfo(**base, image_type=image_type, kind=evidence.kind if evidence.is_candidate else MapKind.UNKNOWN,
                      frames=frames, kind_source=evidence.source, explicit=evidence.explicit,
                      not_a_map=evidence.not_a_map, **extra)  # type: ignore[arg-type]


def _describe_group(uid: str, members: list[tuple[Path, pydicom.Dataset]]) -> list[SeriesInfo]:
    enhanced = [(f, h) for f, h in members if is_enhanced(h)]
    classic = [(f, h) for f, h in members if not is_enhanced(h)]
    described = _describe_enhanced(uid, enhanced) if enhanced else []
    if classic:
        described.extend(_describe_classic(uid, classic))
    return described


def _describe_enhanced(uid: str, members: list[tuple[Path, pydicom.Dataset]]) -> list[SeriesInfo]:
    """Frames of enhanced objects grouped by frame type and content (units, rescale type), one entry each."""
    first = members[0][1]
    base = _base(uid, first)
    groups: dict[tuple, list[FrameRef]] = defaultdict(list)
    evidence_of: dict[tuple, KindEvidence] = {}
    for file, header in members:
        frames = int(header.get("NumberOfFrames", 1) or 1)
        for frame in range(frames):
            view = frame_view(header, frame)
            frame_type = _multi(view.get("FrameType") or header.get("ImageType"))
            units = tuple(view.real_world_units) or tuple(_classic_units(view))
            key = (frame_type, units, str(view.get("AcquisitionContrast", "") or header.get("AcquisitionContrast", "")))
            if key not in evidence_of:
                evidence_of[key] = classify(frame_type, base["description"], enhanced=True, units=units,
                                            stored_scale=_stored_scale(view.get("RescaleSlope")),
                                            acquisition_contrast=key[2])
            groups[key].append(FrameRef(file, frame))
    several = len(groups) > 1
    return [_info(base, evidence_of[key], key[0], frames, multi_map=several, enhanced=True)
            for key, frames in groups.items()]


def _describe_classic(uid: str, members: list[tuple[Path, pydicom.Dataset]]) -> list[SeriesInfo]:
    first = members[0][1]
    base = _base(uid, first)
    description = base["description"]
    image_type = _multi(first.get("ImageType"))
    if names_multi_map(image_type, description) or _instance_kinds_differ(members):
        by_kind: dict[MapKind, list[Path]] = defaultdict(list)
        for file, header in members:
            by_kind[_instance_kind(file, header)].append(file)
        return [
            SeriesInfo(**base, image_type=image_type, kind=kind, files=files, kind_source="per instance",
                       multi_map=True, explicit=True)
            for kind, files in by_kind.items()
        ]
    evidence = classify(image_type, description, units=_classic_units(first),
                        stored_scale=_stored_scale(first.get("RescaleSlope")))
    return [_info(base, evidence, image_type, [FrameRef(f) for f, _ in members])]


def _instance_kinds_differ(members: list[tuple[Path, pydicom.Dataset]]) -> bool:
    kinds = {kind_from_words(_multi(h.get("ImageType"))) for _, h in members}
    kinds.discard(None)
    return len(kinds) > 1


def _instance_kind(file: Path, header: pydicom.Dataset) -> MapKind:
    """One instance of a bundled series: its ImageType's last map word, else its values."""
    for token in reversed([v.upper() for v in _multi(header.get("ImageType"))]):
        if (kind := kind_from_words(token)) is not None:
            return kind
    full = pydicom.dcmread(file)
    return kind_from_values(_physical_pixels(full, file)) or MapKind.UNKNOWN


def _physical_pixels(ds: pydicom.Dataset, file: Path, pixels: np.ndarray | None = None) -> np.ndarray:
    """Pixel values with the modality rescale applied (stored × slope + intercept); ``pixels`` is the frame
    already decoded (enhanced objects), ``ds`` then the frame's view."""
    if pixels is None:
        pixels = _decode(ds, file)
        if pixels.ndim != 2:
            if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
                raise InputError("colour (RGB) image: a quantitative map has one sample per pixel", file)
            raise InputError(
                f"multi-frame image with {int(ds.get('NumberOfFrames', 0) or 0)} frames but no functional groups "
                "(per-frame geometry); QuantSR reads single-frame series and Enhanced MR objects",
                file,
            )
    slope = ds.get("RescaleSlope", 1.0)
    intercept = ds.get("RescaleIntercept", 0.0)
    slope = 1.0 if slope in (None, "") else float(slope)
    intercept = 0.0 if intercept in (None, "") else float(intercept)
    if slope == 0.0:
        raise InputError("RescaleSlope is 0: the stored values cannot be converted to physical units", file)
    return pixels.astype(np.float64) * slope + intercept


def _decode(ds: pydicom.Dataset, file: Path) -> np.ndarray:
    try:
        return ds.pixel_array
    except (ValueError, RuntimeError, NotImplementedError, AttributeError, TypeError) as exc:
        raise InputError(f"cannot decode pixel data ({exc}); {_codec_hint(ds)}", file) from None


def _codec_hint(ds: pydicom.Dataset) -> str:
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is None or not syntax.is_compressed:
        return "the pixel data is damaged or incomplete"
    return (
        f"compressed transfer syntax {syntax.name}: install a decoder plugin "
        "(pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg, or python-gdcm)"
    )


def read_series(info: SeriesInfo, kind: MapKind | None = None, force: bool = False) -> QuantMap:
    """Read one discovered series: slices sorted along the normal, spacing from positions.

    A series whose header says it is no map, or whose values do not fit the kind, is refused unless
    ``force`` (the user's ``--map`` plus ``--force``).

    Args:
        info: a series from :func:`scan` / :func:`discover_series` (classic files or enhanced frames).
        kind: the kind to read it as; None: the detected one.
        force: read it even when it does not look like a map.

    Returns:
        float32 (slices, rows, columns) in physical units (stored values × RescaleSlope + intercept, or the Real
        World Value Mapping), origin / spacing / direction (LPS, mm) from the slice positions and orientation;
        the metadata keeps the study, series and SOP instance UIDs the derived series will reference.
    """
    if info.problem:
        raise InputError(info.problem, info.problem_path or info.files[0])
    if info.not_a_map and not force:
        raise info.refusal(kind)
    chosen = kind or info.kind
    qmap = _read_frames(info.frames, chosen, info.description, info.kind_source or ("--map" if kind else ""))
    if qmap.kind is not MapKind.UNKNOWN and not force:
        where = info.files[0] if len(info.files) == 1 else info.files[0].parent
        if (reason := implausible_values(qmap.array, qmap.kind)):
            raise InputError(
                f"series {info.label()}: {reason}; this does not look like a {qmap.kind.value} map (a weighted "
                f"image?), nothing was written. If it really is one, force it: --map {qmap.kind.value} --force",
                where,
            )
    qmap.metadata["dicom_layout"] = "enhanced" if info.enhanced else "classic"
    return qmap


def read_slices(files: Sequence[Path], kind: MapKind = MapKind.UNKNOWN, description: str = "",
                kind_source: str = "") -> QuantMap:
    """The classic (one file per slice) series made of ``files``, as :func:`read_series` reads it, without
    discovery; ``kind`` and ``description`` as the caller knows them, ``kind_source`` noted in the metadata."""
    if not files:
        raise InputError("the series has no files")
    return _read_frames([FrameRef(Path(f)) for f in files], kind, description, kind_source)


def _read_frames(frames: Sequence[FrameRef], kind: MapKind, description: str, kind_source: str) -> QuantMap:
    if not frames:
        raise InputError("the series has no files")
    datasets: dict[Path, pydicom.Dataset] = {}
    for ref in frames:
        if ref.path not in datasets:
            try:
                datasets[ref.path] = pydicom.dcmread(ref.path)
            except (InvalidDicomError, OSError, ValueError, TypeError, AttributeError, KeyError, EOFError) as exc:
                raise InputError(f"not a readable DICOM file ({exc})", ref.path) from None
    with _reading(frames[0].path):
        return _stack(frames, datasets, kind, description, kind_source)


def _stack(frames: Sequence[FrameRef], datasets: dict[Path, pydicom.Dataset], kind: MapKind, description: str,
           kind_source: str) -> QuantMap:
    decoded: dict[Path, np.ndarray] = {}

    def view_of(ref: FrameRef) -> pydicom.Dataset:
        ds = datasets[ref.path]
        return ds if ref.frame is None else frame_view(ds, ref.frame)

    first_ref = frames[0]
    first = view_of(first_ref)
    series_dir = first_ref.path.parent
    row_dir, col_dir = _orientation(first, first_ref.label)
    normal = np.cross(row_dir, col_dir)
    rows, cols = int(first.Rows), int(first.Columns)
    spacing_rc = _pixel_spacing(first, first_ref.label)
    slices = []
    for ref in frames:
        label = ref.label
        with _reading(label):
            ds = view_of(ref)
            r, c = _orientation(ds, label)
            rows_cols = (int(ds.Rows), int(ds.Columns))
            spacing_here = _pixel_spacing(ds, label)
            position = _position(ds, label)
        if not (np.allclose(r, row_dir, atol=1e-3) and np.allclose(c, col_dir, atol=1e-3)):
            raise InputError("ImageOrientationPatient differs from the rest of the series (mixed orientations)",
                             label)
        if rows_cols != (rows, cols):
            raise InputError(f"matrix {ds.Rows}×{ds.Columns} differs from the series' {rows}×{cols}", label)
        if not np.allclose(spacing_here, spacing_rc, rtol=1e-4):
            raise InputError("PixelSpacing differs from the rest of the series", label)
        slices.append((float(position @ normal), position, label, ds, ref))
    slices.sort(key=lambda s: s[0])
    distances = np.array([s[0] for s in slices])
    slice_spacing = _slice_spacing(distances, slices, series_dir, first)
    arrays = []
    for _, _, label, ds, ref in slices:
        with _reading(label):
            if ref.frame is None:
                arrays.append(_physical_pixels(ds, label))
                continue
            if ref.path not in decoded:
                decoded[ref.path] = _decode(datasets[ref.path], ref.path)
                if decoded[ref.path].ndim == 2:
                    decoded[ref.path] = decoded[ref.path][np.newaxis]
                if decoded[ref.path].ndim != 3:
                    raise InputError("colour (RGB) image: a quantitative map has one sample per pixel", ref.path)
            arrays.append(_physical_pixels(ds, label, decoded[ref.path][ref.frame]))
    if any(a.shape != arrays[0].shape for a in arrays):
        raise InputError("slices decode to different matrix sizes", series_dir)
    array = np.stack(arrays).astype(np.float32)
    if kind is not MapKind.UNKNOWN and not any("RescaleSlope" in ds for _, _, _, ds, _ in slices):
        _check_unscaled(array, kind, series_dir)
    direction = np.column_stack([row_dir, col_dir, normal])
    ordered_refs = [s[4] for s in slices]
    metadata = _metadata(datasets[first_ref.path], [datasets[r.path] for r in ordered_refs], description)
    metadata["kind_source"] = kind_source
    if first_ref.frame is not None:  # an enhanced object: every slice is one of its frames
        metadata["source_frames"] = [r.frame + 1 for r in ordered_refs if r.frame is not None]  # 1-based
        metadata["slice_thickness"] = float(first.get("SliceThickness", 0) or 0)
    if kind is MapKind.UNKNOWN and (guess := kind_from_values(array)) is not None:
        kind, metadata["kind_source"] = guess, "values"
    return QuantMap(
        array=array,
        origin=tuple(slices[0][1]),
        spacing=(spacing_rc[1], spacing_rc[0], slice_spacing),
        direction=direction,
        kind=kind,
        metadata=metadata,
    )


def _check_unscaled(array: np.ndarray, kind: MapKind, series_dir: Path) -> None:
    """A map without RescaleSlope whose values sit ~10× above the map's range was stored at the
    synthetic-MRI scale (×10) without its slope: refuse rather than super-resolve wrong values."""
    tissue = array[array > 0]
    if tissue.size and float(np.median(tissue)) > kind.norm_physical:
        raise InputError(
            f"{kind.value} values have a median of {np.median(tissue):.0f} {kind.unit}, above the map's range "
            f"(≤ {kind.norm_physical:.0f}), and the series has no RescaleSlope: synthetic-MRI maps are stored "
            "×10 with RescaleSlope 0.1 — restore the slope (or divide by 10) and try again",
            series_dir,
        )


def _orientation(ds: pydicom.Dataset, file: Path) -> tuple[np.ndarray, np.ndarray]:
    iop = ds.get("ImageOrientationPatient")
    if iop is None or len(iop) != 6:
        raise InputError("ImageOrientationPatient is missing; the slice geometry is unknown", file)
    row_dir = np.array([float(v) for v in iop[:3]])
    col_dir = np.array([float(v) for v in iop[3:]])
    if not (np.isclose(np.linalg.norm(row_dir), 1, atol=1e-3) and np.isclose(np.linalg.norm(col_dir), 1, atol=1e-3)
            and abs(row_dir @ col_dir) < 1e-3):
        raise InputError(f"ImageOrientationPatient {list(iop)} is not two orthonormal directions", file)
    return row_dir, col_dir


def _position(ds: pydicom.Dataset, file: Path) -> np.ndarray:
    ipp = ds.get("ImagePositionPatient")
    if ipp is None or len(ipp) != 3:
        raise InputError("ImagePositionPatient is missing; the slice position is unknown", file)
    return np.array([float(v) for v in ipp])


def _pixel_spacing(ds: pydicom.Dataset, file: Path) -> tuple[float, float]:
    spacing = ds.get("PixelSpacing")
    if spacing is None or len(spacing) != 2 or min(float(v) for v in spacing) <= 0:
        raise InputError("PixelSpacing is missing or not positive", file)
    return float(spacing[0]), float(spacing[1])  # (between rows, between columns)


def _slice_spacing(distances: np.ndarray, slices: list, series_dir: Path, first: pydicom.Dataset) -> float:
    if len(distances) == 1:
        return float(first.get("SpacingBetweenSlices") or first.get("SliceThickness") or 1.0)
    steps = np.diff(distances)
    duplicate = int(np.argmin(steps))
    if steps[duplicate] < 1e-3:
        a, b = slices[duplicate][2], slices[duplicate + 1][2]
        raise InputError(
            f"two slices share the position {distances[duplicate]:.2f} mm along the normal "
            f"({a.name} and {b.name}): duplicate or mixed series",
            series_dir,
        )
    spacing = float(steps.min())  # a gap only lengthens steps, so the shortest step is the series' spacing
    irregular = np.abs(steps - spacing) > SPACING_TOLERANCE * spacing
    if irregular.any():
        where = int(np.argmax(irregular))
        missing = steps[where] / spacing - 1
        raise InputError(
            f"slice positions are not evenly spaced: a step of {steps[where]:.2f} mm after "
            f"{slices[where][2].name} where the series steps {spacing:.2f} mm"
            + (f" (about {missing:.0f} missing slice(s))" if missing >= 0.5 else ""),
            series_dir,
        )
    return spacing


def _metadata(first: pydicom.Dataset, ordered: list[pydicom.Dataset], description: str) -> dict:
    meta: dict = {key: str(first.get(key, "") or "") for key in STUDY_KEYS}
    meta.update(
        series_description=description,
        series_number=int(first.get("SeriesNumber", 0) or 0),
        series_uid=str(first.get("SeriesInstanceUID", "") or ""),
        sop_class_uid=str(first.get("SOPClassUID", "") or ""),
        sop_instance_uids=[str(ds.get("SOPInstanceUID", "")) for ds in ordered],
        slice_thickness=float(first.get("SliceThickness", 0) or 0),
        acquisition_matrix=[int(v) for v in (first.get("AcquisitionMatrix") or [])],
    )
    return meta
