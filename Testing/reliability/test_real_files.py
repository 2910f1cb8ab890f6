"""Real scanners' and other projects' DICOM (test files the pydicom, pydicom-data and nibabel wheels carry)
plus generated Enhanced MR objects: each has one expected outcome, listed in docs/reliability.md.

A weighted image is refused with what it looks like and how to force it, and nothing is written; an
enhanced T1/T2/PD map object reads like the equivalent classic series."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from helpers.dicom_factory import brain_like, oblique_direction, write_dicom_series
from helpers.enhanced_factory import write_enhanced, write_field_map, write_weighted_enhanced
from helpers.tools import require_tool
from pydicom.data import get_testdata_file

from quantsr.cli import main
from quantsr.io.dicom_write import StudyContext, write_series
from quantsr.io.images import read_image
from quantsr.io.loader import describe_series, load_maps
from quantsr.mapkinds import MapKind
from quantsr.volume import QuantMap


def _wheel_file(package: str, *parts: str) -> Path:
    module = pytest.importorskip(package)
    path = Path(module.__file__).parent.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"{package} does not carry {'/'.join(parts)}")
    return path


def _copy(source: Path, tmp: Path) -> Path:
    return Path(shutil.copy(source, tmp / source.name))


def pydicom_file(name: str) -> Callable[[Path], Path]:
    return lambda tmp: _copy(Path(get_testdata_file(name)), tmp)


def pydicom_data(name: str) -> Callable[[Path], Path]:
    return lambda tmp: _copy(_wheel_file("data_store", "data", name), tmp)  # the pydicom-data wheel


def nibabel_file(*parts: str) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        source = _wheel_file("nibabel", *parts)
        if source.suffix == ".gz":
            target = tmp / source.name[:-3]
            target.write_bytes(gzip.decompress(source.read_bytes()))
            return target
        return _copy(source, tmp)

    return build


def ge_mprage(tmp: Path) -> Path:
    """Like the GE 3D T1 MP-RAGE series of the issue: no RescaleSlope, a T1 word in the description."""
    rng = np.random.default_rng(1)
    image = np.where(rng.random((6, 32, 32)) < 0.6, 2.0, rng.uniform(300, 4200, (6, 32, 32)))
    write_dicom_series(tmp / "mprage", np.round(image), image_type=("ORIGINAL", "PRIMARY", "OTHER"),
                       description="3D Ax T1 MP-RAGE", slope=None)
    return tmp / "mprage"


def enhanced_maps(tmp: Path) -> Path:
    maps = [QuantMap(brain_like(k, shape=(4, 16, 16), seed=i), spacing=(0.86, 0.86, 5), kind=MapKind(k))
            for i, k in enumerate(("T1", "T2", "PD"))]
    return write_enhanced(tmp / "enh", maps).parent


REFUSED = "not a quantitative T1/T2/PD map; nothing was written"
# (case, builder, extra sr arguments, expected exit status, text expected in the output)
CORPUS = [
    ("pydicom MR_small.dcm (no words; values fit T1)", pydicom_file("MR_small.dcm"), [], 0, "T1: 1 slices 64×64"),
    ("pydicom MR_small_RLE.dcm", pydicom_file("MR_small_RLE.dcm"), [], 0, "T1: 1 slices 64×64"),
    ("pydicom MR_truncated.dcm", pydicom_file("MR_truncated.dcm"), [], 1, "pixel data is damaged or incomplete"),
    ("pydicom-data emri_small.dcm", pydicom_data("emri_small.dcm"), [], 1,
     "looks like a T1-weighted image (Enhanced MR image flavour T1"),
    ("pydicom-data emri_small_RLE.dcm", pydicom_data("emri_small_RLE.dcm"), [], 1, "T1-weighted image"),
    ("pydicom-data emri_small_big_endian.dcm", pydicom_data("emri_small_big_endian.dcm"), [], 1,
     "T1-weighted image"),
    ("pydicom-data emri_small_jpeg_2k_lossless.dcm", pydicom_data("emri_small_jpeg_2k_lossless.dcm"), [], 1,
     "T1-weighted image"),
    ("emri_small.dcm forced: no functional groups", pydicom_data("emri_small.dcm"), ["--map", "T1", "--force"], 1,
     "ImageOrientationPatient is missing"),
    ("pydicom-data MR2_UNCR.dcm (Philips)", pydicom_data("MR2_UNCR.dcm"), [], 1, "looks like a magnitude image"),
    ("pydicom-data MR-SIEMENS-DICOM-WithOverlays.dcm", pydicom_data("MR-SIEMENS-DICOM-WithOverlays.dcm"), [], 1,
     "reformatted image (MPR)"),
    ("nibabel philips_mprage.dcm.gz (enhanced)", nibabel_file("nicom", "tests", "data", "philips_mprage.dcm.gz"),
     [], 1, "(MPRAGE)"),
    ("nibabel 0.dcm (Siemens DTI mosaic)", nibabel_file("tests", "data", "0.dcm"), [], 1, "(DIFFUSION)"),
    ("nibabel csa_slice_norm.dcm (header only)", nibabel_file("nicom", "tests", "data", "csa_slice_norm.dcm"), [],
     1, "DICOM image without pixel data"),
    ("nibabel slicethickness_empty_string.dcm (MIP)",
     nibabel_file("nicom", "tests", "data", "slicethickness_empty_string.dcm"), [], 1, "(MIP)"),
    ("nibabel decimal_rescale.dcm (qT1 map, zeroed pixels)",
     nibabel_file("nicom", "tests", "data", "decimal_rescale.dcm"), [], 1, "almost no voxel lies above 100 ms"),
    ("generated GE-style 3D T1 MP-RAGE", ge_mprage, [], 1, "(MP-RAGE)"),
    ("generated enhanced B0 field map", write_field_map, [], 1, "B0 field map"),
    ("generated enhanced T1-weighted", write_weighted_enhanced, [], 1, "T1-weighted image"),
    ("generated enhanced T1-weighted, forced", write_weighted_enhanced, ["--map", "T1", "--force"], 0, "T1: 4 slices"),
    ("generated enhanced T1/T2/PD maps", enhanced_maps, [], 0, "PD: 4 slices"),
]


@pytest.mark.parametrize(("case", "build", "extra", "status", "message"), CORPUS, ids=[c[0] for c in CORPUS])
def test_real_file_corpus(case, build, extra, status, message, tmp_path, capsys) -> None:
    source = build(tmp_path)
    assert main(["series", str(source)]) == 0, case  # always listed
    out = tmp_path / "out"
    assert main(["sr", str(source), "-o", str(out / "r.nrrd"), "--method", "bicubic", *extra]) == status, case
    captured = capsys.readouterr()
    said = captured.out + captured.err
    assert message in said, f"{case}: expected {message!r} in {said!r}"
    assert "Traceback" not in said
    if status:
        assert not out.exists() or not any(out.iterdir())
        if "--force" not in extra and "looks like" in message:
            assert REFUSED in said and "--force" in said


def test_field_map_frames_are_split_by_frame_type(tmp_path) -> None:
    table = describe_series(write_field_map(tmp_path))
    assert table.count("not a map") == 2 and "B0 field map" in table and "T1-weighted" in table




def _three_maps() -> list[QuantMap]:
    direction = oblique_direction(15)
    return [QuantMap(brain_like(k, shape=(4, 16, 20), seed=i), origin=(-90, -100, 12), spacing=(0.86, 0.9, 5),
                     direction=direction, kind=MapKind(k)) for i, k in enumerate(("T1", "T2", "PD"))]


def test_enhanced_map_object_reads_and_super_resolves_like_the_classic_series(tmp_path, tiny_model) -> None:
    maps = _three_maps()
    enhanced = write_enhanced(tmp_path / "enhanced", maps)
    context = StudyContext.new("CLS01", seed="classic")
    for qmap in maps:
        write_series(qmap, tmp_path / "classic" / qmap.kind.value, context, f"{qmap.kind.value} map", 3)
    from_enhanced = load_maps(enhanced.parent)
    from_classic = load_maps(tmp_path / "classic")
    assert [m.kind for m in from_enhanced] == [MapKind.T1, MapKind.T2, MapKind.PD]
    for a, b, truth in zip(from_enhanced, from_classic, maps, strict=True):
        assert a.same_geometry(b, tol=1e-5) and a.same_geometry(truth, tol=1e-4)
        np.testing.assert_array_equal(a.array, b.array)
    outputs = {}
    for name, source in (("enhanced", enhanced.parent), ("classic", tmp_path / "classic" / "T1")):
        target = tmp_path / f"sr_{name}.nrrd"
        assert main(["sr", str(source), "-o", str(target), "--map", "T1", "--model", str(tiny_model),
                     "--device", "cpu"]) == 0
        outputs[name] = read_image(target)
    assert outputs["enhanced"].same_geometry(outputs["classic"], tol=1e-5)
    np.testing.assert_array_equal(outputs["enhanced"].array, outputs["classic"].array)


@pytest.mark.parametrize("layout", ["same", "classic", "enhanced"])
def test_dicom_output_layout_and_dciodvfy(layout, tmp_path, tiny_model) -> None:
    source = write_enhanced(tmp_path / "in", _three_maps()[:1]).parent
    out = tmp_path / "out"
    assert main(["sr", str(source), "-o", str(out), "--format", "dicom", "--dicom-layout", layout,
                 "--model", str(tiny_model), "--device", "cpu"]) == 0
    files = sorted((out / "T1_DL").iterdir())
    ds = pydicom.dcmread(files[0])
    if layout == "classic":
        assert len(files) == 4 and ds.SOPClassUID == pydicom.uid.MRImageStorage
        assert ds.SourceImageSequence[0].ReferencedFrameNumber == 1
    else:
        assert len(files) == 1 and int(ds.NumberOfFrames) == 4
        reference = ds.PerFrameFunctionalGroupsSequence[2].DerivationImageSequence[0].SourceImageSequence[0]
        assert reference.ReferencedFrameNumber == 3
    (back,) = load_maps(out / "T1_DL")
    assert back.kind is MapKind.T1 and back.shape == (4, 32, 40)
    dciodvfy = require_tool("dciodvfy")
    report = subprocess.run([dciodvfy, str(files[0])], capture_output=True, text=True)
    assert "Error" not in report.stdout + report.stderr, report.stdout + report.stderr


def test_generated_multi_map_object_is_dciodvfy_clean(tmp_path) -> None:
    dciodvfy = require_tool("dciodvfy")
    path = write_enhanced(tmp_path / "enh", _three_maps())
    report = subprocess.run([dciodvfy, str(path)], capture_output=True, text=True)
    said = report.stdout + report.stderr
    assert "EnhancedMRImage" in said and "Error" not in said, said


def test_folder_with_one_broken_file_lists_and_processes_the_good_series(tmp_path, capsys) -> None:
    study = pydicom.uid.generate_uid()
    write_dicom_series(tmp_path / "in" / "t1", brain_like("T1", shape=(4, 16, 16)), study_uid=study)
    write_dicom_series(tmp_path / "in" / "t2", brain_like("T2", shape=(3, 16, 16)), study_uid=study,
                       series_number=4, image_type=("DERIVED", "PRIMARY", "QMAP", "T2"), description="T2 map",
                       per_instance=lambda ds, k: ds.__delattr__("PixelData") if k == 1 else None)
    (tmp_path / "in" / "broken.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\x02\x00\x00\x00UL\x04\x00" + b"\xff" * 3)
    assert main(["series", str(tmp_path / "in")]) == 0
    table = capsys.readouterr().out
    assert "T1" in table and "unreadable" in table and "without pixel data" in table
    assert main(["sr", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--method", "bicubic"]) == 0
    said = capsys.readouterr()
    assert "T1: 4 slices" in said.out and "skipping series #4 T2 map" in said.err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["T1_bicubic.nrrd"]
    assert main(["sr", str(tmp_path / "in"), "-o", str(tmp_path / "o2"), "--series", "4", "--method",
                 "bicubic"]) == 1
    assert "without pixel data" in capsys.readouterr().err and not (tmp_path / "o2").exists()
