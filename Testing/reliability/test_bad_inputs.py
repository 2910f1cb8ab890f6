"""The bad-input corpus: every case is fed to `quantsr sr` as a user would, and must end with the message
it is meant to produce (or succeed, where the input is merely unusual), write nothing on failure, and
leave the input untouched. docs/reliability.md lists the same cases."""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from helpers.dicom_factory import brain_like, oblique_direction, write_dicom_series
from pydicom.data import get_testdata_file

from quantsr.cli import main
from quantsr.io.images import read_image, write_image
from quantsr.mapkinds import MapKind
from quantsr.volume import QuantMap

Build = Callable[[Path], Path]


def _series(folder: Path, **kwargs) -> Path:
    write_dicom_series(folder, brain_like("T1", shape=(4, 16, 16)), **kwargs)
    return folder


def not_dicom_only(tmp: Path) -> Path:
    (tmp / "in").mkdir()
    (tmp / "in" / "notes.txt").write_text("hello")
    (tmp / "in" / "scan.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    return tmp / "in"


def not_dicom_beside_series(tmp: Path) -> Path:
    _series(tmp / "in")
    (tmp / "in" / "README.txt").write_text("acquired on ...")
    return tmp / "in"


def truncated(tmp: Path) -> Path:
    return Path(shutil.copy(get_testdata_file("MR_truncated.dcm"), tmp / "MR_truncated.dcm"))


def no_pixel_data(tmp: Path) -> Path:
    _series(tmp / "in", per_instance=lambda ds, k: ds.__delattr__("PixelData") if k == 1 else None)
    return tmp / "in"


def missing_slope_stored_x10(tmp: Path) -> Path:
    write_dicom_series(tmp / "in", brain_like("T1", shape=(3, 16, 16)) * 10, slope=None)
    return tmp / "in"


def zero_slope(tmp: Path) -> Path:
    return _series(tmp / "in", per_instance=lambda ds, k: setattr(ds, "RescaleSlope", 0))


def slope_differs_per_slice(tmp: Path) -> Path:
    def per_slice(ds, k):  # rescale differently per slice, pixel data to match: values stay the same
        physical = brain_like("T1", shape=(4, 16, 16))[k]
        ds.RescaleSlope, ds.RescaleIntercept = 0.1 * (k + 1), 5.0 * k
        ds.PixelData = np.rint((physical - 5.0 * k) / (0.1 * (k + 1))).astype(np.uint16).tobytes()

    return _series(tmp / "in", per_instance=per_slice)


def mixed_studies(tmp: Path) -> Path:
    _series(tmp / "in" / "a")
    write_dicom_series(tmp / "in" / "b", brain_like("T2", shape=(4, 16, 16)), image_type=("DERIVED", "QMAP", "T2"))
    return tmp / "in"


def mixed_series_one_study(tmp: Path) -> Path:
    study = pydicom.uid.generate_uid()
    _series(tmp / "in" / "t1", study_uid=study)
    write_dicom_series(tmp / "in" / "flair", brain_like("T1", shape=(4, 16, 16)), study_uid=study,
                       image_type=("DERIVED", "SYNTHETIC"), description="MAGiC T2FLAIR", series_number=9)
    return tmp / "in"


def missing_slice(tmp: Path) -> Path:
    paths = write_dicom_series(tmp / "in", brain_like("T1", shape=(6, 16, 16)), shuffle=False)
    paths[2].unlink()
    return tmp / "in"


def duplicate_position(tmp: Path) -> Path:
    uid = pydicom.uid.generate_uid()
    study = pydicom.uid.generate_uid()
    _series(tmp / "in" / "a", series_uid=uid, study_uid=study)
    _series(tmp / "in" / "b", series_uid=uid, study_uid=study, file_names=lambda k: f"again_{k}.dcm")
    return tmp / "in"


def mixed_orientation(tmp: Path) -> Path:
    return _series(tmp / "in", per_instance=lambda ds, k: setattr(ds, "ImageOrientationPatient",
                                                                   [1, 0, 0, 0, 0.98, 0.199]) if k == 3 else None)


def odd_non_square(tmp: Path) -> Path:
    write_dicom_series(tmp / "in", brain_like("T1", shape=(3, 17, 23)))
    return tmp / "in"


def sagittal(tmp: Path) -> Path:
    direction = np.array([[0, 0, 1], [1, 0, 0], [0, -1, 0]], float).T  # rows A→P, columns S→I, normal L→R
    write_dicom_series(tmp / "in", brain_like("T1", shape=(4, 16, 16)), direction=direction.T)
    return tmp / "in"


def oblique(tmp: Path) -> Path:
    return _series(tmp / "in", direction=oblique_direction(30))


def multi_frame(tmp: Path) -> Path:
    def frames(ds, k):
        ds.NumberOfFrames = 3
        ds.PixelData = np.zeros((3, 16, 16), np.uint16).tobytes()

    return _series(tmp / "in", per_instance=frames)


def rgb_dicom(tmp: Path) -> Path:
    def colour(ds, k):
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
        ds.PixelData = np.zeros((16, 16, 3), np.uint8).tobytes()

    return _series(tmp / "in", per_instance=colour)


def _nrrd(tmp: Path, array: np.ndarray, name: str = "t1_map.nrrd") -> Path:
    sitk.WriteImage(sitk.GetImageFromArray(array.astype(np.float32)), str(tmp / name))
    return tmp / name


def nan_nrrd(tmp: Path) -> Path:
    array = brain_like("T1")
    array[1, 2, 3] = np.nan
    return _nrrd(tmp, array)


def inf_mha(tmp: Path) -> Path:
    array = brain_like("T1")
    array[0, 0, :4] = np.inf
    return _nrrd(tmp, array, "t1_map.mha")


def negative_values(tmp: Path) -> Path:
    array = brain_like("T1")
    array[0, :2, :2] = -50
    return _nrrd(tmp, array)


def far_beyond_range(tmp: Path) -> Path:
    array = brain_like("T1")
    array[0, :3, :3] = 90000
    return _nrrd(tmp, array)


def four_d_nifti(tmp: Path) -> Path:
    image = sitk.JoinSeries([sitk.GetImageFromArray(brain_like("T1", shape=(3, 8, 8)).astype(np.float32))] * 2)
    sitk.WriteImage(image, str(tmp / "t1_4d.nii.gz"))
    return tmp / "t1_4d.nii.gz"


def rgb_nrrd(tmp: Path) -> Path:
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((8, 8, 3), np.uint8), isVector=True), str(tmp / "t1.nrrd"))
    return tmp / "t1.nrrd"


