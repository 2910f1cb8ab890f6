"""Issue 17 on a real MRML scene (slicer-core wheel): volumes named the way Slicer's DICOM browser names them
get DL results in the right slots, super-resolution runs in a worker process that can be cancelled, segments
are measured from their own masks, empty paths are refused, Apply readiness, derived volumes kept out of the
selectors, the comparison layouts, and set-up from one requirement list."""

from __future__ import annotations

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="the slicer-core wheel is not installed")

from quantsr.errors import InputError, QuantSRError  # noqa: E402
from quantsr.mapkinds import MapKind  # noqa: E402
from quantsr.volume import QuantMap  # noqa: E402
from QuantSRLib import dependencies  # noqa: E402
from QuantSRLib.logic import QuantSRSceneLogic  # noqa: E402
from QuantSRLib.nodes import map_from_volume_node, volume_node_from_map  # noqa: E402

TISSUE = {MapKind.T1: 900.0, MapKind.T2: 85.0, MapKind.PD: 70.0}


def _browser_volume(scene, kind: MapKind, name: str, slices: int = 3, matrix: int = 16):
    """A volume as Slicer's DICOM browser loads it: named "<series number>: <description>", no QuantSR
    attributes at all."""
    rng = np.random.default_rng(int(TISSUE[kind]))
    array = TISSUE[kind] * rng.uniform(0.9, 1.1, (slices, matrix, matrix))
    if kind is MapKind.T2:
        array[:, :2, :2] = 1500.0  # CSF: what tells a T2 map from a PD map by its values
    node = volume_node_from_map(scene, QuantMap(array, spacing=(2.0, 2.0, 5.0), kind=kind), name)
    node.RemoveAttribute("QuantSR.MapKind")
    node.RemoveAttribute("QuantSR.Protocol")
    return node


def test_dicom_browser_volumes_get_dl_volumes_in_the_right_slots(logic, scene) -> None:
    slots = {"T1": _browser_volume(scene, MapKind.T1, "5: MAGiC Quant"),  # description names no map
             "T2": _browser_volume(scene, MapKind.T2, "6: MAGiC Quant"),
             "PD": _browser_volume(scene, MapKind.PD, "7: MAGiC Quant")}
    assert all(map_from_volume_node(node).kind is MapKind.UNKNOWN for node in slots.values())
    task = logic.start_super_resolution(slots, method="bicubic")
    outputs = task.run()
    assert {QuantSRSceneLogic.output_slot(out) for out in outputs} == {"dlT1", "dlT2", "dlPD"}
    for out in outputs:
        kind = MapKind.parse(out.GetAttribute("QuantSR.MapKind"))
        assert out.GetImageData().GetDimensions() == (32, 32, 3)
        assert np.median(slicer.util.arrayFromVolume(out)) == pytest.approx(TISSUE[kind], rel=0.1)
    assert task.folder is None  # temporary files removed


def test_unticked_maps_guide_a_guide_map_model_in_the_worker(logic, scene, tmp_path) -> None:
    import torch

    from quantsr.model import Generator, GeneratorConfig
    from quantsr.modelfile import ModelInfo, save_model

    torch.manual_seed(0)
    model = save_model(Generator(GeneratorConfig(channels=4, residual_blocks=1, in_channels=3, residual="bicubic")),
                       ModelInfo(MapKind.T1, 4500.0, guide_kinds=(MapKind.T2, MapKind.PD)), tmp_path / "t1.safetensors")
    t1 = _browser_volume(scene, MapKind.T1, "5: MAGiC Quant")
    guides = {"T2": _browser_volume(scene, MapKind.T2, "6: MAGiC Quant"),
              "PD": _browser_volume(scene, MapKind.PD, "7: MAGiC Quant")}
    before = scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode")
    alone = logic.start_super_resolution({"T1": t1}, "dl", {MapKind.T1: model}, device="cpu")
    with pytest.raises(QuantSRError, match="also reads the study's fast T2, PD maps; T2 and PD not given"):
        alone.run()
    assert scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode") == before
    task = logic.start_super_resolution({"T1": t1}, "dl", {MapKind.T1: model}, device="cpu", guide_slots=guides)
    (out,) = task.run()
    assert QuantSRSceneLogic.output_slot(out) == "dlT1" and out.GetImageData().GetDimensions() == (32, 32, 3)
    assert scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode") == before + 1  # guides are not resolved
    (console,) = logic.super_resolve([t1], model_paths={MapKind.T1: model}, device="cpu", kinds=[MapKind.T1],
                                     guide_nodes=guides)  # the same from the Python console, in this process
    np.testing.assert_allclose(slicer.util.arrayFromVolume(console), slicer.util.arrayFromVolume(out), atol=0.05)
    # a model that reads no guides ignores the unticked slots, even one the slot check would refuse
    single = save_model(Generator(GeneratorConfig(channels=4, residual_blocks=1)), ModelInfo(MapKind.T1, 4500.0),
                        tmp_path / "t1_single.safetensors")
    wrong = {"PD": guides["T2"]}  # a T2 volume in the PD slot
    with pytest.raises(InputError, match="values typical of a T2 map, not of the PD"):
        logic.slot_kinds(wrong)
    (plain,) = logic.super_resolve([t1], model_paths={MapKind.T1: single}, device="cpu", kinds=[MapKind.T1],
                                   guide_nodes=wrong)
    assert plain.GetImageData().GetDimensions() == (32, 32, 3)


