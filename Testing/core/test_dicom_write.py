"""DICOM we write: values and geometry survive the round trip, dciodvfy finds no errors, derived series
reference their sources, and a failed write leaves nothing behind."""

from __future__ import annotations

import subprocess
from unittest import mock

import numpy as np
import pydicom
import pytest
from helpers.dicom_factory import brain_like, oblique_direction
from helpers.tools import require_tool

from quantsr.baselines import upsample
from quantsr.errors import OutputError
from quantsr.io.dicom_write import AcquisitionInfo, StudyContext, write_series
from quantsr.io.loader import load_maps
from quantsr.mapkinds import MapKind
from quantsr.volume import QuantMap


def _t1() -> QuantMap:
    return QuantMap(brain_like("T1", shape=(4, 12, 10)), origin=(-100, -90, 10), spacing=(0.86, 0.9, 5),
                    direction=oblique_direction(12), kind=MapKind.T1)


def test_round_trip_values_geometry_and_scale(tmp_path) -> None:
    qmap = _t1()
    context = StudyContext.new("SIM001", seed="s1")
    write_series(qmap, tmp_path / "T1", context, "MAGiC T1 map (fast)", 5, protocol="fast",
                 acquisition=AcquisitionInfo(acquisition_matrix=(192, 128), acceleration=3))
    (back,) = load_maps(tmp_path / "T1")
    assert back.same_geometry(qmap, tol=1e-5) and back.kind is MapKind.T1
    np.testing.assert_allclose(back.array, qmap.array, atol=0.051)  # stored ×10 as integers
    ds = pydicom.dcmread(sorted((tmp_path / "T1").iterdir())[0])
    assert float(ds.RescaleSlope) == pytest.approx(0.1) and ds.pixel_array.dtype == np.uint16
    assert list(ds.ImageType) == ["DERIVED", "PRIMARY", "QMAP", "T1"]
    assert ds.StudyInstanceUID == context.study_uid and ds.AcquisitionMatrix == [192, 0, 0, 128]
    assert StudyContext.new("SIM001", seed="s1").study_uid == context.study_uid  # reproducible UIDs


def test_dciodvfy_reports_no_errors(tmp_path) -> None:
    dciodvfy = require_tool("dciodvfy")
    write_series(_t1(), tmp_path / "T1", StudyContext.new("SIM002"), "T1 map", 5)
    for path in sorted((tmp_path / "T1").iterdir())[:2]:
        result = subprocess.run([dciodvfy, str(path)], capture_output=True, text=True)
        report = result.stdout + result.stderr
        assert "MRImage" in report
        assert "Error" not in report, report


def test_derived_series_references_its_sources_in_the_same_study(tmp_path) -> None:
    write_series(_t1(), tmp_path / "fast", StudyContext.new("SIM003"), "T1 map", 5)
    (fast,) = load_maps(tmp_path / "fast")
    sr = upsample(fast, 2, "bicubic")
    write_series(sr, tmp_path / "dl", StudyContext.from_metadata(fast.metadata), "QuantSR T1 map (DL)", 905,
                 derived_from=fast, derivation_description="QuantSR x2 super-resolution")
    files = sorted((tmp_path / "dl").iterdir())
    ds = pydicom.dcmread(files[1])
    assert ds.StudyInstanceUID == fast.metadata["StudyInstanceUID"]
    assert ds.FrameOfReferenceUID == fast.metadata["FrameOfReferenceUID"]
    assert ds.SeriesInstanceUID != fast.metadata["series_uid"]
    assert list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == fast.metadata["sop_instance_uids"][1]
    assert ds.DerivationCodeSequence[0].CodeValue == "113085"  # DCM "Spatial resampling"
    (back,) = load_maps(tmp_path / "dl")
    assert back.same_geometry(sr, tol=1e-5)


def test_failed_write_leaves_no_series(tmp_path) -> None:
    calls = {"n": 0}
    real_save = pydicom.Dataset.save_as

    def fail_third(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        return real_save(self, *args, **kwargs)

    with mock.patch.object(pydicom.Dataset, "save_as", fail_third), pytest.raises(OutputError, match="No space"):
        write_series(_t1(), tmp_path / "T1", StudyContext.new("SIM004"), "T1 map", 5)
    assert list(tmp_path.iterdir()) == []


def test_values_beyond_16_bits_are_refused(tmp_path) -> None:
    qmap = _t1().with_array(np.full((2, 4, 4), 7000.0))
    with pytest.raises(OutputError, match="exceed what 16-bit"):
        write_series(qmap, tmp_path / "T1", StudyContext.new("X"), "T1", 1)


def test_outputs_get_normal_permissions(tmp_path) -> None:
    import os
    import stat

    from quantsr.io.images import write_image

    mask = os.umask(0o022)
    try:
        path = write_image(_t1(), tmp_path / "t1.nrrd")
        folder = write_series(_t1(), tmp_path / "T1", StudyContext.new("P"), "T1", 1)
    finally:
        os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's 0600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