def jpeg_ls(tmp: Path) -> Path:
    return Path(shutil.copy(get_testdata_file("MR_small_jpeg_ls_lossless.dcm"), tmp / "jls.dcm"))


def rle(tmp: Path) -> Path:
    return Path(shutil.copy(get_testdata_file("MR_small_RLE.dcm"), tmp / "rle.dcm"))


def corrupt_jpeg_ls(tmp: Path) -> Path:
    ds = pydicom.dcmread(get_testdata_file("MR_small_jpeg_ls_lossless.dcm"))
    ds.PixelData = pydicom.encaps.encapsulate([b"\xff\xd8 broken codestream"])
    ds.save_as(tmp / "bad_jls.dcm")
    return tmp / "bad_jls.dcm"


def empty_folder(tmp: Path) -> Path:
    (tmp / "in").mkdir()
    return tmp / "in"


def no_images(tmp: Path) -> Path:
    (tmp / "in").mkdir()
    shutil.copy(get_testdata_file("rtplan.dcm"), tmp / "in" / "plan.dcm")
    return tmp / "in"


def missing_path(tmp: Path) -> Path:
    return tmp / "does_not_exist"


def garbage_named_dcm(tmp: Path) -> Path:
    (tmp / "in").mkdir()
    (tmp / "in" / "IM0001.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\xff\xff garbage")
    return tmp / "in"


