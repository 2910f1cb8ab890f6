"""Scanner-style DICOM for quantitative maps: MR Image Storage, one file per slice, values stored as
unsigned 16-bit at ten times the physical value with RescaleSlope 0.1 (the synthetic-MRI convention).

Used for the simulator's fast / routine acquisitions and for QuantSR's derived (super-resolved) series,
which reference their source images and carry a DerivationDescription."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.sr.codedict import codes
from pydicom.uid import UID, ExplicitVRLittleEndian, MRImageStorage, generate_uid

from .. import __version__
from ..errors import OutputError
from ..mapkinds import DICOM_STORED_SCALE, MapKind
from ..volume import QuantMap
from .atomic import atomic_directory

#: UID root used for QuantSR-made instances (pydicom's registered root, per its documentation).
UID_PREFIX = pydicom.uid.PYDICOM_ROOT_UID
_MAX_STORED = np.iinfo(np.uint16).max


@dataclass
class StudyContext:
    """Patient / study / frame-of-reference attributes shared by every series of one study."""

    patient_id: str
    patient_name: str
    study_uid: str
    frame_of_reference_uid: str
    study_date: str = ""
    study_time: str = ""
    study_id: str = "1"
    study_description: str = "Synthetic MRI"
    accession_number: str = ""
    patient_birth_date: str = ""
    patient_sex: str = ""
    manufacturer: str = "QuantSR"
    field_strength: float = 3.0
    extra: dict = field(default_factory=dict)

    @classmethod
    def new(cls, patient_id: str, patient_name: str | None = None, seed: str | None = None,
            when: dt.datetime | None = None, **kwargs: object) -> "StudyContext":
        """A fresh study; with ``seed`` the UIDs are reproducible (same seed → same UIDs)."""
        when = when or dt.datetime(2026, 1, 1, 9, 0, 0)
        entropy = [seed] if seed else None
        return cls(
            patient_id=patient_id,
            patient_name=patient_name or patient_id,
            study_uid=generate_uid(UID_PREFIX, entropy_srcs=entropy and [*entropy, "study"]),
            frame_of_reference_uid=generate_uid(UID_PREFIX, entropy_srcs=entropy and [*entropy, "for"]),
            study_date=when.strftime("%Y%m%d"),
            study_time=when.strftime("%H%M%S"),
            **kwargs,  # type: ignore[arg-type]
        )

    @classmethod
    def from_metadata(cls, meta: dict) -> "StudyContext":
        """The study a map was read from (``dicom_read`` metadata), or a new one for non-DICOM input."""
        if not meta.get("StudyInstanceUID"):
            name = Path(str(meta.get("source_path", "QuantSR"))).name.split(".")[0] or "QuantSR"
            return cls.new(patient_id=name, when=dt.datetime.now().replace(microsecond=0))
        return cls(
            patient_id=meta.get("PatientID", ""),
            patient_name=meta.get("PatientName", ""),
            study_uid=meta["StudyInstanceUID"],
            frame_of_reference_uid=meta.get("FrameOfReferenceUID") or generate_uid(UID_PREFIX),
            study_date=meta.get("StudyDate", ""),
            study_time=meta.get("StudyTime", ""),
            study_id=meta.get("StudyID", "") or "1",
            study_description=meta.get("StudyDescription", ""),
            accession_number=meta.get("AccessionNumber", ""),
            patient_birth_date=meta.get("PatientBirthDate", ""),
            patient_sex=meta.get("PatientSex", ""),
            manufacturer=meta.get("Manufacturer", "") or "QuantSR",
            field_strength=float(meta.get("MagneticFieldStrength") or 3.0),
        )


@dataclass
class AcquisitionInfo:
    """What the scanner would record about the MDME acquisition behind a map (all optional)."""

    repetition_time_ms: float = 4000.0
    echo_time_ms: float = 18.3  # first MDME echo
    acquisition_matrix: tuple[int, int] | None = None  # (frequency, phase) as acquired
    acceleration: float | None = None
    protocol_name: str = ""


def write_series(
    qmap: QuantMap,
    folder: str | Path,
    context: StudyContext,
    series_description: str,
    series_number: int,
    protocol: str = "",
    derived_from: QuantMap | None = None,
    derivation_description: str = "",
    acquisition: AcquisitionInfo | None = None,
    seed: str | None = None,
    comments: str = "",
    enhanced: bool = False,
) -> Path:
    """Write ``qmap`` as one DICOM series folder (atomically: the folder appears complete or not at all):
    classic MR Image Storage (one file per slice), or with ``enhanced`` one Enhanced MR Image Storage object
    (``quantsr.io.dicom_enhanced``). ``comments`` goes into ImageComments (the envelope warning).

    Args:
        qmap: a T1 / T2 / PD map in ms / %, stored as uint16 at ×10 (RescaleSlope 0.1); values above 6553.5
            are refused (OutputError), negative ones clipped to 0.
        folder: the series folder (IM0001.dcm, ... or one enhanced object).
        context: patient, study and frame of reference shared with the study's other series.
        series_description: SeriesDescription; ``series_number``: SeriesNumber.
        protocol: ProtocolName unless ``acquisition`` names one.
        derived_from: the source map: ImageType becomes DERIVED, SECONDARY, with a DerivationDescription
            (``derivation_description``) and SourceImageSequence entries pointing at the source's instances.
        acquisition: what the scanner would record (TR, TE, acquisition matrix, acceleration).
        seed: makes the UIDs reproducible (same seed and series → same UIDs).
        comments: ImageComments.
        enhanced: one Enhanced MR object instead of a file per slice.

    Returns:
        ``folder``.
    """
    if qmap.kind is MapKind.UNKNOWN:
        raise OutputError("a map of unknown kind cannot be written as a synthetic-MRI DICOM series", folder)
    folder = Path(folder)
    stored = _to_stored(qmap, folder)
    entropy = [seed, series_description, str(series_number)] if seed else None
    series_uid = generate_uid(UID_PREFIX, entropy_srcs=entropy and [*entropy, "series"])
    sources = (derived_from.metadata.get("sop_instance_uids") if derived_from else None) or []
    source_class = (derived_from.metadata.get("sop_class_uid") if derived_from else None) or MRImageStorage
    if enhanced:
        from .dicom_enhanced import write_enhanced

        return write_enhanced(qmap, stored, folder, context, series_uid, series_description, series_number,
                              protocol, acquisition or AcquisitionInfo(), derived_from, derivation_description,
                              comments, generate_uid(UID_PREFIX, entropy_srcs=entropy and [*entropy, "enhanced"]))
    series = _Series(series_uid, series_description, series_number, protocol)
    with atomic_directory(folder) as tmp:
        for k in range(qmap.shape[0]):
            ds = _slice_dataset(qmap, k, stored[k], context, series, acquisition or AcquisitionInfo(),
                                generate_uid(UID_PREFIX, entropy_srcs=entropy and [*entropy, str(k)]))
            if derived_from is not None:
                _mark_derived(ds, qmap.kind, derivation_description,
                              sources[k] if k < len(sources) else None, source_class,
                              _frame_number(derived_from, k))
            if comments:
                ds.ImageComments = comments[:10240]
            save_part10(ds, tmp / f"IM{k + 1:04d}.dcm", folder)
    return folder


def new_part10_dataset(sop_class_uid: str, sop_uid: str) -> Dataset:
    """An empty dataset with QuantSR's file meta (explicit VR little endian) and character set."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID(UID_PREFIX + "1")
    meta.ImplementationVersionName = f"QUANTSR_{__version__}"[:16]
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    return ds


