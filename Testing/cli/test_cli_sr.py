"""`quantsr sr` end to end as a user runs it: files in, files out, clear errors, never a traceback."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from quantsr.cli import main
from quantsr.io.images import read_image, write_image
from quantsr.mapkinds import MapKind
from quantsr.model import Generator, GeneratorConfig
from quantsr.modelfile import ModelInfo, save_model
from quantsr.volume import QuantMap


def _fast_map(kind: MapKind = MapKind.T1, shape=(3, 32, 32)) -> QuantMap:
    k, j, i = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    smooth = 1000 + 400 * np.sin(i / 5.0) * np.cos(j / 7.0) + 20 * k  # smooth, so ×2 block means ≈ input
    direction = sitk.VersorRigid3DTransform((0, 0, np.sin(0.1), np.cos(0.1))).GetMatrix()
    return QuantMap(smooth, origin=(-110, -100, 20), spacing=(0.859375, 0.859375, 5.0),
                    direction=np.asarray(direction).reshape(3, 3), kind=kind)


@pytest.fixture
def tiny_model(tmp_path):
    torch.manual_seed(0)
    info = ModelInfo(MapKind.T1, MapKind.T1.norm_physical, trained_on="unit test")
    return save_model(Generator(GeneratorConfig(channels=4, residual_blocks=1)), info, tmp_path / "t1.safetensors")


def test_sr_nrrd_to_nifti_with_model(tmp_path, tiny_model, capsys) -> None:
    source = tmp_path / "sub01_T1_fast.nrrd"
    write_image(_fast_map(), source)
    before = source.read_bytes()
    out = tmp_path / "out" / "t1_dl.nii.gz"
    assert main(["sr", str(source), "-o", str(out), "--model", str(tiny_model), "--device", "cpu"]) == 0
    result = read_image(out)
    fast = read_image(source)
    assert result.shape == (3, 64, 64)
    np.testing.assert_allclose(result.spacing, (0.4296875, 0.4296875, 5.0), atol=1e-5)
    np.testing.assert_allclose(result.direction, fast.direction, atol=1e-5)
    quarter = fast.direction @ np.array([0.25 * 0.859375, 0.25 * 0.859375, 0])
    np.testing.assert_allclose(result.origin, np.asarray(fast.origin) - quarter, atol=1e-4)
    assert source.read_bytes() == before  # input untouched
    line = capsys.readouterr().out
    assert "T1: 3 slices 32×32 → 64×64" in line and "cpu" in line


def test_sr_bicubic_baseline(tmp_path) -> None:
    source = tmp_path / "t2map.nrrd"
    write_image(_fast_map(MapKind.T2), source)
    out = tmp_path / "t2_bicubic.nrrd"
    assert main(["sr", str(source), "-o", str(out), "--method", "bicubic"]) == 0
    result = read_image(out)
    assert result.kind is MapKind.T2 and result.shape == (3, 64, 64)
    np.testing.assert_allclose(result.array.reshape(3, 32, 2, 32, 2).mean((2, 4)), read_image(source).array,
                               rtol=0.02)


def test_sr_errors_are_messages_not_tracebacks(tmp_path, tiny_model, capsys) -> None:
    missing = tmp_path / "nothing_here"
    assert main(["sr", str(missing), "-o", str(tmp_path / "o.nrrd")]) == 1
    err = capsys.readouterr().err
    assert "nothing_here" in err and "Traceback" not in err
    t2 = tmp_path / "t2.nrrd"
    write_image(_fast_map(MapKind.T2), t2)
    assert main(["sr", str(t2), "-o", str(tmp_path / "o.nrrd"), "--model", str(tiny_model)]) == 1
    assert "T1 maps but the input is a T2" in capsys.readouterr().err
    assert not (tmp_path / "o.nrrd").exists()


def test_version_and_help(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and "quantsr 0." in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["sr", "--help"])
    assert "--batch-size" in capsys.readouterr().out


def test_dicom_folder_with_three_maps_to_dicom_and_nrrd(tmp_path, capsys, monkeypatch) -> None:
    import pydicom
    from helpers.dicom_factory import brain_like, write_dicom_series

    from quantsr.io.loader import load_maps

    study = tmp_path / "study"
    study_uid = pydicom.uid.generate_uid()
    for number, kind in enumerate(("T1", "T2", "PD"), start=3):
        write_dicom_series(study / kind, brain_like(kind, shape=(2, 16, 16)), series_number=number,
                           image_type=("DERIVED", "PRIMARY", "QMAP", kind), description=f"{kind} map",
                           study_uid=study_uid)
    assert main(["series", str(study)]) == 0
    assert "T1 map" in capsys.readouterr().out
    out = tmp_path / "sr_dicom"
    assert main(["sr", str(study), "-o", str(out), "--method", "linear", "--format", "dicom"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["PD_linear", "T1_linear", "T2_linear"]
    maps = load_maps(out)
    assert [m.kind for m in maps] == [MapKind.T1, MapKind.T2, MapKind.PD] and maps[0].shape == (2, 32, 32)
    assert main(["sr", str(study), "-o", str(tmp_path / "x.nrrd"), "--method", "bicubic"]) == 0
    assert sorted(p.name for p in tmp_path.glob("x_*.nrrd")) == ["x_PD.nrrd", "x_T1.nrrd", "x_T2.nrrd"]
    assert main(["sr", str(study), "-o", str(study / "inside.nrrd"), "--method", "bicubic"]) == 1
    assert "inside the input" in capsys.readouterr().err
    # one map of the folder by the bundled DL model: the folder's other maps are read as its guides, not resolved,
    # and the map itself is read once
    from quantsr.io import dicom_read, loader

    read = []

    def counted(info, *args):
        read.append(info.kind)
        return dicom_read.read_series(info, *args)

    monkeypatch.setattr(loader, "read_series", counted)
    assert main(["sr", str(study), "-o", str(tmp_path / "t1_dl.nrrd"), "--map", "T1", "--device", "cpu"]) == 0
    assert read_image(tmp_path / "t1_dl.nrrd").shape == (2, 32, 32) and not list(tmp_path.glob("t1_dl_*"))
    assert sorted(kind.value for kind in read) == ["PD", "T1", "T2"]


@pytest.mark.parametrize("flag, value, message", [("--batch-size", "0", "--batch-size must be at least 1"),
                                                  ("--memory-mb", "-5", "--memory-mb must be positive")])
def test_bad_inference_options_are_refused_before_any_work(tmp_path, capsys, flag, value, message) -> None:
    assert main(["sr", str(tmp_path / "missing"), "-o", str(tmp_path / "o.nrrd"), flag, value]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err  # checked before the (missing) input is read


def test_every_command_that_runs_a_model_takes_the_same_inference_options(capsys) -> None:
    from quantsr.cli import build_parser
    from quantsr_training.cli import build_parser as training_parser

    parsers = [build_parser(), training_parser()]
    commands = [(parsers[0], "sr"), (parsers[0], "batch"), (parsers[0], "report"), (parsers[1], "evaluate")]
    for parser, command in commands:
        with pytest.raises(SystemExit):
            parser.parse_args([command, "--help"])
        text = capsys.readouterr().out
        for option in ("--device", "--batch-size", "--memory-mb", "--runtime"):
            assert option in text, f"{command} lacks {option}"


def test_sr_of_one_map_with_a_guide_map_model_reads_the_guides_given(tmp_path, capsys) -> None:
    torch.manual_seed(0)
    info = ModelInfo(MapKind.T1, MapKind.T1.norm_physical, guide_kinds=(MapKind.T2, MapKind.PD))
    model = save_model(Generator(GeneratorConfig(channels=4, residual_blocks=1, in_channels=3, residual="bicubic")),
                       info, tmp_path / "t1_guided.safetensors")
    t1 = _fast_map()
    paths = {}
    for kind, scale in ((MapKind.T1, 1.0), (MapKind.T2, 0.08), (MapKind.PD, 0.07)):
        paths[kind] = tmp_path / f"fast_{kind.value}.nrrd"
        write_image(t1.with_array(t1.array * scale, kind=kind), paths[kind])
    out = tmp_path / "t1_dl.nrrd"
    command = ["sr", str(paths[MapKind.T1]), "-o", str(out), "--model", str(model), "--device", "cpu"]
    assert main(command) == 1
    assert "also reads the study's fast T2, PD maps; T2 and PD not given" in capsys.readouterr().err
    assert not out.exists()
    assert main([*command, "--guide", str(paths[MapKind.T2]), "--guide", str(paths[MapKind.PD])]) == 0
    result = read_image(out)
    assert result.shape == (3, 64, 64) and abs(float(result.array.mean()) - float(t1.array.mean())) < 50  # ms