# (case, builder, extra CLI arguments, expected exit status, expected message on stderr / stdout)
CASES = [
    ("only non-DICOM files", not_dicom_only, [], 1, "contains no DICOM files"),
    ("non-DICOM file beside a series", not_dicom_beside_series, [], 0, "skipped 1 non-DICOM file"),
    ("truncated DICOM", truncated, ["--map", "T1"], 1, "pixel data is damaged or incomplete"),
    ("image without PixelData", no_pixel_data, [], 1, "without pixel data"),
    ("no RescaleSlope, stored ×10", missing_slope_stored_x10, [], 1, "has no RescaleSlope"),
    ("RescaleSlope 0", zero_slope, [], 1, "RescaleSlope is 0"),
    ("slope / intercept differ per slice", slope_differs_per_slice, [], 0, "T1: 4 slices"),
    ("two studies in one folder", mixed_studies, [], 1, "2 different studies"),
    ("map and weighted series in one study", mixed_series_one_study, [], 0, "not T1/T2/PD maps"),
    ("missing slice", missing_slice, [], 1, "about 1 missing slice"),
    ("duplicate positions", duplicate_position, [], 1, "share the position"),
    ("inconsistent orientation", mixed_orientation, [], 1, "mixed orientations"),
    ("odd, non-square matrix", odd_non_square, [], 0, "17 → 46×34"),
    ("sagittal series", sagittal, [], 0, "T1: 4 slices"),
    ("oblique series", oblique, [], 0, "T1: 4 slices"),
    ("multi-frame DICOM", multi_frame, [], 1, "multi-frame image with 3 frames"),
    ("RGB DICOM", rgb_dicom, [], 1, "colour (RGB)"),
    ("NaN in NRRD", nan_nrrd, [], 1, "1 NaN/Inf voxels"),
    ("Inf in MHA", inf_mha, [], 1, "4 NaN/Inf voxels"),
    ("negative values", negative_values, ["--model", "MODEL"], 0, "clipped"),
    ("values far beyond the range", far_beyond_range, ["--model", "MODEL"], 0, "clipped"),
    ("4-D NIfTI", four_d_nifti, [], 1, "4-D image"),
    ("RGB NRRD", rgb_nrrd, [], 1, "3 components per voxel"),
    ("JPEG-LS compressed", jpeg_ls, ["--map", "T1"], 0, "T1: 1 slices"),
    ("RLE compressed", rle, ["--map", "T1"], 0, "T1: 1 slices"),
    ("undecodable compressed pixels", corrupt_jpeg_ls, ["--map", "T1"], 1, "install a decoder plugin"),
    ("empty folder", empty_folder, [], 1, "contains no DICOM files"),
    ("DICOM without images (RT plan)", no_images, [], 1, "contains DICOM files but no images"),
    ("path does not exist", missing_path, [], 1, "no such file or folder"),
    ("garbage named .dcm", garbage_named_dcm, [], 1, "contains DICOM files but no images"),
]


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path] if path.exists() else []
    for file in files:
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()