def save_part10(ds: Dataset, path: Path, folder: Path) -> None:
    """Write a conformant Part 10 file with either pydicom line Slicer bundles: pydicom 3 (Slicer ≥ 5.12) spells
    it ``enforce_file_format=True``, pydicom 2.4 (Slicer 5.10) ``write_like_original=False``."""
    keyword = ({"enforce_file_format": True} if int(pydicom.__version__.split(".")[0]) >= 3
               else {"write_like_original": False})
    try:
        ds.save_as(path, **keyword)
    except OSError as exc:
        raise OutputError(f"cannot write DICOM ({exc.strerror or exc})", folder) from exc


def _to_stored(qmap: QuantMap, folder: Path) -> np.ndarray:
    scaled = np.rint(np.clip(qmap.array, 0, None) * DICOM_STORED_SCALE)
    if scaled.max(initial=0) > _MAX_STORED:
        raise OutputError(
            f"{qmap.kind.value} values up to {qmap.array.max():.0f} {qmap.kind.unit} exceed what 16-bit "
            f"DICOM at slope 0.1 can store ({_MAX_STORED / DICOM_STORED_SCALE:.0f})",
            folder,
        )
    return scaled.astype(np.uint16)


@dataclass(frozen=True)
class _Series:
    """What every slice of one series shares besides the study."""

    uid: str
    description: str
    number: int
    protocol: str


