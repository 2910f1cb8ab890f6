"""`quantsr simulate` and `quantsr demo` as a new user runs them."""

from __future__ import annotations

import csv

import numpy as np

from quantsr.cli import main
from quantsr.io.loader import load_maps
from quantsr.mapkinds import MapKind


def test_simulate_writes_a_resumable_cohort(tmp_path, capsys) -> None:
    out = tmp_path / "cohort"
    assert main(["simulate", "-o", str(out), "--subjects", "0", "--patients", "1", "--seed", "5"]) == 0
    assert "simulated 1 subject(s)" in capsys.readouterr().out
    with open(out / "manifest.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["group"] for r in rows} == {"patient"}
    fast_t1 = next(r for r in rows if r["map"] == "T1" and r["protocol"] == "fast")
    (qmap,) = load_maps(out / fast_t1["path"])
    assert qmap.kind is MapKind.T1 and qmap.shape == (24, 256, 256)
    stamp = (out / "sub-001" / "subject.json").stat().st_mtime_ns
    assert main(["simulate", "-o", str(out), "--subjects", "0", "--patients", "1", "--seed", "5"]) == 0
    assert (out / "sub-001" / "subject.json").stat().st_mtime_ns == stamp  # finished subjects are kept
    assert main(["simulate", "-o", str(out), "--subjects", "0", "--patients", "1", "--seed", "6"]) == 1
    assert "simulated with seed" in capsys.readouterr().err


def test_demo_produces_dicom_table_and_figure(tmp_path, capsys) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--lesions", "2"]) == 0
    printed = capsys.readouterr()
    assert "lesion ROI table" in printed.out and str(out / "comparison.png") in printed.out
    sr = load_maps(out / "sr_dicom")
    assert [m.kind for m in sr] == [MapKind.T1, MapKind.T2, MapKind.PD] and sr[0].shape == (24, 512, 512)
    routine = load_maps(out / "input" / "sub-001" / "dicom" / "routine")
    assert all(a.same_geometry(b, tol=1e-4) for a, b in zip(sr, routine, strict=True))  # overlays routine
    with open(out / "lesion_rois.csv") as handle:
        rows = list(csv.DictReader(handle))
    protocols = {r["protocol"] for r in rows}
    assert {"fast", "routine", "truth"} <= protocols and len(protocols) == 4
    t2 = {r["protocol"]: float(r["mean"]) for r in rows if r["roi"] == "L1" and r["map"] == "T2"}
    assert abs(t2["routine"] - t2["truth"]) / t2["truth"] < 0.15
    png = (out / "comparison.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000
    assert np.isfinite([float(r["mean"]) for r in rows]).all()
