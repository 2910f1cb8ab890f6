"""Enhanced MR Image Storage for quantitative maps: one multi-frame object per series, geometry and rescale
in the functional groups, physical units in a Real World Value Mapping (UCUM ms / %).

Written for DL results when the input was an enhanced object (or the user asks for it), and by tests to
generate the multi-map objects modern Philips / Siemens XA scanners write (T1, T2 and PD frames in one
object, one stack each). Frame Type: DERIVED \\ PRIMARY \\ <flavour> \\ <derived pixel contrast>, with
T1_MAP / T2_MAP (PS3.3 Enhanced MR derived pixel contrast terms); PD has no such term (NONE): its
Real World Value Mapping in % says what it is."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from .. import __version__
from ..errors import OutputError
from ..mapkinds import DICOM_STORED_SCALE, MapKind
from ..volume import QuantMap
from .atomic import atomic_directory
from .dicom_write import new_part10_dataset, save_part10

ENHANCED_MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4.1"
#: Frame Type values 3 and 4 per kind.
FRAME_TYPE = {MapKind.T1: ("T1", "T1_MAP"), MapKind.T2: ("T2", "T2_MAP"), MapKind.PD: ("PROTON_DENSITY", "NONE")}
#: UCUM units of each kind's physical values.
UNITS = {MapKind.T1: ("ms", "millisecond"), MapKind.T2: ("ms", "millisecond"), MapKind.PD: ("%", "percent")}


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _seq(*items: Dataset) -> DicomSequence:
    return DicomSequence(list(items))


def write_enhanced(qmap: QuantMap, stored: np.ndarray, folder, context, series_uid: str, description: str,
                   number: int, protocol: str, acq, derived_from: QuantMap | None, derivation_description: str,
                   comments: str, sop_uid: str):
    """One map as one Enhanced MR object in ``folder`` (atomically)."""
    return write_enhanced_maps([(qmap, stored)], folder, context, series_uid, description, number, protocol, acq,
                               [derived_from] if derived_from is not None else None, derivation_description,
                               comments, sop_uid)


def write_enhanced_maps(maps: Sequence[tuple[QuantMap, np.ndarray]], folder, context, series_uid: str,
                        description: str, number: int, protocol: str, acq,
                        derived_from: Sequence[QuantMap] | None = None, derivation_description: str = "",
                        comments: str = "", sop_uid: str | None = None):
    """Several maps of one geometry as one object: a stack per map, frames in slice order."""
    from pathlib import Path

    from .dicom_write import UID_PREFIX, _ds

    folder = Path(folder)
    first = maps[0][0]
    for qmap, _ in maps[1:]:
        if qmap.shape[1:] != first.shape[1:]:
            raise OutputError("maps in one enhanced object need the same matrix", folder)
    sop_uid = sop_uid or generate_uid(UID_PREFIX)
    derived = derived_from is not None
    ds = new_part10_dataset(ENHANCED_MR_STORAGE, sop_uid)
    kinds = [q.kind for q, _ in maps]
    flavour, contrast = FRAME_TYPE[kinds[0]] if len(kinds) == 1 else ("MIXED", "MIXED")
    ds.ImageType = ["DERIVED", "PRIMARY", flavour, contrast]  # value 2 is PRIMARY only in enhanced objects
    ds.InstanceCreationDate, ds.InstanceCreationTime = context.study_date, context.study_time
    ds.SOPClassUID, ds.SOPInstanceUID = ENHANCED_MR_STORAGE, sop_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = context.study_date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = context.study_time
    ds.AcquisitionDateTime = context.study_date + context.study_time
    ds.AccessionNumber = context.accession_number
    ds.Modality = "MR"
    ds.Manufacturer = context.manufacturer
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = context.study_description
    ds.SeriesDescription = description
    ds.ManufacturerModelName = "QuantSR"
    ds.PatientName = context.patient_name if "^" in context.patient_name else f"{context.patient_name}^"
    ds.PatientID = context.patient_id
    ds.PatientBirthDate = context.patient_birth_date
    ds.PatientSex = context.patient_sex
    ds.DeviceSerialNumber = "0"
    ds.SoftwareVersions = f"QuantSR {__version__}"
    ds.ProtocolName = acq.protocol_name or protocol
    ds.PatientPosition = "HFS"
    ds.ApplicableSafetyStandardAgency = "IEC"
    ds.ContentQualification = "RESEARCH"
    ds.ResonantNucleus = "1H"
    ds.MagneticFieldStrength = context.field_strength
    ds.KSpaceFiltering = "NONE"
    ds.AcquisitionDuration = 0.0
    ds.StudyInstanceUID = context.study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = context.study_id
    ds.SeriesNumber = number
    ds.InstanceNumber = 1
    ds.FrameOfReferenceUID = context.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    if comments:
        ds.ImageComments = comments[:10240]
    if derived and derived_from:
        evidence = [e for e in (_evidence(source) for source in derived_from) if e is not None]
        if evidence:
            ds.SourceImageEvidenceSequence = DicomSequence(evidence)
    ds.PixelPresentation = "MONOCHROME"
    ds.VolumetricProperties = "VOLUME"
    ds.VolumeBasedCalculationTechnique = "NONE"
    ds.ComplexImageComponent = "MAGNITUDE"
    ds.AcquisitionContrast = "UNKNOWN"  # maps are fitted from images of several contrasts (no enumerated term)
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    ds.PresentationLUTShape = "IDENTITY"
    ds.AcquisitionContextSequence = DicomSequence([])
    # dimensions: stack (one per map) and position in the stack
    organisation = generate_uid(UID_PREFIX)
    org = Dataset()
    org.DimensionOrganizationUID = organisation
    ds.DimensionOrganizationSequence = _seq(org)
    if len(maps) == 1:
        ds.DimensionOrganizationType = "3D"  # one stack of parallel, equally spaced frames
    pointers = []
    for tag, label in ((0x00209056, "Stack ID"), (0x00209057, "In-Stack Position Number")):
        item = Dataset()
        item.DimensionOrganizationUID = organisation
        item.DimensionIndexPointer = tag
        item.FunctionalGroupPointer = 0x00209111  # Frame Content Sequence
        item.DimensionDescriptionLabel = label
        pointers.append(item)
    ds.DimensionIndexSequence = DicomSequence(pointers)
    # shared functional groups: pixel measures, orientation, anatomy, transformation, VOI
    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = [_ds(first.spacing[1]), _ds(first.spacing[0])]
    measures.SliceThickness = _ds(first.metadata.get("slice_thickness") or first.spacing[2])
    measures.SpacingBetweenSlices = _ds(first.spacing[2])
    shared.PixelMeasuresSequence = _seq(measures)
    orientation = Dataset()
    orientation.ImageOrientationPatient = [_ds(v) for v in (*first.direction[:, 0], *first.direction[:, 1])]
    shared.PlaneOrientationSequence = _seq(orientation)
    anatomy = Dataset()
    anatomy.AnatomicRegionSequence = _seq(_code("12738006", "SCT", "Brain"))
    anatomy.FrameLaterality = "U"
    shared.FrameAnatomySequence = _seq(anatomy)
    transform = Dataset()
    transform.RescaleIntercept = "0"
    transform.RescaleSlope = _ds(1.0 / DICOM_STORED_SCALE)
    transform.RescaleType = "US"  # physical units are in the Real World Value Mapping
    shared.PixelValueTransformationSequence = _seq(transform)
    ds.SharedFunctionalGroupsSequence = _seq(shared)
    per_frame, pixels = [], []
    for stack, (qmap, stored) in enumerate(maps, start=1):
        source = derived_from[stack - 1] if derived and derived_from and stack - 1 < len(derived_from) else None
        for k in range(qmap.shape[0]):
            per_frame.append(_frame(qmap, stack, k, source, derivation_description))
            pixels.append(stored[k])
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per_frame)
    array = np.ascontiguousarray(np.stack(pixels).astype(np.uint16))
    ds.NumberOfFrames = array.shape[0]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = array.shape[1:]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = array.tobytes()
    with atomic_directory(folder) as tmp:
        save_part10(ds, tmp / "EMR0001.dcm", folder)
    return folder


def _evidence(source: QuantMap) -> Dataset | None:
    """Hierarchical reference to the source instances (Source Image Evidence Sequence item)."""
    uids = list(dict.fromkeys(source.metadata.get("sop_instance_uids") or []))
    if not uids or not source.metadata.get("StudyInstanceUID"):
        return None
    references = []
    for uid in uids:
        ref = Dataset()
        ref.ReferencedSOPClassUID = source.metadata.get("sop_class_uid") or ENHANCED_MR_STORAGE
        ref.ReferencedSOPInstanceUID = uid
        references.append(ref)
    series = Dataset()
    series.SeriesInstanceUID = source.metadata.get("series_uid") or generate_uid()
    series.ReferencedSOPSequence = DicomSequence(references)
    study = Dataset()
    study.StudyInstanceUID = source.metadata["StudyInstanceUID"]
    study.ReferencedSeriesSequence = _seq(series)
    return study


def _frame(qmap: QuantMap, stack: int, k: int, source: QuantMap | None, derivation: str) -> Dataset:
    from .dicom_write import _ds

    frame = Dataset()
    content = Dataset()
    content.StackID = str(stack)
    content.InStackPositionNumber = k + 1
    content.DimensionIndexValues = [stack, k + 1]
    frame.FrameContentSequence = _seq(content)
    position = Dataset()
    position.ImagePositionPatient = [_ds(v) for v in qmap.index_to_physical(np.array([0.0, 0.0, k]))[0]]
    frame.PlanePositionSequence = _seq(position)
    frame_type = Dataset()
    flavour, contrast = FRAME_TYPE[qmap.kind]
    frame_type.FrameType = ["DERIVED", "PRIMARY", flavour, contrast]
    frame_type.PixelPresentation = "MONOCHROME"
    frame_type.VolumetricProperties = "VOLUME"
    frame_type.VolumeBasedCalculationTechnique = "NONE"
    frame_type.ComplexImageComponent = "MAGNITUDE"
    frame_type.AcquisitionContrast = "UNKNOWN"
    frame.MRImageFrameTypeSequence = _seq(frame_type)
    unit, meaning = UNITS[qmap.kind]
    mapping = Dataset()
    mapping.RealWorldValueFirstValueMapped = 0
    mapping.RealWorldValueLastValueMapped = 65535
    mapping.RealWorldValueIntercept = 0.0
    mapping.RealWorldValueSlope = 1.0 / DICOM_STORED_SCALE
    mapping.LUTExplanation = f"{qmap.kind.value} map"
    mapping.LUTLabel = qmap.kind.value
    mapping.MeasurementUnitsCodeSequence = _seq(_code(unit, "UCUM", meaning))
    frame.RealWorldValueMappingSequence = _seq(mapping)
    voi = Dataset()
    low, high = qmap.kind.display_range
    voi.WindowCenter = _ds((low + high) / 2 * DICOM_STORED_SCALE)
    voi.WindowWidth = _ds((high - low) * DICOM_STORED_SCALE)
    frame.FrameVOILUTSequence = _seq(voi)
    if source is not None:
        uids = source.metadata.get("sop_instance_uids") or []
        frames = source.metadata.get("source_frames") or []
        derivation_item = Dataset()
        derivation_item.DerivationDescription = derivation[:1024]
        resampling = codes.DCM.SpatialResampling
        derivation_item.DerivationCodeSequence = _seq(_code(resampling.value, resampling.scheme_designator,
                                                            resampling.meaning))
        references = []
        if k < len(uids):
            ref = Dataset()
            ref.ReferencedSOPClassUID = source.metadata.get("sop_class_uid") or ENHANCED_MR_STORAGE
            ref.ReferencedSOPInstanceUID = uids[k]
            if k < len(frames):
                ref.ReferencedFrameNumber = int(frames[k])
            ref.PurposeOfReferenceCodeSequence = _seq(_code("121322", "DCM",
                                                            "Source image for image processing operation"))
            references.append(ref)
        derivation_item.SourceImageSequence = DicomSequence(references)
        frame.DerivationImageSequence = _seq(derivation_item)
    return frame
