"""Enhanced MR (multi-frame) test objects: QuantSR's own writer for maps, then edited into what scanners
write for weighted images and B0 field maps (frame types, per-frame rescale, units)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from quantsr.io.dicom_enhanced import write_enhanced_maps
from quantsr.io.dicom_write import AcquisitionInfo, StudyContext, _to_stored
from quantsr.mapkinds import MapKind
from quantsr.volume import QuantMap


def write_enhanced(folder: Path, maps: list[QuantMap], description: str = "QMaps", number: int = 7,
                   seed: str = "enh") -> Path:
    """T1 / T2 / PD maps (same geometry) as one Enhanced MR object; returns its file."""
    context = StudyContext.new("ENH01", seed=seed)
    write_enhanced_maps([(m, _to_stored(m, folder)) for m in maps], folder, context,
                        pydicom.uid.generate_uid(), description, number, "fast", AcquisitionInfo())
    return next(folder.iterdir())


def write_field_map(folder: Path, shape=(4, 16, 16)) -> Path:
    """A Philips-style B0 field-map object: magnitude frames ``ORIGINAL\\PRIMARY\\T1\\M`` and field-map frames
    ``…\\T1\\FIELD_MAP`` in Hz, stored with a per-frame rescale of 0.2442 / −500."""
    rng = np.random.default_rng(3)
    magnitude = QuantMap(rng.uniform(600, 1200, shape), spacing=(0.86, 0.86, 5), kind=MapKind.T1)
    field = QuantMap(rng.uniform(600, 1200, shape), spacing=(0.86, 0.86, 5), kind=MapKind.T1)
    path = write_enhanced(folder, [magnitude, field], description="dual echo", seed="fieldmap")
    ds = pydicom.dcmread(path)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "T1", "MIXED"]
    n = shape[0]
    for index, frame in enumerate(ds.PerFrameFunctionalGroupsSequence):
        is_field = index >= n
        frame.MRImageFrameTypeSequence[0].FrameType = ["ORIGINAL", "PRIMARY", "T1", "FIELD_MAP" if is_field else "M"]
        del frame.RealWorldValueMappingSequence
        transform = Dataset()
        transform.RescaleSlope, transform.RescaleIntercept, transform.RescaleType = (
            ("0.2442", "-500", "HZ") if is_field else ("1", "0", "US"))
        frame.PixelValueTransformationSequence = Sequence([transform])
    ds.save_as(path)
    return path


def write_weighted_enhanced(folder: Path, shape=(4, 16, 16)) -> Path:
    """An enhanced T1-weighted object (``ORIGINAL\\PRIMARY\\T1\\NONE``, no units), values of a raw image."""
    rng = np.random.default_rng(4)
    image = QuantMap(rng.uniform(50, 450, shape), spacing=(1.0, 1.0, 1.2), kind=MapKind.T1)
    path = write_enhanced(folder, [image], description="", seed="weighted")
    ds = pydicom.dcmread(path)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "T1", "NONE"]
    for frame in ds.PerFrameFunctionalGroupsSequence:
        frame.MRImageFrameTypeSequence[0].FrameType = ["ORIGINAL", "PRIMARY", "T1", "NONE"]
        del frame.RealWorldValueMappingSequence
    ds.save_as(path)
    return path
