"""DICOM series of quantitative maps: discover the series in a folder, detect each map kind, and read a
series into a :class:`QuantMap` in physical units with geometry taken from the slice positions."""

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
from ..kinddetect import kind_from_values, kind_from_words, names_multi_map
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


@dataclass
class SeriesInfo:
    """One series (or one map of a bundled multi-map series) found in a folder."""

    uid: str
    number: int
    description: str
    modality: str
    image_type: tuple[str, ...]
    kind: MapKind
    files: list[Path] = field(default_factory=list)
    kind_source: str = ""  # how the kind was found: "ImageType", "SeriesDescription", "values", ...
    multi_map: bool = False  # part of a series bundling several maps
    study_uid: str = ""

    @property
    def is_map(self) -> bool:
        return self.kind is not MapKind.UNKNOWN

    def label(self) -> str:
        return f"#{self.number} {self.description or '(no description)'}"


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


def list_dicom_files(path: Path) -> tuple[list[Path], list[Path]]:
    """(DICOM files, other files) under a folder, or the single file given."""
    if path.is_file():
        return [path], []
    if not path.is_dir():
        raise InputError("no such file or folder", path)
    dicom, other = [], []
    for candidate in sorted(p for p in path.rglob("*") if p.is_file()):
        if candidate.name.startswith("."):
            continue
        (dicom if _looks_like_dicom(candidate) else other).append(candidate)
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
    """Every image series under ``path`` with its detected map kind; bundled multi-map series are split
    into one entry per map. Non-DICOM files are skipped with a notice."""
    path = Path(path)
    files, others = list_dicom_files(path)
    if others:
        log.info("%s: skipped %d non-DICOM file(s), e.g. %s", path, len(others), others[0].name)
    if not files:
        raise InputError("contains no DICOM files", path)
    groups: dict[str, list[tuple[Path, pydicom.Dataset]]] = defaultdict(list)
    for file in files:
        with _reading(file):
            header = _header(file)
            if "PixelData" not in header and "FloatPixelData" not in header:
                if _is_image_storage(header):
                    raise InputError("DICOM image without pixel data (PixelData missing)", file)
                continue  # structured reports, presentation states, DICOMDIR
            groups[str(header.get("SeriesInstanceUID", "") or f"no-uid:{file.parent}")].append((file, header))
    if not groups:
        raise InputError("contains DICOM files but no images", path)
    series: list[SeriesInfo] = []
    for uid, members in groups.items():
        with _reading(members[0][0].parent):
            series.extend(_describe_group(uid, members))
    series.sort(key=lambda s: (s.number, s.kind.value))
    return series


def _is_image_storage(header: pydicom.Dataset) -> bool:
    return "Rows" in header and "Columns" in header


def _describe_group(uid: str, members: list[tuple[Path, pydicom.Dataset]]) -> list[SeriesInfo]:
    first = members[0][1]
    description = str(first.get("SeriesDescription", "") or "")
    image_type = tuple(str(v) for v in (first.get("ImageType") or []))
    base = dict(
        uid=uid,
        number=int(first.get("SeriesNumber", 0) or 0),
        description=description,
        modality=str(first.get("Modality", "") or ""),
        study_uid=str(first.get("StudyInstanceUID", "") or ""),
    )
    if names_multi_map(image_type, description) or _instance_kinds_differ(members):
        by_kind: dict[MapKind, list[Path]] = defaultdict(list)
        for file, header in members:
            by_kind[_instance_kind(file, header)].append(file)
        return [
            SeriesInfo(**base, image_type=image_type, kind=kind, files=files, kind_source="per instance",
                       multi_map=True)
            for kind, files in by_kind.items()
        ]
    kind, source = MapKind.UNKNOWN, ""
    if (found := kind_from_words(image_type)) is not None:
        kind, source = found, "ImageType"
    elif (found := kind_from_words(description)) is not None:
        kind, source = found, "SeriesDescription"
    return [SeriesInfo(**base, image_type=image_type, kind=kind, files=[f for f, _ in members], kind_source=source)]


def _instance_kinds_differ(members: list[tuple[Path, pydicom.Dataset]]) -> bool:
    kinds = {kind_from_words(h.get("ImageType") or []) for _, h in members}
    kinds.discard(None)
    return len(kinds) > 1


def _instance_kind(file: Path, header: pydicom.Dataset) -> MapKind:
    """One instance of a bundled series: its ImageType's last map word, else its values."""
    for token in reversed([str(v).upper() for v in (header.get("ImageType") or [])]):
        if (kind := kind_from_words(token)) is not None:
            return kind
    full = pydicom.dcmread(file)
    return kind_from_values(_physical_pixels(full, file)) or MapKind.UNKNOWN


