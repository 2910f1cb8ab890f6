"""The module's Logic on a real MRML scene (slicer-core wheel): geometry round trip, SR nodes that overlay
the routine volume, ROI boxes and segments measured on the same physical region at every resolution,
tables and CSV, nothing half-made on failure, batch jobs that survive a broken study."""

from __future__ import annotations

import csv

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="the slicer-core wheel is not installed")

from helpers.dicom_factory import oblique_direction  # noqa: E402

from quantsr.errors import InputError, ModelError  # noqa: E402
from quantsr.io.dicom_write import StudyContext, write_series  # noqa: E402
from quantsr.io.images import write_image  # noqa: E402
from quantsr.mapkinds import MapKind  # noqa: E402
from quantsr.volume import QuantMap  # noqa: E402
from QuantSRLib.logic import QuantSRSceneLogic  # noqa: E402
from QuantSRLib.nodes import map_from_volume_node, volume_node_from_map  # noqa: E402

FOV = 64.0


def _pattern(matrix: int, kind: MapKind = MapKind.T2, inside: float = 150.0, outside: float = 80.0) -> QuantMap:
    """A map over a 64 mm FOV: ``inside`` within the physical box 20–40 mm (x and y), ``outside`` elsewhere."""
    pixel = FOV / matrix
    centres = (np.arange(matrix) + 0.5) * pixel
    box = (centres >= 20) & (centres <= 40)
    plane = np.where(box[:, None] & box[None, :], inside, outside)
    return QuantMap(np.stack([plane] * 3), origin=(pixel / 2, pixel / 2, 0), spacing=(pixel, pixel, 5.0), kind=kind)


def test_volume_node_round_trip_with_oblique_geometry(scene) -> None:
    qmap = QuantMap(np.random.default_rng(1).uniform(500, 1500, (4, 10, 12)), origin=(-50.5, 20.25, 7),
                    spacing=(0.8, 0.9, 5), direction=oblique_direction(20), kind=MapKind.T1)
    node = volume_node_from_map(scene, qmap, "T1 fast", "fast")
    back = map_from_volume_node(node)
    assert back.same_geometry(qmap, tol=1e-5) and back.kind is MapKind.T1
    np.testing.assert_array_equal(back.array, qmap.array)
    ijk_to_ras = slicer.vtkMRMLScalarVolumeNode.GetIJKToRASMatrix  # the node's own view of a voxel centre
    matrix = __import__("vtk").vtkMatrix4x4()
    ijk_to_ras(node, matrix)
    ras = np.array(matrix.MultiplyPoint((3, 2, 1, 1))[:3])
    lps = qmap.index_to_physical([3, 2, 1])[0]
    np.testing.assert_allclose(ras, lps * [-1, -1, 1], atol=1e-6)


def test_super_resolved_node_overlays_the_routine_volume(logic, scene, tmp_path) -> None:
    write_image(_pattern(32), tmp_path / "fast_T2.nrrd")
    write_image(_pattern(64), tmp_path / "routine_T2.nrrd")
    (fast,) = logic.load_maps(tmp_path / "fast_T2.nrrd", "fast")
    (routine,) = logic.load_maps(tmp_path / "routine_T2.nrrd", "routine")
    assert fast.GetName() == "T2 fast" and routine.GetName() == "T2 routine"
    (sr,) = logic.super_resolve([fast], method="bicubic")
    assert sr.GetName() == "T2 bicubic"
    assert map_from_volume_node(sr).same_geometry(map_from_volume_node(routine), tol=1e-5)
    display = sr.GetDisplayNode()
    assert (display.GetWindow(), display.GetLevel()) == pytest.approx((300.0, 150.0))  # T2 0–300 ms


def test_failed_super_resolution_leaves_the_scene_unchanged(logic, scene, tmp_path) -> None:
    import torch

    from quantsr.model import Generator, GeneratorConfig
    from quantsr.modelfile import ModelInfo, save_model

    torch.manual_seed(0)
    t1_model = save_model(Generator(GeneratorConfig(channels=4, residual_blocks=1)),
                          ModelInfo(MapKind.T1, MapKind.T1.norm_physical), tmp_path / "t1.safetensors")
    fast = volume_node_from_map(scene, _pattern(32), "T2 fast", "fast")
    before = scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode")
    with pytest.raises(ModelError, match="T1 maps but the input is a T2"):
        logic.super_resolve([fast], model_paths={MapKind.T2: t1_model})
    assert scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode") == before
    unknown = volume_node_from_map(scene, _pattern(32, MapKind.UNKNOWN), "volume", "fast")
    unknown.RemoveAttribute("QuantSR.MapKind")
    with pytest.raises(InputError, match="cannot tell whether volume 'volume'"):
        logic.super_resolve([unknown], method="bicubic")


