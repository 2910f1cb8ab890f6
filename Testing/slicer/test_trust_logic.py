"""The trust map in a real MRML scene (slicer-core wheel): the deviation volume of a DL node on the DL grid,
its diverging colours, legend and toggleable foreground overlay, and the ROI table's consistency / flag
columns that single out an ROI where DL departs from the fast scan."""

from __future__ import annotations

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="the slicer-core wheel is not installed")

from quantsr.mapkinds import MapKind  # noqa: E402
from quantsr.trust import fine_grid_like, to_fast_resolution, zero_filled_upsample  # noqa: E402
from quantsr.volume import QuantMap  # noqa: E402
from QuantSRLib.nodes import map_from_volume_node, volume_node_from_map  # noqa: E402
from QuantSRLib.trust import (  # noqa: E402
    COLOR_TABLES,
    CONSISTENCY_COLUMN,
    FLAG_COLUMN,
    PRECISION_COLUMN,
    SOURCE_ATTRIBUTE,
    find_trust_node,
    set_overlay,
)

N = 64
PIXEL = 220.0 / N


def _fast_and_dl(scene) -> tuple:
    """A band-limited fast T2 map (220 mm FOV centred on 0) and a DL map that is its zero-filled upsampling
    except 10 % brighter inside |x|, |y| < 30 mm (LPS): an "invented" region."""
    template = QuantMap(np.zeros((2, N, N)), origin=(-110 + PIXEL / 2, -110 + PIXEL / 2, 0.0),
                        spacing=(PIXEL, PIXEL, 5.0), kind=MapKind.T2)
    y, x = np.mgrid[0:2 * N, 0:2 * N] / (2 * N)
    plane = 100 + 15 * np.sin(2 * np.pi * 3 * x) * np.cos(2 * np.pi * 2 * y)
    fast = to_fast_resolution(fine_grid_like(template, np.stack([plane, plane]).astype(np.float32)), template)
    dl = zero_filled_upsample(fast)
    centres = dl.origin[0] + dl.spacing[0] * np.arange(2 * N)  # x and y share the axis values here
    box = (np.abs(centres) < 30)[:, None] & (np.abs(centres) < 30)[None, :]
    dl = dl.with_array(np.where(box[None], dl.array * 1.10, dl.array))
    fast_node = volume_node_from_map(scene, fast, "T2 fast", "fast")
    fast_node.SetAttribute("QuantSR.AcquisitionMatrix", "48 0 0 32")
    return fast_node, volume_node_from_map(scene, dl, "T2 DL", "DL")


def _roi(scene, name: str, centre_lps: tuple[float, float], size: float):
    roi = scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", name)
    roi.SetCenter(-centre_lps[0], -centre_lps[1], 2.5)  # RAS
    roi.SetSize(size, size, 10.0)
    return roi


def test_deviation_node_overlays_the_dl_volume_with_colours_and_legend(logic, scene) -> None:
    fast, dl = _fast_and_dl(scene)
    node = logic.show_trust_map(dl, fast, visible=True, threshold_pct=5.0)
    assert node.GetName() == "T2 DL deviation (%)" and node.GetAttribute(SOURCE_ATTRIBUTE) == dl.GetID()
    percent = map_from_volume_node(node)
    assert percent.same_geometry(map_from_volume_node(dl), tol=1e-5) and percent.kind is MapKind.UNKNOWN
    centre = percent.array[:, 60:68, 60:68]  # the middle of the brightened box
    assert float(centre.mean()) == pytest.approx(10.0, abs=0.5)
    assert float(np.abs(percent.array[:, 10:20, 10:20]).max()) < 1.0  # far from it: consistent
    display = node.GetDisplayNode()
    assert (display.GetWindow(), display.GetLevel()) == pytest.approx((20.0, 0.0))  # ± 2 × threshold
    assert display.GetColorNodeID() == COLOR_TABLES[0]  # diverging blue/red (Slicer's file table)
    # a second call updates the same node instead of adding one
    assert logic.show_trust_map(dl, fast, threshold_pct=5.0) is node and find_trust_node(scene, dl) is node
    composite = scene.AddNewNodeByClass("vtkMRMLSliceCompositeNode")
    set_overlay(composite, dl, node, visible=True, view_node_ids=["vtkMRMLSliceNodeQSRDL"])
    assert composite.GetBackgroundVolumeID() == dl.GetID() and composite.GetForegroundVolumeID() == node.GetID()
    assert composite.GetForegroundOpacity() == pytest.approx(0.5)
    legend = slicer.vtkSlicerColorLogic.GetColorLegendDisplayNode(node)
    assert legend is not None and legend.GetVisibility() and legend.GetTitleText() == "DL − fast (%)"
    assert legend.GetViewNodeIDs() == ("vtkMRMLSliceNodeQSRDL",) or list(legend.GetViewNodeIDs()) == [
        "vtkMRMLSliceNodeQSRDL"]
    set_overlay(composite, dl, node, visible=False)
    assert composite.GetForegroundOpacity() == 0.0 and not legend.GetVisibility()
    # the wheel's colour logic loads only procedural tables: the display falls back to one that exists
    logic.show_trust_map(dl, fast, visible=False)
    assert scene.GetNodeByID(display.GetColorNodeID()) is not None


