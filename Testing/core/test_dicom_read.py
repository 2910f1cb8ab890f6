"""DICOM reading: rescale, slice order along the normal, spacing from positions, kind detection, split of
bundled multi-map series, and clear errors for gaps, duplicates and mixed orientations."""

from __future__ import annotations

import logging

import numpy as np
import pydicom
import pytest
from helpers.dicom_factory import brain_like, oblique_direction, write_dicom_series
from pydicom.data import get_testdata_file

from quantsr.errors import InputError
from quantsr.io.dicom_read import discover_series, read_series
from quantsr.io.loader import describe_series, load_maps
from quantsr.mapkinds import MapKind


def test_pydicom_mr_small_reads_with_its_geometry_and_rescale() -> None:
    path = get_testdata_file("MR_small.dcm")
    ds = pydicom.dcmread(path)
    qmap = load_maps(path, kind=MapKind.T1)[0]
    slope, intercept = float(ds.get("RescaleSlope", 1)), float(ds.get("RescaleIntercept", 0))
    np.testing.assert_allclose(qmap.array[0], ds.pixel_array * slope + intercept)
    assert qmap.shape == (1, ds.Rows, ds.Columns)
    np.testing.assert_allclose(qmap.origin, [float(v) for v in ds.ImagePositionPatient])
    np.testing.assert_allclose(qmap.spacing[:2], [float(ds.PixelSpacing[1]), float(ds.PixelSpacing[0])])
    np.testing.assert_allclose(qmap.direction[:, 0], [float(v) for v in ds.ImageOrientationPatient[:3]])
    assert qmap.kind is MapKind.T1


def test_oblique_shuffled_series_sorted_along_normal_with_spacing_from_positions(tmp_path) -> None:
    truth = brain_like("T1")
    direction = oblique_direction(25)
    write_dicom_series(tmp_path, truth, origin=(-80, -95, 12), spacing=(0.86, 0.9, 5.0), direction=direction)
    (qmap,) = load_maps(tmp_path)
    np.testing.assert_allclose(qmap.array, truth, atol=1e-3)  # slope 0.1 applied, order restored
    np.testing.assert_allclose(qmap.spacing, (0.86, 0.9, 5.0), atol=1e-5)  # not SliceThickness (4.0)
    np.testing.assert_allclose(qmap.origin, (-80, -95, 12), atol=1e-5)
    np.testing.assert_allclose(qmap.direction, direction, atol=1e-6)
    assert qmap.kind is MapKind.T1 and qmap.metadata["kind_source"] == "ImageType"
    # a voxel's physical position is where the factory put it
    k, j, i = 4, 10, 7
    expected = np.array([-80, -95, 12]) + direction @ np.array([i * 0.86, j * 0.9, k * 5.0])
    np.testing.assert_allclose(qmap.index_to_physical([i, j, k])[0], expected, atol=1e-4)


def test_series_stacked_against_the_normal_is_reordered(tmp_path) -> None:
    """Slices whose positions decrease along the normal: the first voxel is the lowest along it."""
    truth = brain_like("T2")
    flipped = np.diag([1.0, 1.0, -1.0])  # i, j as usual, k pointing down
    write_dicom_series(tmp_path, truth, origin=(0, 0, 100), direction=flipped,
                       image_type=("DERIVED", "QMAP", "T2"))
    (qmap,) = load_maps(tmp_path)
    np.testing.assert_allclose(qmap.array, truth[::-1], atol=1e-3)
    assert qmap.origin[2] == pytest.approx(100 - 5 * 5.0)
    assert qmap.direction[2, 2] == pytest.approx(1.0)  # k follows the normal = row × column cosines


def test_intercept_and_other_slopes_are_applied(tmp_path) -> None:
    truth = brain_like("PD")
    write_dicom_series(tmp_path, truth, slope=0.5, intercept=-20.0, image_type=("DERIVED", "PDMAP"))
    (qmap,) = load_maps(tmp_path)
    np.testing.assert_allclose(qmap.array, truth, atol=0.3)
    assert qmap.kind is MapKind.PD


def test_gap_in_positions_is_refused_with_the_missing_slice(tmp_path) -> None:
    paths = write_dicom_series(tmp_path, brain_like("T1", shape=(6, 8, 8)), shuffle=False)
    paths[3].unlink()
    with pytest.raises(InputError, match=r"not evenly spaced.*10\.00 mm.*5\.00 mm.*1 missing slice"):
        load_maps(tmp_path)


def test_duplicate_positions_are_refused(tmp_path) -> None:
    uid = pydicom.uid.generate_uid()
    write_dicom_series(tmp_path / "a", brain_like("T1", shape=(3, 8, 8)), series_uid=uid)
    write_dicom_series(tmp_path / "b", brain_like("T1", shape=(3, 8, 8)), series_uid=uid,
                       file_names=lambda k: f"copy_{k}.dcm")
    with pytest.raises(InputError, match="share the position"):
        load_maps(tmp_path)


def test_mixed_orientation_is_refused(tmp_path) -> None:
    def tilt_one(ds, k):
        if k == 2:
            ds.ImageOrientationPatient = [1, 0, 0, 0, 0.9950042, 0.0998334]

    write_dicom_series(tmp_path, brain_like("T1", shape=(4, 8, 8)), per_instance=tilt_one)
    with pytest.raises(InputError, match="mixed orientations"):
        load_maps(tmp_path)


