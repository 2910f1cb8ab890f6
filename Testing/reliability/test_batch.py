"""Batch mode: 20 studies with 3 broken ones finish the 17, list the 3, exit non-zero; a re-run skips
finished studies and redoes partial ones."""

from __future__ import annotations

import shutil

from helpers.dicom_factory import brain_like, write_dicom_series

from quantsr.batch import COMPLETE_MARKER
from quantsr.cli import main


def _studies(root, count: int = 20, broken: tuple[int, ...] = (4, 11, 17)) -> None:
    for index in range(count):
        study = root / f"study{index:02d}"
        if index == 4:
            study.mkdir(parents=True)
            (study / "report.pdf").write_bytes(b"%PDF-1.4 not an image")
        elif index == 11:
            paths = write_dicom_series(study / "T1", brain_like("T1", shape=(4, 16, 16)), shuffle=False)
            paths[2].unlink()  # a missing slice
        elif index == 17:
            write_dicom_series(study / "T2", brain_like("T2", shape=(3, 16, 16)), slope=None,
                               per_instance=lambda ds, k: setattr(ds, "RescaleSlope", 0))
        else:
            write_dicom_series(study / "T1", brain_like("T1", shape=(2, 16, 16), seed=index))
    assert index + 1 == count and len(broken) == 3


def test_twenty_studies_three_broken(tmp_path, capsys) -> None:
    root, out = tmp_path / "studies", tmp_path / "out"
    _studies(root)
    assert main(["batch", str(root), "-o", str(out), "--method", "bicubic", "--format", "nrrd"]) == 1
    printed = capsys.readouterr().out
    assert "20 studies: 17 done, 0 already complete, 3 failed" in printed
    assert "study04" in printed and "contains no DICOM files" in printed
    assert "study11" in printed and "missing slice" in printed
    assert "study17" in printed and "RescaleSlope is 0" in printed
    finished = sorted(p.name for p in out.iterdir() if (p / COMPLETE_MARKER).exists())
    assert len(finished) == 17 and not (out / "study04").exists()

    # a partial study (interrupted before its marker) is redone; finished ones are skipped
    shutil.rmtree(out / "study05")
    (out / "study05").mkdir()
    (out / "study05" / "T1_bicubic.nrrd").write_bytes(b"half")
    assert main(["batch", str(root), "-o", str(out), "--method", "bicubic", "--format", "nrrd"]) == 1
    printed = capsys.readouterr().out
    assert "20 studies: 1 done, 16 already complete, 3 failed" in printed
    assert (out / "study05" / COMPLETE_MARKER).exists()
    assert (out / "study05" / "T1_bicubic.nrrd").stat().st_size > 100