def _slice_dataset(qmap: QuantMap, k: int, pixels: np.ndarray, context: StudyContext, series: _Series,
                   acq: AcquisitionInfo, sop_uid: str) -> Dataset:
    """Slice ``k`` as one MR Image Storage instance, filled module by module (PS3.3 A.4: MR Image IOD)."""
    ds = new_part10_dataset(MRImageStorage, sop_uid)
    ds.SOPClassUID = MRImageStorage  # SOP Common
    ds.SOPInstanceUID = sop_uid
    _patient_and_study(ds, context)
    _series_and_equipment(ds, context, series, acq)
    _mr_image(ds, qmap.kind, context, acq, k)
    _image_plane(ds, qmap, k)
    _image_pixel(ds, qmap.kind, pixels)
    return ds


def _patient_and_study(ds: Dataset, context: StudyContext) -> None:
    """Patient and General Study modules."""
    ds.PatientName = context.patient_name if "^" in context.patient_name else f"{context.patient_name}^"
    ds.PatientID = context.patient_id
    ds.PatientBirthDate = context.patient_birth_date
    ds.PatientSex = context.patient_sex
    ds.StudyInstanceUID = context.study_uid
    ds.StudyDate = context.study_date
    ds.StudyTime = context.study_time
    ds.StudyID = context.study_id
    ds.StudyDescription = context.study_description
    ds.AccessionNumber = context.accession_number
    ds.ReferringPhysicianName = ""


def _series_and_equipment(ds: Dataset, context: StudyContext, series: _Series, acq: AcquisitionInfo) -> None:
    """General Series, Frame of Reference and General Equipment modules."""
    ds.Modality = "MR"
    ds.SeriesInstanceUID = series.uid
    ds.SeriesNumber = series.number
    ds.SeriesDescription = series.description
    ds.ProtocolName = acq.protocol_name or series.protocol
    ds.SeriesDate = context.study_date
    ds.SeriesTime = context.study_time
    ds.BodyPartExamined = "HEAD"
    ds.PatientPosition = "HFS"
    ds.FrameOfReferenceUID = context.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.Manufacturer = context.manufacturer
    ds.ManufacturerModelName = "QuantSR simulator" if context.manufacturer == "QuantSR" else ""
    ds.SoftwareVersions = f"QuantSR {__version__}"