def test_dl_with_onnx_runtime_equals_torch_on_the_scene(logic, scene, tmp_path) -> None:
    pytest.importorskip("onnxruntime", reason="onnxruntime (the [onnx] extra) is not installed")
    from helpers.generators import head_map, trained_looking

    from quantsr.model import GeneratorConfig
    from quantsr.modelfile import ModelInfo, save_model

    model = save_model(trained_looking(GeneratorConfig(channels=8, residual_blocks=2)),
                       ModelInfo(MapKind.T1, MapKind.T1.norm_physical), tmp_path / "t1.safetensors")
    fast = volume_node_from_map(scene, head_map(shape=(4, 40, 36)), "T1 fast", "fast")
    (by_torch,) = logic.super_resolve([fast], model_paths={MapKind.T1: model}, device="cpu")
    (by_ort,) = logic.super_resolve([fast], model_paths={MapKind.T1: model}, device="cpu", runtime="onnxruntime")
    torch_map, ort_map = map_from_volume_node(by_torch), map_from_volume_node(by_ort)
    assert ort_map.same_geometry(torch_map, tol=1e-6)
    assert np.abs(ort_map.array - torch_map.array).max() < 0.01  # ms
    assert np.ptp(torch_map.array) > 100  # a real image, not a constant


def _three_volumes(scene):
    fast = volume_node_from_map(scene, _pattern(32), "T2 fast", "fast")
    dl = volume_node_from_map(scene, _pattern(64), "T2 DL", "DL")
    routine = volume_node_from_map(scene, _pattern(64, inside=152.0), "T2 routine", "routine")
    return fast, dl, routine


def test_roi_box_measures_the_same_region_on_every_resolution(logic, scene) -> None:
    fast, dl, routine = _three_volumes(scene)
    roi = scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "lesion 1")
    roi.SetCenter(-30.0, -30.0, 5.0)  # RAS of LPS (30, 30, 5): the middle of the 20–40 mm box
    roi.SetSize(16.0, 16.0, 4.0)  # 22–38 mm: edges fall between voxel centres of both grids
    rows, table, summary = logic.measure_rois([fast, dl, routine], rois=[roi])
    by_protocol = {r.protocol: r for r in rows}
    assert by_protocol["fast"].mean == pytest.approx(150.0)
    assert by_protocol["DL"].mean == pytest.approx(150.0)
    assert by_protocol["routine"].mean == pytest.approx(152.0)
    assert by_protocol["DL"].voxels == 4 * by_protocol["fast"].voxels  # 2× finer in-plane
    assert by_protocol["DL"].volume_mm3 == pytest.approx(by_protocol["fast"].volume_mm3)
    frame = slicer.util.dataframeFromTable(table)
    assert list(frame.columns[:4]) == ["roi", "description", "map", "protocol"]
    assert list(frame["protocol"]) == ["fast", "DL", "routine"]
    assert frame["mean"].astype(float).tolist() == pytest.approx([150.0, 150.0, 152.0])


def test_segment_measured_on_volumes_of_different_resolution(logic, scene, tmp_path) -> None:
    fast, dl, routine = _three_volumes(scene)
    labels = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "labels")
    grid = _pattern(64)
    mask = np.zeros(grid.shape, np.float32)
    mask[1, 26:38, 26:38] = 1  # 26–38 px × 1 mm = strictly inside the 20–40 mm box
    mask[1, 2:8, 2:8] = 2  # background corner
    volume_node_from_map(scene, grid.with_array(mask), "labels", node=labels)
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "segs")
    assert slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(labels, segmentation)
    rows, _table, summary = logic.measure_rois([fast, dl, routine], segmentation=segmentation)
    means = {(r.roi, r.protocol): r.mean for r in rows}
    names = sorted({r.roi for r in rows})
    assert len(names) == 2
    lesion, corner = (names if means[(names[0], "DL")] > 100 else names[::-1])
    assert means[(lesion, "fast")] == pytest.approx(150.0) and means[(lesion, "routine")] == pytest.approx(152.0)
    assert means[(corner, "fast")] == pytest.approx(80.0)
    tests = slicer.util.dataframeFromTable(summary)
    assert set(tests["comparison"]) == {"fast vs routine", "DL vs routine"}
    csv_path = logic.export_csv(rows, tmp_path / "rois.csv")
    with open(csv_path) as handle:
        exported = list(csv.DictReader(handle))
    assert len(exported) == 6 and {row["protocol"] for row in exported} == {"fast", "DL", "routine"}