@pytest.mark.parametrize(("case", "build", "extra", "status", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, build, extra, status, message, tmp_path, tiny_model, capsys, caplog) -> None:
    source = build(tmp_path)
    before = _digest(source)
    out = tmp_path / "out" / "result.nrrd"
    method = [] if "--model" in extra else ["--method", "bicubic"]
    args = ["sr", str(source), "-o", str(out), *method, *[str(tiny_model) if a == "MODEL" else a for a in extra]]
    with caplog.at_level(logging.INFO, logger="quantsr"):
        assert main(args) == status, case
    captured = capsys.readouterr()
    said = captured.out + captured.err + caplog.text
    assert message in said, f"{case}: expected {message!r} in {said!r}"
    assert "Traceback" not in said
    assert _digest(source) == before  # inputs are never modified
    if status:
        assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    else:
        assert out.exists() or list((tmp_path / "out").glob("*.nrrd"))


def test_corpus_has_at_least_25_cases() -> None:
    assert len(CASES) >= 25


# Cases 31–34 of docs/reliability.md need an injected fault or a model, so they are tests of their own; each
# is held to the same four checks as the table above (_assert_refused).


def _run(args: list[str], capsys, caplog) -> tuple[int, str]:
    """`quantsr ARGS` as a user runs it: the exit status and everything it said (stdout, stderr, log)."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="quantsr"):
        status = main(args)
    captured = capsys.readouterr()
    return status, captured.out + captured.err + caplog.text


def _assert_refused(status: int, said: str, expected: list[str], source: Path, before: str, written: Path) -> None:
    """The documented checks: exit 1 with the message, no traceback, the input's bytes unchanged, and nothing
    (no partial or temporary file) under ``written``, the folder the output would have gone to."""
    assert status == 1, said
    for part in expected:
        assert part in said, f"expected {part!r} in {said!r}"
    assert "Traceback" not in said
    assert _digest(source) == before  # inputs are never modified
    if written == source or written in source.parents:
        return  # the output would have gone into the input: the unchanged digest above covers "nothing written"
    assert not written.exists() or not list(written.rglob("*")), list(written.rglob("*"))


@pytest.mark.parametrize("where", ["inside the input folder", "equal to the input file"])
def test_case_31_output_inside_the_input_is_refused(where, tmp_path, capsys, caplog) -> None:
    """A DICOM folder with the output inside it, and an NRRD map with itself as the output."""
    if where == "inside the input folder":
        given = folder = _series(tmp_path / "in")
        target = folder / "x.nrrd"
    else:
        folder = tmp_path / "in"
        given = target = write_image(QuantMap(brain_like("T1"), kind=MapKind.T1), folder / "t1.nrrd")
    names = sorted(p.name for p in folder.iterdir())
    before = _digest(folder)
    status, said = _run(["sr", str(given), "-o", str(target), "--method", "bicubic"], capsys, caplog)
    _assert_refused(status, said, [f"{target}: output would be written inside the input"], folder, before, folder)
    assert sorted(p.name for p in folder.iterdir()) == names


def test_case_32_disk_full_leaves_no_partial_or_temporary_file(tmp_path, capsys, caplog, monkeypatch) -> None:
    source = write_image(QuantMap(brain_like("T1"), kind=MapKind.T1), tmp_path / "in" / "t1.nrrd")
    before = _digest(source)
    attempted: list[Path] = []

    def disk_full(image, path, *args, **kwargs):  # a writer that gets half-way, then the disk is full
        attempted.append(Path(path))
        Path(path).write_bytes(b"NRRD0004\n partial")
        raise RuntimeError("ITK ERROR: No space left on device")

    monkeypatch.setattr(sitk, "WriteImage", disk_full)
    out = tmp_path / "out" / "t1_sr.nrrd"
    status, said = _run(["sr", str(source), "-o", str(out), "--method", "bicubic"], capsys, caplog)
    _assert_refused(status, said, [f"{out}: cannot write image", "No space left on device"], source, before,
                    tmp_path / "out")
    assert attempted and all(path != out and not path.exists() for path in attempted)  # temporary, then removed


def test_case_33_unreadable_file_is_named(tmp_path, capsys, caplog, monkeypatch) -> None:
    folder = _series(tmp_path / "in")
    before = _digest(folder)
    victim = sorted(folder.iterdir())[1]
    real_open = Path.open

    def deny(self, *args, **kwargs):
        if self == victim:
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", deny)  # root ignores chmod: inject the OS error instead
    status, said = _run(["sr", str(folder), "-o", str(tmp_path / "out" / "o.nrrd"), "--method", "bicubic"],
                        capsys, caplog)
    monkeypatch.undo()  # read the input back with the real open
    _assert_refused(status, said, [f"{victim}: skipped: cannot read (Permission denied)"], folder, before,
                    tmp_path / "out")


def test_case_34_map_on_the_stored_scale_is_refused_and_force_runs_it(tmp_path, tiny_model, capsys, caplog) -> None:
    """A T1 map left on the stored DICOM scale (×10) does not match the model's normalisation: refused, nothing
    written; `--force` runs it anyway, clipping to the model's range and saying how many voxels it clipped."""
    stored = brain_like("T1") * 10
    source = write_image(QuantMap(stored, kind=MapKind.T1), tmp_path / "in" / "t1_stored_scale.nrrd")
    before = _digest(source)
    out = tmp_path / "out" / "t1_sr.nrrd"
    args = ["sr", str(source), "-o", str(out), "--model", str(tiny_model)]
    above = 100 * np.count_nonzero(stored > MapKind.T1.norm_physical) / np.count_nonzero(stored > 0)
    status, said = _run(args, capsys, caplog)
    _assert_refused(status, said, [f"{source}: {above:.0f} % of the map's voxels exceed the model's range 0–4500 ms",
                                   "does not match the model's normalisation"], source, before, tmp_path / "out")

    status, said = _run([*args, "--force"], capsys, caplog)
    assert status == 0, said
    assert "Traceback" not in said and _digest(source) == before
    outside = np.count_nonzero((stored < 0) | (stored > MapKind.T1.norm_physical))
    assert f"{outside} voxels lie outside the model's range 0–4500 ms and were clipped" in said
    result = read_image(out)
    assert result.kind is MapKind.T1 and result.shape == (stored.shape[0], 2 * stored.shape[1], 2 * stored.shape[2])
    assert np.isfinite(result.array).all()