def _physical_pixels(ds: pydicom.Dataset, file: Path) -> np.ndarray:
    """Pixel values with the modality rescale applied (stored × slope + intercept)."""
    try:
        pixels = ds.pixel_array
    except (ValueError, RuntimeError, NotImplementedError, AttributeError, TypeError) as exc:
        raise InputError(f"cannot decode pixel data ({exc}); {_codec_hint(ds)}", file) from None
    if pixels.ndim != 2:
        if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
            raise InputError("colour (RGB) image: a quantitative map has one sample per pixel", file)
        raise InputError(
            f"multi-frame image with {int(ds.get('NumberOfFrames', 0) or 0)} frames; "
            "QuantSR reads single-frame series (one file per slice)",
            file,
        )
    slope = ds.get("RescaleSlope", 1.0)
    intercept = ds.get("RescaleIntercept", 0.0)
    slope = 1.0 if slope in (None, "") else float(slope)
    intercept = 0.0 if intercept in (None, "") else float(intercept)
    if slope == 0.0:
        raise InputError("RescaleSlope is 0: the stored values cannot be converted to physical units", file)
    return pixels.astype(np.float64) * slope + intercept


def _codec_hint(ds: pydicom.Dataset) -> str:
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is None or not syntax.is_compressed:
        return "the pixel data is damaged or incomplete"
    return (
        f"compressed transfer syntax {syntax.name}: install a decoder plugin "
        "(pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg, or python-gdcm)"
    )


def read_series(info: SeriesInfo, kind: MapKind | None = None) -> QuantMap:
    """Read one discovered series: slices sorted along the normal, spacing from positions."""
    return read_slices(info.files, kind or info.kind, description=info.description, kind_source=info.kind_source)


def read_slices(files: Sequence[Path], kind: MapKind = MapKind.UNKNOWN, description: str = "",
                kind_source: str = "") -> QuantMap:
    if not files:
        raise InputError("the series has no files")
    with _reading(Path(files[0]).parent):
        return _read_slices(files, kind, description, kind_source)


def _read_slices(files: Sequence[Path], kind: MapKind, description: str, kind_source: str) -> QuantMap:
    datasets = []
    for file in files:
        try:
            datasets.append((file, pydicom.dcmread(file)))
        except (InvalidDicomError, OSError, ValueError, TypeError, AttributeError, KeyError, EOFError) as exc:
            raise InputError(f"not a readable DICOM file ({exc})", file) from None
    with _reading(Path(files[0])):
        return _stack(datasets, kind, description, kind_source)


def _stack(datasets: list[tuple[Path, pydicom.Dataset]], kind: MapKind, description: str,
           kind_source: str) -> QuantMap:
    first_file, first = datasets[0]
    series_dir = first_file.parent
    row_dir, col_dir = _orientation(first, first_file)
    normal = np.cross(row_dir, col_dir)
    rows, cols = int(first.Rows), int(first.Columns)
    spacing_rc = _pixel_spacing(first, first_file)
    slices = []
    for file, ds in datasets:
        with _reading(file):
            r, c = _orientation(ds, file)
            rows_cols = (int(ds.Rows), int(ds.Columns))
            spacing_here = _pixel_spacing(ds, file)
            position = _position(ds, file)
        if not (np.allclose(r, row_dir, atol=1e-3) and np.allclose(c, col_dir, atol=1e-3)):
            raise InputError("ImageOrientationPatient differs from the rest of the series (mixed orientations)",
                             file)
        if rows_cols != (rows, cols):
            raise InputError(f"matrix {ds.Rows}×{ds.Columns} differs from the series' {rows}×{cols}", file)
        if not np.allclose(spacing_here, spacing_rc, rtol=1e-4):
            raise InputError("PixelSpacing differs from the rest of the series", file)
        slices.append((float(position @ normal), position, file, ds))
    slices.sort(key=lambda s: s[0])
    distances = np.array([s[0] for s in slices])
    slice_spacing = _slice_spacing(distances, slices, series_dir, first)
    arrays = []
    for _, _, file, ds in slices:
        with _reading(file):
            arrays.append(_physical_pixels(ds, file))
    if any(a.shape != arrays[0].shape for a in arrays):
        raise InputError("slices decode to different matrix sizes", series_dir)
    array = np.stack(arrays).astype(np.float32)
    if kind is not MapKind.UNKNOWN and not any("RescaleSlope" in ds for *_, ds in slices):
        _check_unscaled(array, kind, series_dir)
    direction = np.column_stack([row_dir, col_dir, normal])
    metadata = _metadata(first, [ds for *_, ds in slices], description)
    metadata["kind_source"] = kind_source
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