def test_a_volume_that_contradicts_its_slot_is_refused(logic, scene) -> None:
    t2 = _browser_volume(scene, MapKind.T2, "6: MAGiC Quant")
    with pytest.raises(InputError, match="values typical of a T2 map, not of the T1"):
        logic.slot_kinds({"T1": t2})
    pd = _browser_volume(scene, MapKind.PD, "7: MAGiC Quant")
    with pytest.raises(InputError, match="values typical of a PD map, not of the T1"):
        logic.slot_kinds({"T1": pd})
    named = _browser_volume(scene, MapKind.T1, "8: T2 map")
    with pytest.raises(InputError, match="named as a T2 map but was selected as the fast T1"):
        logic.slot_kinds({"T1": named})
    assert logic.slot_kinds({MapKind.T2: t2}) == {MapKind.T2: t2}


def test_worker_failure_is_a_message_and_cancel_leaves_the_scene_unchanged(logic, scene) -> None:
    from QuantSRLib.runner import SRTask

    node = _browser_volume(scene, MapKind.T1, "5: MAGiC Quant", slices=40, matrix=96)
    before = scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode")
    task = SRTask(logic, {MapKind.T1: node}, method="nonsense")
    with pytest.raises(QuantSRError, match="unknown method 'nonsense'"):
        task.run()
    task = SRTask(logic, {MapKind.T1: node}, method="bicubic")
    task.start()
    state = task.cancel()
    assert state.status == "cancelled" and state.message == "Super-resolution cancelled."
    assert task.process.returncode is not None and task.folder is None
    assert scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode") == before


def test_overlapping_segments_are_each_measured_whole(logic, scene) -> None:
    grid = QuantMap(np.full((4, 32, 32), 800.0), spacing=(1.0, 1.0, 1.0), kind=MapKind.T1)
    volume = volume_node_from_map(scene, grid, "T1 fast", "fast")
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "segs")
    segmentation.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    for name, (lo, hi) in {"WM": (0, 16), "lesion": (4, 8)}.items():
        mask = np.zeros(grid.shape, np.float32)
        mask[:, lo:hi, lo:hi] = 1
        labels = volume_node_from_map(scene, grid.with_array(mask), f"{name} labels")
        labels_node = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", name)
        labels_node.SetAndObserveImageData(labels.GetImageData())
        labels_node.CopyOrientation(labels)
        assert slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(labels_node, segmentation)
        segmentation.GetSegmentation().GetNthSegment(segmentation.GetSegmentation().GetNumberOfSegments() - 1
                                                     ).SetName(name)
    rows, _table, _summary = logic.measure_rois([volume], segmentation=segmentation)
    voxels = {row.roi: row.voxels for row in rows}
    assert voxels == {"WM": 4 * 16 * 16, "lesion": 4 * 4 * 4}  # 1024: the lesion is not cut out of WM


def test_empty_paths_are_refused_not_the_working_directory(logic, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for empty in ("", "  ", None):
        with pytest.raises(InputError, match="choose the fast scan's folder or file first"):
            logic.load_maps(empty, "fast")
    with pytest.raises(InputError, match="choose the CSV file"):
        logic.export_csv([], "")


def test_apply_is_ready_only_with_valid_inputs(scene) -> None:
    t1 = _browser_volume(scene, MapKind.T1, "5: MAGiC Quant")
    empty = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "empty")
    ticked = {"T1": True, "T2": True, "PD": False}
    assert QuantSRSceneLogic.apply_problem({"T1": None, "T2": None, "PD": None}, ticked).startswith("Select a fast")
    assert QuantSRSceneLogic.apply_problem({"T1": None, "T2": None, "PD": t1}, ticked).startswith("Select a fast")
    assert "has no image data" in QuantSRSceneLogic.apply_problem({"T1": t1, "T2": empty, "PD": None}, ticked)
    assert QuantSRSceneLogic.apply_problem({"T1": t1, "T2": None, "PD": None}, ticked) is None
    assert QuantSRSceneLogic.apply_problem({"T1": t1, "T2": None, "PD": None}, ticked, busy=True)


