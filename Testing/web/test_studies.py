"""What `quantsr view PATH` finds in PATH (headers only, no browser, no Slicer): a DICOM + NRRD study folder,
unnamed fast / routine grids, an sr output with its inputs, a batch output, a folder of studies, a cohort."""

from __future__ import annotations

import json

import numpy as np
import pytest

from quantsr.errors import InputError
from quantsr.io.dicom_write import StudyContext, write_series
from quantsr.io.images import write_image
from quantsr.mapkinds import QUANT_KINDS, MapKind
from quantsr.view.studies import open_catalog
from quantsr.volume import QuantMap

VALUES = {MapKind.T1: 900.0, MapKind.T2: 90.0, MapKind.PD: 70.0}


def _map(kind: MapKind, matrix: int, method: str | None = None) -> QuantMap:
    """A 2-slice map over a 64 mm FOV with a brighter square (values typical of the kind)."""
    plane = np.full((matrix, matrix), VALUES[kind], np.float32)
    plane[matrix // 4: matrix // 2, matrix // 4: matrix // 2] *= 1.5
    pixel = 64.0 / matrix
    metadata = {"method": method} if method else {}
    return QuantMap(np.stack([plane, plane]), origin=(pixel / 2, pixel / 2, 0.0), spacing=(pixel, pixel, 5.0),
                    kind=kind, metadata=metadata)


def _dicom(folder, kind: MapKind, matrix: int, description: str, number: int, context: StudyContext) -> None:
    write_series(_map(kind, matrix), folder, context, description, number)


def _where(study) -> dict[str, dict[str, str]]:
    return {protocol: {kind.value: source.path.name for kind, source in by_kind.items()}
            for protocol, by_kind in study.maps.items()}


def test_study_folder_with_dicom_series_and_nrrd_maps(tmp_path) -> None:
    context = StudyContext.new("P1", seed="view-1")
    for number, kind in enumerate(QUANT_KINDS, start=1):
        _dicom(tmp_path / "dicom" / "fast" / kind.value, kind, 16, f"MAGiC {kind.value} map", 100 + number, context)
        _dicom(tmp_path / "scans" / f"s{number}", kind, 32, f"MAGiC {kind.value} map (routine)", 200 + number,
               context)
        write_image(_map(kind, 32, "dl"), tmp_path / "out" / f"{kind.value}_DL.nrrd")
        write_image(_map(kind, 32), tmp_path / "truth" / f"{kind.value}.nrrd")
    deviation = _map(MapKind.T1, 32).with_array(np.zeros((2, 32, 32), np.float32), kind=MapKind.UNKNOWN)
    write_image(deviation, tmp_path / "out" / "T1_DL_deviation_pct.nrrd")  # a trust map: never shown as a map
    write_image(deviation, tmp_path / "truth" / "labels.nrrd")
    catalog = open_catalog(tmp_path)
    assert catalog.layout == "study" and len(catalog.studies) == 1
    (study,) = catalog.studies
    assert study.protocols == ["fast", "DL", "routine", "truth"]
    assert _where(study) == {"fast": {"T1": "T1", "T2": "T2", "PD": "PD"},  # DICOM series folders
                             "routine": {"T1": "s1", "T2": "s2", "PD": "s3"},
                             "DL": {"T1": "T1_DL.nrrd", "T2": "T2_DL.nrrd", "PD": "PD_DL.nrrd"},
                             "truth": {"T1": "T1.nrrd", "T2": "T2.nrrd", "PD": "PD.nrrd"}}
    maps, problems = study.read()
    assert problems == [] and maps["fast"][MapKind.T2].shape == (2, 16, 16)
    assert maps["routine"][MapKind.PD].array.max() == pytest.approx(105.0, abs=0.05)  # DICOM ×10, slope 0.1


def test_unnamed_grids_are_fast_then_routine(tmp_path) -> None:
    for kind in QUANT_KINDS:
        write_image(_map(kind, 16), tmp_path / "a" / f"{kind.value}.nrrd")
        write_image(_map(kind, 32), tmp_path / "b" / f"{kind.value}_map.nrrd")
    (study,) = open_catalog(tmp_path).studies
    assert _where(study) == {"fast": {"T1": "T1.nrrd", "T2": "T2.nrrd", "PD": "PD.nrrd"},
                             "routine": {"T1": "T1_map.nrrd", "T2": "T2_map.nrrd", "PD": "PD_map.nrrd"}}
    assert sum("taken as the fast scan" in note for note in study.notes) == 3
    assert sum("taken as the routine scan" in note for note in study.notes) == 3


def test_sr_output_with_its_inputs(tmp_path) -> None:
    for kind in QUANT_KINDS:
        write_image(_map(kind, 16), tmp_path / "study" / f"{kind.value}.nrrd")
        write_image(_map(kind, 32, "dl"), tmp_path / "out" / f"{kind.value}_DL.nrrd")
    alone = open_catalog(tmp_path / "out").studies[0]
    assert alone.protocols == ["DL"]
    (study,) = open_catalog(tmp_path / "out", inputs=tmp_path / "study").studies
    assert study.protocols == ["fast", "DL"] and len(study.maps["fast"]) == 3


def test_batch_output_pairs_each_study_with_its_input(tmp_path) -> None:
    for name in ("p01", "p02"):
        for kind in (MapKind.T1, MapKind.T2):
            write_image(_map(kind, 16), tmp_path / "in" / name / f"{kind.value}.nrrd")
            write_image(_map(kind, 32, "dl"), tmp_path / "out" / name / f"{kind.value}_DL.nrrd")
        (tmp_path / "out" / name / "quantsr-study.json").write_text(json.dumps({"study": name}))
    (tmp_path / "in" / "p02" / "T1.nrrd").unlink()
    catalog = open_catalog(tmp_path / "out", inputs=tmp_path / "in")
    assert catalog.layout == "batch output" and [s.name for s in catalog.studies] == ["p01", "p02"]
    assert _where(catalog.studies[0]) == {"fast": {"T1": "T1.nrrd", "T2": "T2.nrrd"},
                                          "DL": {"T1": "T1_DL.nrrd", "T2": "T2_DL.nrrd"}}
    assert _where(catalog.studies[1])["fast"] == {"T2": "T2.nrrd"}


def test_folder_of_studies_and_unreadable_maps(tmp_path) -> None:
    for name in ("anna", "bert", "carl"):
        for kind in QUANT_KINDS:
            write_image(_map(kind, 16), tmp_path / name / f"fast_{kind.value}.nrrd")
    (tmp_path / "bert" / "fast_T2.nrrd").write_bytes(b"NRRD0004\ncut short\n")
    catalog = open_catalog(tmp_path)
    assert catalog.layout == "studies" and [s.name for s in catalog.studies] == ["anna", "bert", "carl"]
    maps, problems = catalog.studies[1].read()
    assert sorted(k.value for k in maps["fast"]) == ["PD", "T1"]
    assert len(problems) == 1 and "fast T2 not shown" in problems[0] and "fast_T2.nrrd" in problems[0]


def test_cohort_subjects_and_errors(tmp_path) -> None:
    rows = ["subject,group,map,protocol,format,path"]
    for kind in QUANT_KINDS:
        for protocol, matrix in (("fast", 16), ("routine", 32), ("dl", 32)):
            path = write_image(_map(kind, matrix), tmp_path / "s1" / f"{protocol}{kind.value}.nrrd")
            rows.append(f"s1,patient,{kind.value},{protocol},nrrd,{path.relative_to(tmp_path)}")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    catalog = open_catalog(tmp_path)
    assert catalog.layout == "cohort" and catalog.studies[0].protocols == ["fast", "DL", "routine"]
    with pytest.raises(InputError, match="no such file or folder"):
        open_catalog(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no T1, T2 or PD map"):
        open_catalog(tmp_path / "empty")
