"""ROIs defined once are measured on the same physical region of volumes with different grids."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from quantsr.baselines import upsample
from quantsr.io.images import write_image
from quantsr.mapkinds import MapKind
from quantsr.roi import (
    RoiStats,
    box_mask,
    labels_on_grid,
    measure_labels,
    paired_tests,
    region_stats,
    write_stats_csv,
)
from quantsr.roibatch import batch_measure
from quantsr.volume import QuantMap


def _pattern(matrix: int, box_lo: float, box_hi: float) -> QuantMap:
    """T2 map over 0–64 mm: 150 ms inside a physical box, 80 ms outside."""
    pixel = 64.0 / matrix
    centres = (np.arange(matrix) + 0.5) * pixel
    inside = ((centres >= box_lo) & (centres <= box_hi))
    plane = np.where(inside[:, None] & inside[None, :], 150.0, 80.0)
    return QuantMap(np.stack([plane] * 3), origin=(pixel / 2, pixel / 2, 0), spacing=(pixel, pixel, 5.0),
                    kind=MapKind.T2)


def test_label_defined_on_routine_measures_same_region_on_fast_grid() -> None:
    routine, fast = _pattern(128, 20, 40), _pattern(64, 20, 40)
    labels = routine.with_array(np.zeros(routine.shape, np.float32))
    labels.array[1, 48:80, 48:80] = 1  # 24–40 mm: strictly inside the box
    rows = measure_labels(labels, {"fast": [fast], "routine": [routine]}, {1: ("L1", "WMH")})
    assert [r.protocol for r in rows] == ["fast", "routine"]
    for row in rows:
        assert row.mean == pytest.approx(150.0) and row.sd == pytest.approx(0.0)
        assert row.volume_mm3 == pytest.approx(16 * 16 * 5, rel=0.15)  # same physical size on both grids
        assert row.roi == "L1" and row.description == "WMH" and row.map == "T2"
    assert rows[0].voxels * 4 == rows[1].voxels


def test_labels_follow_physical_position_not_index() -> None:
    fast = _pattern(64, 20, 40)
    up = upsample(fast, 2, "linear")
    labels = fast.with_array(np.zeros(fast.shape, np.float32))
    labels.array[0, 10, 30] = 2
    grid = labels_on_grid(labels, up)
    assert np.argwhere(grid == 2).tolist() == [[0, 20, 60], [0, 20, 61], [0, 21, 60], [0, 21, 61]]


def test_box_mask_oblique_axes() -> None:
    q = _pattern(64, 20, 40)
    angle = np.deg2rad(45)
    axes = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    mask = box_mask(q, centre_lps=(32, 32, 5), size_mm=(10, 10, 1), axes=axes)
    assert mask[0].sum() == 0 and mask[2].sum() == 0
    area = mask[1].sum() * q.spacing[0] ** 2
    assert area == pytest.approx(100, rel=0.15)  # 1 mm voxels on a rotated 10 mm square


def test_stats_and_csv(tmp_path) -> None:
    q = QuantMap(np.arange(10, dtype=np.float32).reshape(1, 2, 5), kind="PD")
    stats = region_stats(q, q.array >= 5, "R", "dl")
    assert (stats.mean, stats.median, stats.voxels) == (7.0, 7.0, 5)
    assert stats.sd == pytest.approx(np.std(np.arange(5, 10), ddof=1))
    path = write_stats_csv([stats], tmp_path / "roi.csv")
    lines = path.read_text().splitlines()
    assert lines[0].startswith("roi,description,map,protocol,voxels")
    assert lines[1].startswith("R,,PD,dl,5,")


def _row(roi: str, protocol: str, mean: float, map_name: str = "T2", voxels: int = 10) -> RoiStats:
    return RoiStats(roi, "", map_name, protocol, voxels, 1.0, mean, 0.0, mean)


def test_paired_tests_pair_rois_by_name_against_routine() -> None:
    routine = {"L1": 100.0, "L2": 120.0, "L3": 90.0}
    dl = {"L1": 101.0, "L2": 123.0, "L3": 92.0}
    rows = [_row(k, "routine", v) for k, v in routine.items()] + [_row(k, "DL", v) for k, v in dl.items()]
    rows += [_row("L9", "DL", 500.0), _row("L3", "fast", 80.0), _row("L1", "fast", 0.0, voxels=0)]
    tests = {t["comparison"]: t for t in paired_tests(rows)}
    expected = stats.ttest_rel(list(dl.values()), list(routine.values()))
    assert tests["DL vs routine"]["rois"] == 3 and tests["DL vs routine"]["mean_difference"] == pytest.approx(2.0)
    assert tests["DL vs routine"]["t"] == pytest.approx(expected.statistic)
    assert tests["DL vs routine"]["p"] == pytest.approx(expected.pvalue)
    assert tests["fast vs routine"]["rois"] == 1 and np.isnan(tests["fast vs routine"]["p"])  # one pair: no test
    assert paired_tests([_row("L1", "DL", 1.0, "T1")]) == []  # no routine: nothing to compare with


def test_batch_measure_reports_a_failing_study_and_measures_the_rest(tmp_path) -> None:
    routine, fast = _pattern(128, 20, 40), _pattern(64, 20, 40)
    labels = routine.with_array(np.zeros(routine.shape, np.float32))
    labels.array[1, 48:80, 48:80] = 1
    write_image(labels, tmp_path / "lesions.nrrd")
    write_image(fast, tmp_path / "p1" / "fast_T2.nrrd")
    write_image(routine, tmp_path / "p1" / "routine_T2.nrrd")
    studies = {"p1": {"fast": tmp_path / "p1" / "fast_T2.nrrd", "routine": tmp_path / "p1" / "routine_T2.nrrd"},
               "p2": {"fast": tmp_path / "p2" / "missing.nrrd"}}
    rows, results = batch_measure(tmp_path / "lesions.nrrd", studies, tmp_path / "rois.csv")
    assert [(r.study, r.status) for r in results] == [("p1", "done"), ("p2", "failed")]
    assert "missing.nrrd" in results[1].reason
    assert [(r.protocol, r.description, r.mean) for r in rows] == [("fast", "p1", 150.0), ("routine", "p1", 150.0)]
    assert (tmp_path / "rois.csv").read_text().count("\n") == 3  # header + two rows
