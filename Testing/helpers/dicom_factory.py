"""Writes small DICOM series with known geometry and values, the way scanners lay them out, so reader
tests can check positions, spacing, rescale and kind detection against the truth."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid


def oblique_direction(degrees: float = 20.0) -> np.ndarray:
    """Direction matrix (columns = i, j, k axes in LPS) tilted about two axes."""
    a, b = np.radians(degrees), np.radians(degrees / 2)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    rz = np.array([[np.cos(b), -np.sin(b), 0], [np.sin(b), np.cos(b), 0], [0, 0, 1]])
    return rz @ rx


def write_dicom_series(
    folder: Path,
    physical: np.ndarray,
    origin=(-110.0, -110.0, -50.0),
    spacing=(0.859375, 0.859375, 5.0),
    direction: np.ndarray | None = None,
    image_type=("DERIVED", "PRIMARY", "QMAP", "T1"),
    description: str = "T1 map",
    series_number: int = 3,
    slope: float | None = 0.1,
    intercept: float = 0.0,
    series_uid: str | None = None,
    study_uid: str | None = None,
    shuffle: bool = True,
    per_instance: Callable[[Dataset, int], None] | None = None,
    file_names: Callable[[int], str] = lambda k: f"slice_{k:03d}.dcm",
) -> list[Path]:
    """One file per slice; ``physical`` is [k, j, i] in physical units, stored as value / slope."""
    folder.mkdir(parents=True, exist_ok=True)
    direction = np.eye(3) if direction is None else np.asarray(direction)
    series_uid = series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    frame_uid = generate_uid()
    order = np.random.default_rng(7).permutation(len(physical)) if shuffle else np.arange(len(physical))
    paths = []
    for k in order:
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
        ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
        ds.Modality = "MR"
        ds.PatientID = "TEST01"
        ds.PatientName = "Test^Subject"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.SeriesNumber = series_number
        ds.SeriesDescription = description
        ds.ImageType = list(image_type)
        ds.InstanceNumber = int(k) + 1
        position = np.asarray(origin) + direction @ np.array([0.0, 0.0, k * spacing[2]])
        ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
        ds.ImageOrientationPatient = [f"{v:.8f}" for v in (*direction[:, 0], *direction[:, 1])]
        ds.PixelSpacing = [spacing[1], spacing[0]]
        ds.SliceThickness = spacing[2] * 0.8  # deliberately not the spacing: the reader must use positions
        stored = physical[k] if slope is None else (physical[k] - intercept) / slope
        ds.Rows, ds.Columns = physical.shape[1:]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        if slope is not None:
            ds.RescaleSlope = slope
            ds.RescaleIntercept = intercept
        ds.PixelData = np.rint(stored).astype(np.uint16).tobytes()
        if per_instance:
            per_instance(ds, int(k))
        path = folder / file_names(int(k))
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def brain_like(kind: str, shape=(6, 24, 20), seed: int = 0) -> np.ndarray:
    """Values in a map's tissue range (T1 ms, T2 ms, PD %), on a quantised grid DICOM stores exactly."""
    rng = np.random.default_rng(seed)
    low, high = {"T1": (700, 1400), "T2": (60, 110), "PD": (60, 90)}[kind]
    return np.round(rng.uniform(low, high, shape), 1)