def test_derived_volumes_are_hidden_from_the_map_selectors(logic, scene) -> None:
    fast = volume_node_from_map(scene, QuantMap(np.full((2, 8, 8), 80.0), kind=MapKind.T2), "T2 fast", "fast")
    dl = volume_node_from_map(scene, QuantMap(np.full((2, 8, 8), 82.0), kind=MapKind.T2), "T2 DL", "DL")
    deviation = logic.show_trust_map(dl, fast)
    assert QuantSRSceneLogic.derived_volume_ids(scene) == [deviation.GetID()]


def test_comparison_layouts_register_on_the_layout_node(scene) -> None:
    import xml.etree.ElementTree as ElementTree

    from QuantSRLib.views import LAYOUT_ID, TABLE_LAYOUT_ID, TABLE_TAG, VIEW_TAGS, register_layouts

    layout_node = scene.AddNewNodeByClass("vtkMRMLLayoutNode")
    register_layouts(layout_node)
    register_layouts(layout_node)  # idempotent
    for layout_id in (LAYOUT_ID, TABLE_LAYOUT_ID):
        assert layout_node.IsLayoutDescription(layout_id)
    table_layout = ElementTree.fromstring(layout_node.GetLayoutDescription(TABLE_LAYOUT_ID))
    views = [(v.get("class"), v.get("singletontag")) for v in table_layout.iter("view")]
    assert views == [("vtkMRMLSliceNode", tag) for tag in VIEW_TAGS] + [("vtkMRMLTableViewNode", TABLE_TAG)]


class _FakeSlicer:
    def __init__(self, pip_error: Exception | None = None, torch_result: object = "torch") -> None:
        self.prompts: list[str] = []
        self.pip_calls: list[list[str]] = []
        self.torch_calls: list[str] = []
        self.pip_error, self.torch_result = pip_error, torch_result
        self.installed: dict[str, str | None] = {"torch": "2.1.0", "safetensors": None, "scipy": "1.13.1",
                                                 "SimpleITK": "2.4.0", "pydicom": "2.4.4", "pylibjpeg": "2.0.1",
                                                 "pylibjpeg-libjpeg": "2.1.0", "pylibjpeg-openjpeg": "2.3.0"}

    def version_of(self, requirement) -> str | None:
        return self.installed[requirement.distribution]

    def installer(self) -> dependencies.Installer:
        def install_torch(requirement: str) -> object:
            self.torch_calls.append(requirement)
            self.installed["torch"] = "2.5.1"
            return self.torch_result

        def pip_install(specs: list[str]) -> None:
            self.pip_calls.append(specs)
            if self.pip_error:
                raise self.pip_error
            self.installed["safetensors"] = "0.4.5"

        return dependencies.Installer(lambda text: self.prompts.append(text) or True, install_torch, pip_install)


def test_setup_asks_once_checks_versions_and_installs_only_what_is_needed() -> None:
    fake = _FakeSlicer()
    notes = dependencies.ensure_dependencies(True, fake.installer(), fake.version_of)
    assert len(fake.prompts) == 1 and "torch>=2.2 (found 2.1.0)" in fake.prompts[0]
    assert fake.torch_calls == [">=2.2"]  # an installed but too old torch is upgraded
    assert fake.pip_calls == [["safetensors>=0.4"]]  # nothing the module does not use, nothing present
    assert any("PyTorch installed" in note for note in notes)
    assert dependencies.ensure_dependencies(True, fake.installer(), fake.version_of) == [
        "All requirements are installed."]
    assert len(fake.prompts) == 1


def test_setup_failures_are_reported_as_messages() -> None:
    fake = _FakeSlicer(pip_error=OSError("proxy refused the connection"))
    with pytest.raises(dependencies.DependencyError, match="pip could not install safetensors>=0.4: proxy refused"):
        dependencies.ensure_dependencies(True, fake.installer(), fake.version_of)
    declined = _FakeSlicer(torch_result=None)
    with pytest.raises(dependencies.DependencyError, match="PyTorch was not installed"):
        dependencies.ensure_dependencies(False, declined.installer(), declined.version_of)
    assert issubclass(dependencies.DependencyError, QuantSRError)


def test_apply_checks_requirements_first_and_bicubic_needs_no_torch() -> None:
    no_torch = {"torch": None, "safetensors": None}.get
    dependencies.check_requirements("bicubic", lambda req: no_torch(req.distribution, "9.9"))
    with pytest.raises(dependencies.DependencyError, match=r"dl super-resolution needs torch>=2.2 \(missing\)"):
        dependencies.check_requirements("dl", lambda req: no_torch(req.distribution, "9.9"))