def _mr_image(ds: Dataset, kind: MapKind, context: StudyContext, acq: AcquisitionInfo, k: int) -> None:
    """General Image and MR Image modules: the MDME acquisition behind the map."""
    ds.ContentDate = ds.AcquisitionDate = context.study_date
    ds.ContentTime = ds.AcquisitionTime = context.study_time
    ds.InstanceNumber = k + 1
    ds.AcquisitionNumber = 1
    ds.ImageType = ["DERIVED", "PRIMARY", "QMAP", kind.value]
    ds.ScanningSequence = "SE"
    ds.SequenceVariant = "SK"
    ds.ScanOptions = ""
    ds.MRAcquisitionType = "2D"
    ds.SequenceName = "MDME"
    ds.RepetitionTime = acq.repetition_time_ms
    ds.EchoTime = acq.echo_time_ms
    ds.EchoTrainLength = 2
    ds.ImagedNucleus = "1H"
    ds.MagneticFieldStrength = context.field_strength
    if acq.acquisition_matrix:
        freq, phase = acq.acquisition_matrix
        ds.AcquisitionMatrix = [freq, 0, 0, phase]
        ds.InPlanePhaseEncodingDirection = "ROW"
    if acq.acceleration:
        ds.ParallelAcquisition = "YES"
        ds.ParallelReductionFactorInPlane = float(acq.acceleration)


def _image_plane(ds: Dataset, qmap: QuantMap, k: int) -> None:
    """Image Plane module: slice ``k``'s position, orientation and spacing (LPS, mm)."""
    position = qmap.index_to_physical(np.array([0.0, 0.0, k]))[0]
    ds.ImagePositionPatient = [_ds(v) for v in position]
    ds.ImageOrientationPatient = [_ds(v) for v in (*qmap.direction[:, 0], *qmap.direction[:, 1])]
    ds.PixelSpacing = [_ds(qmap.spacing[1]), _ds(qmap.spacing[0])]
    ds.SliceThickness = _ds(qmap.metadata.get("slice_thickness") or qmap.spacing[2])
    ds.SpacingBetweenSlices = _ds(qmap.spacing[2])
    ds.SliceLocation = _ds(float(position @ qmap.direction[:, 2]))


def _image_pixel(ds: Dataset, kind: MapKind, pixels: np.ndarray) -> None:
    """Image Pixel, Modality LUT and VOI LUT modules: uint16 at ×10 with slope 0.1, the kind's display window."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.RescaleSlope = _ds(1.0 / DICOM_STORED_SCALE)
    ds.RescaleIntercept = "0"
    ds.RescaleType = "MS" if kind.unit == "ms" else "PCT"
    low, high = kind.display_range
    ds.WindowCenter = _ds((low + high) / 2 * DICOM_STORED_SCALE)
    ds.WindowWidth = _ds((high - low) * DICOM_STORED_SCALE)
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()


def _frame_number(source: QuantMap, k: int) -> int | None:
    """The source frame of slice ``k`` when the source was a multi-frame (enhanced) object."""
    frames = source.metadata.get("source_frames") or []
    return int(frames[k]) if k < len(frames) else None


def _mark_derived(ds: Dataset, kind: MapKind, description: str, source_uid: str | None, source_class: str,
                  frame: int | None = None) -> None:
    ds.ImageType = ["DERIVED", "SECONDARY", "QMAP", kind.value]
    ds.DerivationDescription = description[:1024]
    resampling = codes.DCM.SpatialResampling  # CID 7203: the ×2 grid change is a spatial resampling
    code = Dataset()
    code.CodeValue = resampling.value
    code.CodingSchemeDesignator = resampling.scheme_designator
    code.CodeMeaning = resampling.meaning
    ds.DerivationCodeSequence = DicomSequence([code])
    if source_uid:
        ref = Dataset()
        ref.ReferencedSOPClassUID = source_class
        ref.ReferencedSOPInstanceUID = source_uid
        if frame is not None:
            ref.ReferencedFrameNumber = frame
        ds.SourceImageSequence = DicomSequence([ref])


def _ds(value: float) -> str:
    """A DICOM decimal string of at most 16 characters."""
    text = f"{float(value):.10g}"
    if len(text) > 16:
        text = f"{float(value):.8g}"
    return text