def test_paired_t_test_matches_scipy(logic, scene) -> None:
    from scipy import stats

    fast, dl, routine = _three_volumes(scene)
    ramp = _pattern(64, inside=152.0)
    ramp.array += np.linspace(0, 6, 64)[None, None, :]  # routine differs from DL by a varying amount
    volume_node_from_map(scene, ramp, "T2 routine", "routine", node=routine)
    rois = []
    for index, (x, y) in enumerate([(25, 25), (35, 35), (30, 25)]):
        roi = scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", f"r{index}")
        roi.SetCenter(-x, -y, 5.0)
        roi.SetSize(3.0 + index, 3.0, 4.0)
        rois.append(roi)
    rows, _table, summary = logic.measure_rois([fast, dl, routine], rois=rois)
    frame = slicer.util.dataframeFromTable(summary)
    dl_row = frame[frame["comparison"] == "DL vs routine"].iloc[0]
    dl_means = [r.mean for r in rows if r.protocol == "DL"]
    routine_means = [r.mean for r in rows if r.protocol == "routine"]
    expected = stats.ttest_rel(dl_means, routine_means)
    assert float(dl_row["p"]) == pytest.approx(expected.pvalue)
    assert float(dl_row["mean_difference"]) == pytest.approx(np.mean(np.subtract(dl_means, routine_means)))


def test_batch_super_resolve_skips_a_broken_study(logic, tmp_path) -> None:
    from quantsr.batch import summary_table

    root = tmp_path / "studies"
    for study in ("study_a", "study_b"):
        write_series(_pattern(32, MapKind.T1, 900, 800), root / study / "T1", StudyContext.new(study), "T1 map", 3)
    (root / "study_broken").mkdir()
    (root / "study_broken" / "notes.txt").write_text("not an image")
    results = logic.batch_super_resolve(root, tmp_path / "out", method="bicubic", fmt="nrrd")
    assert [(r.study, r.status) for r in results] == [("study_a", "done"), ("study_b", "done"),
                                                      ("study_broken", "failed")]
    assert "contains no DICOM files" in results[2].reason
    assert (tmp_path / "out" / "study_a" / "T1_bicubic.nrrd").exists()
    assert summary_table(results).startswith("3 studies: 2 done, 0 already complete, 1 failed")


def test_protocol_and_kind_of_volumes_from_the_dicom_browser(scene) -> None:
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "5: MAGiC T1 map (fast)")
    assert QuantSRSceneLogic.protocol_of(node) == "fast"
    node.SetName("902: QuantSR T1 map (DL)")
    assert QuantSRSceneLogic.protocol_of(node) == "DL"
    volume_node_from_map(scene, _pattern(8, MapKind.UNKNOWN), "x", node=node)
    node.RemoveAttribute("QuantSR.MapKind")
    assert map_from_volume_node(node).kind is MapKind.T1  # from the series description in the name


def test_batch_measure_of_a_saved_label_map_on_several_studies(logic, tmp_path) -> None:
    labels = _pattern(64).with_array(np.zeros((3, 64, 64), np.float32))
    labels.array[1, 26:38, 26:38] = 1
    write_image(labels, tmp_path / "lesions.nrrd")
    write_image(_pattern(32), tmp_path / "p1" / "fast_T2.nrrd")
    write_image(_pattern(64, inside=152.0), tmp_path / "p1" / "routine_T2.nrrd")
    studies = {"p1": {"fast": tmp_path / "p1" / "fast_T2.nrrd", "routine": tmp_path / "p1" / "routine_T2.nrrd"},
               "p2": {"fast": tmp_path / "p2" / "missing.nrrd"}}
    rows, results = logic.batch_measure(tmp_path / "lesions.nrrd", studies, tmp_path / "rois.csv")
    assert [(r.study, r.status) for r in results] == [("p1", "done"), ("p2", "failed")]
    assert {(r.protocol, round(r.mean)) for r in rows} == {("fast", 150), ("routine", 152)}
    assert all(r.description == "p1" for r in rows) and (tmp_path / "rois.csv").exists()
