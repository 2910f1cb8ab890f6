"""Inputs outside the model's training envelope run with a warning in the terminal, the output's metadata
(NRRD key, DICOM DerivationDescription / ImageComments) and the Slicer panel's text; model files record
the envelope (exporter) and fall back to the bundled models' default."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
import torch
from helpers.dicom_factory import brain_like, write_dicom_series

from quantsr.cli import main
from quantsr.envelope import WARNING_KEY, Envelope, envelope_warnings, input_warning
from quantsr.errors import ModelError
from quantsr.io.images import write_image
from quantsr.mapkinds import MapKind
from quantsr.model import Generator, GeneratorConfig
from quantsr.modelfile import METADATA_KEY, ModelInfo, read_model_info, save_model
from quantsr.volume import QuantMap


def _t1(spacing: float, matrix: int, thickness: float = 5.0) -> QuantMap:
    return QuantMap(brain_like("T1", shape=(3, matrix, matrix)), spacing=(spacing, spacing, thickness),
                    kind=MapKind.T1)


def test_inside_the_default_envelope_says_nothing() -> None:
    assert envelope_warnings(_t1(0.859375, 256), Envelope.default(MapKind.T1)) == []


def test_two_mm_input_is_outside() -> None:
    problems = envelope_warnings(_t1(2.0, 128, 2.0), Envelope.default(MapKind.T1))
    assert any("pixel spacing 2×2 mm (trained on 0.859 mm)" in p for p in problems)
    assert any("slice thickness 2 mm" in p for p in problems)


def test_two_mm_map_warns_in_terminal_nrrd_dicom_and_slicer_text(tmp_path, tiny_model, capsys) -> None:
    source = tmp_path / "qmrlab_T1map.nrrd"
    write_image(_t1(2.0, 24), source)
    out = tmp_path / "t1_dl.nrrd"
    assert main(["sr", str(source), "-o", str(out), "--model", str(tiny_model), "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "outside the training envelope of t1.safetensors" in err and "pixel spacing 2×2 mm" in err
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(out))
    reader.ReadImageInformation()
    assert "pixel spacing 2×2 mm" in reader.GetMetaData(WARNING_KEY)
    assert main(["sr", str(source), "-o", str(tmp_path / "dcm"), "--format", "dicom", "--model", str(tiny_model),
                 "--device", "cpu"]) == 0
    ds = pydicom.dcmread(sorted((tmp_path / "dcm" / "T1_DL").iterdir())[0])
    assert "WARNING" in ds.DerivationDescription and "pixel spacing 2×2 mm" in ds.ImageComments
    from QuantSRLib.envelope import envelope_warning  # the Slicer panel's text (Qt-free)

    assert "pixel spacing 2×2 mm" in envelope_warning(_t1(2.0, 24), tiny_model)
    assert envelope_warning(_t1(0.859375, 256), tiny_model) == ""


def test_dicom_2mm_series_warns_and_inside_input_does_not(tmp_path, tiny_model, capsys) -> None:
    write_dicom_series(tmp_path / "in", brain_like("T1", shape=(3, 16, 16)), spacing=(2.0, 2.0, 5.0))
    assert main(["sr", str(tmp_path / "in"), "-o", str(tmp_path / "o.nrrd"), "--model", str(tiny_model),
                 "--device", "cpu"]) == 0
    assert "outside the training envelope" in capsys.readouterr().err
    assert main(["sr", str(tmp_path / "in"), "-o", str(tmp_path / "b.nrrd"), "--method", "bicubic"]) == 0
    assert "envelope" not in capsys.readouterr().err  # no model, no envelope


def test_model_file_records_its_envelope_and_rejects_a_malformed_one(tmp_path) -> None:
    envelope = Envelope(pixel_spacing_mm=(1.0, 2.0), matrix=(128, 128), slice_thickness_mm=(2.0, 2.0),
                        value_range=(0.0, 5000.0), source="measured")
    info = ModelInfo(MapKind.T1, MapKind.T1.norm_physical, envelope=envelope)
    path = save_model(Generator(GeneratorConfig(channels=4, residual_blocks=1)), info, tmp_path / "m.safetensors")
    back = read_model_info(path)
    assert back.training_envelope == envelope
    assert input_warning(_t1(2.0, 128, 2.0), path) == ""
    plain = save_model(Generator(GeneratorConfig(channels=4, residual_blocks=1)),
                       ModelInfo(MapKind.T2, MapKind.T2.norm_physical), tmp_path / "p.safetensors")
    assert read_model_info(plain).envelope is None
    assert read_model_info(plain).training_envelope.value_range == (0.0, 2200.0)  # bundled default
    data = info.to_json()
    data["envelope"] = {"pixel_spacing_mm": [-1, 1]}
    with pytest.raises(ModelError, match="malformed training envelope"):
        ModelInfo.from_json(json.loads(json.dumps(data)))
    assert METADATA_KEY == "quantsr"


def test_exporter_records_the_measured_envelope(tmp_path) -> None:
    pytest.importorskip("quantsr_training")
    from quantsr_training.cli import main as train_main

    cohort = tmp_path / "cohort"
    rows = ["subject,map,fast,routine"]
    for subject in ("s1", "s2"):
        fast = QuantMap(brain_like("T1", shape=(2, 16, 16)), spacing=(1.5, 1.5, 3.0), kind=MapKind.T1)
        routine = QuantMap(brain_like("T1", shape=(2, 32, 32)), spacing=(0.75, 0.75, 3.0), kind=MapKind.T1)
        write_image(fast, cohort / subject / "t1_fast.nrrd")
        write_image(routine, cohort / subject / "t1_routine.nrrd")
        rows += [f"{subject},T1,{subject}/t1_fast.nrrd,{subject}/t1_routine.nrrd"]
    (cohort / "manifest.csv").write_text("\n".join(rows) + "\n")
    generator = Generator(GeneratorConfig(channels=4, residual_blocks=1))
    state = {"iteration": 1, "generator": generator.state_dict(), "data": {"train_subjects": ["s1"]},
             "config": {"data": {"map": "T1", "cohort": str(cohort)},
                        "model": {"channels": 4, "residual_blocks": 1, "scale": 2}}}
    torch.save(state, tmp_path / "last.pt")
    assert train_main(["export", str(tmp_path / "last.pt"), "-o", str(tmp_path / "m.safetensors")]) == 0
    envelope = read_model_info(tmp_path / "m.safetensors").envelope
    assert envelope is not None and envelope.pixel_spacing_mm == (1.5, 1.5) and envelope.matrix == (16, 16)
    assert envelope.slice_thickness_mm == (3.0, 3.0) and envelope.source.startswith("measured on 2 subject(s)")
    assert np.isfinite(envelope.value_range[1])