def test_roi_table_gets_consistency_and_flag_columns_for_dl_rows(logic, scene) -> None:
    fast, dl = _fast_and_dl(scene)
    inside = _roi(scene, "invented", (0.0, 0.0), 20.0)
    outside = _roi(scene, "faithful", (70.0, 0.0), 16.0)
    rows, table, _summary = logic.measure_rois([fast, dl], rois=[inside, outside],
                                               trust_pairs={dl.GetID(): fast})
    frame = slicer.util.dataframeFromTable(table)
    assert list(frame.columns[-3:]) == [CONSISTENCY_COLUMN, PRECISION_COLUMN, FLAG_COLUMN]
    precision = frame[PRECISION_COLUMN].astype(float).tolist()
    assert np.isnan(precision[0]) and 0 <= precision[3] < 0.2  # a noiseless scan: a precise mean
    assert list(frame["protocol"]) == ["fast", "fast", "DL", "DL"] and len(rows) == 4
    consistency = frame[CONSISTENCY_COLUMN].astype(float).tolist()
    assert np.isnan(consistency[0]) and np.isnan(consistency[1])  # no trust map for the fast volume
    assert consistency[2] == pytest.approx(10.0, abs=0.7)
    assert abs(consistency[3]) < 0.5
    assert list(frame[FLAG_COLUMN]) == ["", "", "inconsistent", "ok"]
    # a laxer threshold clears the flag; the DL ROI means themselves are untouched by the extra columns
    _rows, table, _summary = logic.measure_rois([fast, dl], rois=[inside, outside], table=table,
                                                trust_pairs={dl.GetID(): fast}, threshold_pct=15.0)
    assert list(slicer.util.dataframeFromTable(table)[FLAG_COLUMN]) == ["", "", "ok", "ok"]
    assert rows[2].mean == pytest.approx(1.10 * rows[0].mean, rel=0.02)


def test_a_small_roi_on_a_noisy_scan_is_flagged_imprecise(logic, scene) -> None:
    fast, dl = _fast_and_dl(scene)
    values = slicer.util.arrayFromVolume(fast)
    values += np.random.default_rng(5).normal(0.0, 8.0, values.shape).astype(values.dtype)  # ≈ 8 % per voxel
    slicer.util.arrayFromVolumeModified(fast)
    small = _roi(scene, "small", (70.0, 0.0), 2.0)  # about one fast voxel
    large = _roi(scene, "large", (70.0, 0.0), 40.0)
    _rows, table, _summary = logic.measure_rois([dl], rois=[small, large], trust_pairs={dl.GetID(): fast})
    frame = slicer.util.dataframeFromTable(table)
    assert list(frame[FLAG_COLUMN]) == ["imprecise, too small", "ok"]
    assert float(frame[PRECISION_COLUMN][0]) > 2.0 and float(frame[PRECISION_COLUMN][1]) < 0.5
    _rows, table, _summary = logic.measure_rois([dl], rois=[small, large], table=table,
                                                trust_pairs={dl.GetID(): fast}, precision_threshold_pct=50.0)
    assert list(slicer.util.dataframeFromTable(table)[FLAG_COLUMN]) == ["too small", "ok"]  # a laxer threshold
    _rows, table, _summary = logic.measure_rois([dl], rois=[small, large], table=table,
                                                trust_pairs={dl.GetID(): fast}, precision_threshold_pct=50.0,
                                                min_samples=0.0)
    assert list(slicer.util.dataframeFromTable(table)[FLAG_COLUMN]) == ["ok", "ok"]


def test_measurement_without_trust_keeps_the_plain_table(logic, scene) -> None:
    fast, dl = _fast_and_dl(scene)
    roi = _roi(scene, "r", (0.0, 0.0), 20.0)
    _rows, table, _summary = logic.measure_rois([fast, dl], rois=[roi])
    assert CONSISTENCY_COLUMN not in list(slicer.util.dataframeFromTable(table).columns)
