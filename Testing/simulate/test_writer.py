"""The simulated subject on disk: scanner-style DICOM that dciodvfy accepts and the foundation reader
reads back with identical geometry for fast and routine, truth NRRDs, and the manifest."""

from __future__ import annotations

import csv
import subprocess

import numpy as np
import pydicom
import pytest
from helpers.tools import require_tool

from quantsr.errors import OutputError
from quantsr.io.images import read_image
from quantsr.io.loader import load_maps
from quantsr.mapkinds import MapKind
from quantsr.simulate.writer import read_subject_rows, write_manifest


def test_dicom_reads_back_with_values_and_shared_geometry(patient, patient_dir) -> None:
    cohort, _rows = patient_dir
    fast = load_maps(cohort / "sub-001" / "dicom" / "fast")
    routine = load_maps(cohort / "sub-001" / "dicom" / "routine")
    assert [m.kind for m in fast] == [MapKind.T1, MapKind.T2, MapKind.PD]
    for read, kind in zip(fast, (MapKind.T1, MapKind.T2, MapKind.PD), strict=True):
        written = patient.maps["fast"][kind]
        assert read.same_geometry(written, tol=1e-4)
        np.testing.assert_allclose(read.array, written.array, atol=0.051)  # ±0.1 unit (stored ×10)
    # fast and routine: same study, frame of reference, slice positions and FOV edges
    f, r = fast[0], routine[0]
    for key in ("StudyInstanceUID", "FrameOfReferenceUID", "PatientID"):
        assert f.metadata[key] == r.metadata[key]
    assert f.metadata["series_uid"] != r.metadata["series_uid"]
    np.testing.assert_allclose(f.direction, r.direction)
    np.testing.assert_allclose(f.origin[2], r.origin[2])
    np.testing.assert_allclose(np.asarray(f.origin[:2]) - np.asarray(f.spacing[:2]) / 2,
                               np.asarray(r.origin[:2]) - np.asarray(r.spacing[:2]) / 2, atol=1e-4)
    ds = pydicom.dcmread(sorted((cohort / "sub-001" / "dicom" / "fast" / "T2").iterdir())[0])
    assert ds.SeriesDescription == "MAGiC T2 map (fast)" and ds.AcquisitionMatrix == [192, 0, 0, 128]
    assert float(ds.ParallelReductionFactorInPlane) == 3 and float(ds.SliceThickness) == 5


def test_sitk_reads_the_same_geometry(patient_dir) -> None:
    import SimpleITK as sitk

    cohort, _rows = patient_dir
    folder = cohort / "sub-001" / "dicom" / "routine" / "PD"
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    image = reader.Execute()
    (ours,) = load_maps(folder)
    np.testing.assert_allclose(image.GetOrigin(), ours.origin, atol=1e-4)
    np.testing.assert_allclose(image.GetSpacing(), ours.spacing, atol=1e-4)
    np.testing.assert_allclose(sitk.GetArrayFromImage(image), ours.array, atol=0.051)


def test_every_series_passes_dciodvfy(patient_dir) -> None:
    dciodvfy = require_tool("dciodvfy")
    cohort, _rows = patient_dir
    for series in sorted((cohort / "sub-001" / "dicom").glob("*/*")):
        first = sorted(series.iterdir())[0]
        result = subprocess.run([dciodvfy, str(first)], capture_output=True, text=True)
        report = result.stdout + result.stderr
        assert "Error" not in report, f"{series}: {report}"


def test_truth_labels_and_manifest(patient, patient_dir) -> None:
    cohort, rows = patient_dir
    labels = read_image(cohort / "sub-001" / "truth" / "labels.nrrd")
    assert labels.same_geometry(patient.maps["routine"][MapKind.T1], tol=1e-4)
    assert set(np.unique(labels.array).astype(int)) == {0, 1, 2, 3}
    truth_t2 = read_image(cohort / "sub-001" / "truth" / "T2.nrrd")
    assert truth_t2.kind is MapKind.T2
    manifest = write_manifest(rows, cohort, {"seed": 7})
    with open(manifest) as handle:
        table = list(csv.DictReader(handle))
    assert {(r["map"], r["protocol"]) for r in table} >= {(k, p) for k in ("T1", "T2", "PD")
                                                          for p in ("fast", "routine", "truth")}
    assert {"LABELS", "GM", "WM", "CSF", "LESIONS"} <= {r["map"] for r in table}
    for row in table:
        assert (cohort / row["path"]).exists(), row
    assert read_subject_rows(cohort / "sub-001", patient.seed) == rows
    with pytest.raises(OutputError, match="simulated with seed"):
        read_subject_rows(cohort / "sub-001", patient.seed + 1)