def test_folder_with_three_maps_and_a_weighted_image(tmp_path, caplog) -> None:
    study = pydicom.uid.generate_uid()
    write_dicom_series(tmp_path / "s3", brain_like("T1"), study_uid=study, series_number=3,
                       image_type=("DERIVED", "PRIMARY", "QMAP", "T1"), description="T1 map")
    write_dicom_series(tmp_path / "s4", brain_like("T2"), study_uid=study, series_number=4,
                       image_type=("ORIGINAL", "PRIMARY", "OTHER"), description="MAGiC T2")
    write_dicom_series(tmp_path / "s5", brain_like("PD"), study_uid=study, series_number=5,
                       image_type=("DERIVED", "PRIMARY", "PDMAP"), description="PD")
    write_dicom_series(tmp_path / "s6", brain_like("T1"), study_uid=study, series_number=6,
                       image_type=("DERIVED", "PRIMARY", "SYNTHETIC"), description="MAGiC T1FLAIR")
    (tmp_path / "README.txt").write_text("not DICOM")
    found = discover_series(tmp_path)
    assert [(s.number, s.kind, s.kind_source) for s in found] == [
        (3, MapKind.T1, "ImageType"),
        (4, MapKind.T2, "SeriesDescription"),
        (5, MapKind.PD, "ImageType"),
        (6, MapKind.UNKNOWN, ""),
    ]
    with caplog.at_level(logging.INFO, logger="quantsr"):
        maps = load_maps(tmp_path)
    assert [m.kind for m in maps] == [MapKind.T1, MapKind.T2, MapKind.PD]
    assert "skipped 1 non-DICOM file" in caplog.text and "T1FLAIR" in caplog.text
    assert [m.kind for m in load_maps(tmp_path, kind=MapKind.T2)] == [MapKind.T2]
    table = describe_series(tmp_path)
    assert "MAGiC T1FLAIR" in table and "not a map" in table and "SeriesDescription" in table


def test_multi_qmap_series_is_split_per_instance(tmp_path) -> None:
    """GE MAGiC "QMaps": one series, each position present three times (T1, T2, PD instances)."""
    uid = pydicom.uid.generate_uid()
    study = pydicom.uid.generate_uid()
    truths = {kind: brain_like(kind, seed=i) for i, kind in enumerate(("T1", "T2", "PD"))}
    for kind, truth in truths.items():
        write_dicom_series(tmp_path, truth, series_uid=uid, study_uid=study, description="QMaps (T1T2PD)",
                           image_type=("DERIVED", "PRIMARY", "MULTI_QMAP", kind),
                           file_names=lambda k, kind=kind: f"{kind}_{k}.dcm")
    found = discover_series(tmp_path)
    assert sorted(s.kind.value for s in found) == ["PD", "T1", "T2"] and all(s.multi_map for s in found)
    maps = load_maps(tmp_path)
    for qmap in maps:
        np.testing.assert_allclose(qmap.array, truths[qmap.kind.value], atol=1e-3)


def test_lone_series_without_words_is_detected_from_values_or_overridden(tmp_path) -> None:
    write_dicom_series(tmp_path, brain_like("T1"), image_type=("ORIGINAL", "PRIMARY"), description="ax 5mm")
    (qmap,) = load_maps(tmp_path)
    assert qmap.kind is MapKind.T1 and qmap.metadata["kind_source"] == "values"
    with pytest.raises(InputError, match=r"median is 1\d{3} %.*--map PD --force"):
        load_maps(tmp_path, kind=MapKind.PD)  # values of a T1 map named PD: refused ...
    assert load_maps(tmp_path, kind=MapKind.PD, force=True)[0].kind is MapKind.PD  # ... unless forced


def test_series_chosen_by_number(tmp_path) -> None:
    study = pydicom.uid.generate_uid()
    write_dicom_series(tmp_path / "a", brain_like("T1"), series_number=7, image_type=("ORIGINAL",),
                       description="first", study_uid=study)
    write_dicom_series(tmp_path / "b", brain_like("T1"), series_number=8, image_type=("ORIGINAL",),
                       description="second", study_uid=study)
    with pytest.raises(InputError, match="pick one with --series"):
        load_maps(tmp_path)
    (qmap,) = load_maps(tmp_path, kind=MapKind.T1, series="8")
    assert qmap.metadata["series_number"] == 8
    with pytest.raises(InputError, match="has no series '9'"):
        load_maps(tmp_path, series="9")


def test_empty_folder_and_missing_path(tmp_path) -> None:
    with pytest.raises(InputError, match="contains no DICOM files"):
        load_maps(tmp_path)
    with pytest.raises(InputError, match="no such file or folder"):
        load_maps(tmp_path / "absent")


def test_read_series_keeps_study_and_instance_uids(tmp_path) -> None:
    paths = write_dicom_series(tmp_path, brain_like("T1", shape=(3, 8, 8)))
    (info,) = discover_series(tmp_path)
    qmap = read_series(info)
    ordered = sorted(paths, key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2]))
    assert qmap.metadata["sop_instance_uids"] == [pydicom.dcmread(p).SOPInstanceUID for p in ordered]
    assert qmap.metadata["PatientID"] == "TEST01" and qmap.metadata["StudyInstanceUID"]
