"""Synthetic contrasts in a real MRML scene (slicer-core wheel): "FLAIR DL" etc. hold exactly what
``quantsr.synth.synthesize`` gives on the same maps, on the source grid; TR / TE / TI changes update the same
node; fast, DL and routine each get theirs with one shared window; a missing map is a clear InputError."""

from __future__ import annotations

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="the slicer-core wheel is not installed")
vtk = pytest.importorskip("vtk")

from helpers.dicom_factory import oblique_direction  # noqa: E402

from quantsr.errors import InputError  # noqa: E402
from quantsr.mapkinds import MapKind  # noqa: E402
from quantsr.synth import PRESETS, contrast, synthesize  # noqa: E402
from quantsr.volume import QuantMap  # noqa: E402
from QuantSRLib.logic import QuantSRSceneLogic  # noqa: E402
from QuantSRLib.nodes import map_from_volume_node, volume_node_from_map  # noqa: E402
from QuantSRLib.synthetic import (  # noqa: E402
    CONTRAST_ATTRIBUTE,
    MAPS_ATTRIBUTE,
    SOURCE_ATTRIBUTE,
    TIMING_ATTRIBUTES,
    find_synthetic_node,
)

# tissue columns: WM, GM, CSF, fat, background (3 T values, as in Testing/core/test_synth.py)
WM, GM, CSF, FAT, BACKGROUND = range(5)
TISSUE_T1 = [838.0, 1233.0, 4100.0, 380.0, 0.0]
TISSUE_T2 = [80.0, 93.0, 1300.0, 110.0, 0.0]
TISSUE_PD = [68.0, 80.0, 100.0, 95.0, 0.0]


def _tissue_maps(upsample: int = 1, t2_scale: float = 1.0) -> tuple[QuantMap, QuantMap, QuantMap]:
    """T1, T2, PD on an oblique 2 × 3u × 5u grid: column band c (u voxels wide) is tissue c."""
    columns = np.repeat(np.arange(5), upsample)
    shape = (2, 3 * upsample, 5 * upsample)
    geometry = {"origin": (-40.5, 12.25, 3.0), "spacing": (4.0 / upsample, 4.0 / upsample, 5.0),
                "direction": oblique_direction(20)}

    def one(values: list[float], kind: MapKind, scale: float = 1.0) -> QuantMap:
        plane = np.broadcast_to(np.asarray(values, np.float32)[columns] * scale, shape)
        return QuantMap(plane.copy(), kind=kind, **geometry)

    return one(TISSUE_T1, MapKind.T1), one(TISSUE_T2, MapKind.T2, t2_scale), one(TISSUE_PD, MapKind.PD)


def _map_nodes(scene, protocol: str, upsample: int = 1, t2_scale: float = 1.0) -> tuple:
    return tuple(volume_node_from_map(scene, qmap, f"{qmap.kind.value} {protocol}", protocol)
                 for qmap in _tissue_maps(upsample, t2_scale))


def _three_protocols(scene) -> dict[str, tuple]:
    """Fast on the coarse grid, DL and routine on the 2× finer one (routine T2 5 % longer)."""
    return {"fast": _map_nodes(scene, "fast"), "DL": _map_nodes(scene, "DL", 2),
            "routine": _map_nodes(scene, "routine", 2, t2_scale=1.05)}


def _ijk_to_ras(node) -> np.ndarray:
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def _band(node, tissue: int, upsample: int = 1) -> float:
    """Mean of one tissue's column band."""
    array = slicer.util.arrayFromVolume(node)
    return float(array[..., tissue * upsample:(tissue + 1) * upsample].mean())


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_volume_equals_core_synthesis_on_the_source_grid(logic, scene, name) -> None:
    t1, t2, pd = _map_nodes(scene, "DL", 2)
    node = logic.synthesize_contrast(t1, t2, pd, "DL", name.upper())
    expected = synthesize(*(map_from_volume_node(n) for n in (t1, t2, pd)), contrast(name))
    np.testing.assert_allclose(slicer.util.arrayFromVolume(node), expected.array, rtol=1e-6, atol=1e-6)
    assert node.GetName() == f"{name.upper()} DL"
    assert node.GetImageData().GetDimensions() == t1.GetImageData().GetDimensions()
    np.testing.assert_array_equal(_ijk_to_ras(node), _ijk_to_ras(t1))  # identical, not merely close
    preset = PRESETS[name]
    assert node.GetAttribute(CONTRAST_ATTRIBUTE) == name.upper() and node.GetAttribute(SOURCE_ATTRIBUTE) == "DL"
    assert [float(node.GetAttribute(a)) for a in TIMING_ATTRIBUTES.values()] == [
        preset.tr_ms, preset.te_ms, preset.ti_ms]
    assert node.GetAttribute(MAPS_ATTRIBUTE) == f"{t1.GetID()} {t2.GetID()} {pd.GetID()}"
    assert QuantSRSceneLogic.protocol_of(node) == "DL"  # ROI tables label it with its protocol


def test_changing_tr_te_ti_updates_the_same_node(logic, scene) -> None:
    maps = _map_nodes(scene, "fast")
    flair = logic.synthesize_contrast(*maps, "fast", "FLAIR", ti_ms=1500.0)
    assert _band(flair, CSF) > 0.3 * _band(flair, WM)  # TI far from the CSF null: CSF still bright
    nodes_before = scene.GetNumberOfNodes()
    tr = 9000.0
    csf_null = TISSUE_T1[CSF] * np.log(2 / (1 + np.exp(-tr / TISSUE_T1[CSF])))  # 1 − 2e^(−TI/T1) + e^(−TR/T1) = 0
    same = logic.synthesize_contrast(*maps, "fast", "FLAIR", tr_ms=tr, ti_ms=csf_null)
    assert same.GetID() == flair.GetID() and scene.GetNumberOfNodes() == nodes_before
    assert abs(_band(flair, CSF)) < 1e-3 * _band(flair, WM)
    assert float(flair.GetAttribute(TIMING_ATTRIBUTES["ti_ms"])) == pytest.approx(csf_null)
    # longer TE: every tissue decays by e^(−ΔTE/T2) (WM) — the same node again
    wm_before = _band(flair, WM)
    logic.update_synthetic_contrasts({"fast": maps}, "FLAIR", tr, 150.0, csf_null)
    assert _band(flair, WM) == pytest.approx(wm_before * np.exp(-50.0 / TISSUE_T2[WM]), rel=1e-5)
    assert scene.GetNumberOfNodes() == nodes_before
    expected = synthesize(*(map_from_volume_node(n) for n in maps), contrast("flair", tr, 150.0, csf_null))
    np.testing.assert_allclose(slicer.util.arrayFromVolume(flair), expected.array, rtol=1e-6, atol=1e-6)


def test_renamed_volume_is_still_found_and_reused(logic, scene) -> None:
    maps = _map_nodes(scene, "fast")
    node = logic.synthesize_contrast(*maps, "fast", "T2W")
    node.SetName("my T2")
    assert logic.synthesize_contrast(*maps, "fast", "t2w", te_ms=80.0).GetID() == node.GetID()
    assert find_synthetic_node(scene, "T2W", "fast").GetID() == node.GetID()
    assert find_synthetic_node(scene, "T2W", "DL") is None


def test_fast_dl_and_routine_each_get_their_own_node_with_one_window(logic, scene) -> None:
    sources = _three_protocols(scene)
    made, skipped = logic.synthesize_contrasts(sources, "FLAIR")
    assert not skipped and sorted(made) == ["DL", "fast", "routine"]
    assert len({node.GetID() for node in made.values()}) == 3
    assert [made[s].GetName() for s in ("fast", "DL", "routine")] == ["FLAIR fast", "FLAIR DL", "FLAIR routine"]
    for source, node in made.items():
        np.testing.assert_array_equal(_ijk_to_ras(node), _ijk_to_ras(sources[source][0]))
        assert node.GetImageData().GetDimensions() == sources[source][0].GetImageData().GetDimensions()
    # routine T2 is 5 % longer: its FLAIR differs from DL's, on the same grid
    assert _band(made["routine"], WM, 2) > _band(made["DL"], WM, 2)
    windows = {(n.GetDisplayNode().GetWindow(), n.GetDisplayNode().GetLevel()) for n in made.values()}
    assert len(windows) == 1  # one shared window: brightness differences between protocols stay visible
    low = made["DL"].GetDisplayNode().GetWindowLevelMin()
    assert low == pytest.approx(0.0) and made["DL"].GetDisplayNode().GetColorNodeID() == "vtkMRMLColorTableNodeGrey"
    # another contrast: three more nodes, the FLAIR ones untouched
    before = slicer.util.arrayFromVolume(made["DL"]).copy()
    t2w, _skipped = logic.synthesize_contrasts(sources, "T2W")
    assert not {n.GetID() for n in t2w.values()} & {n.GetID() for n in made.values()}
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(made["DL"]), before)
    shown = logic.show_synthetic_comparison("FLAIR")  # no application on the wheel: windows only
    assert {s: n.GetID() for s, n in shown.items()} == {s: n.GetID() for s, n in made.items()}


def test_live_update_touches_only_existing_volumes(logic, scene) -> None:
    sources = _three_protocols(scene)
    dl = logic.synthesize_contrast(*sources["DL"], "DL", "STIR")
    count = scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode")
    updated = logic.update_synthetic_contrasts(sources, "STIR", 4000.0, 50.0, 400.0)
    assert list(updated) == ["DL"] and updated["DL"].GetID() == dl.GetID()
    assert scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode") == count
    assert dl.GetAttribute(TIMING_ATTRIBUTES["ti_ms"]) == "400"


def test_psir_window_is_signed_and_symmetric(logic, scene) -> None:
    sources = _three_protocols(scene)
    made, _skipped = logic.synthesize_contrasts(sources, "PSIR")
    array = slicer.util.arrayFromVolume(made["fast"])
    assert array.min() < 0 < array.max()  # signed: WM above zero, GM and CSF below
    display = made["fast"].GetDisplayNode()
    assert display.GetLevel() == pytest.approx(0.0) and display.GetWindowLevelMin() < 0


def test_missing_or_wrong_map_is_a_clear_input_error(logic, scene) -> None:
    t1, t2, _pd = _map_nodes(scene, "DL", 2)
    count = scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode")
    with pytest.raises(InputError, match="FLAIR DL needs the DL T1, T2 and PD maps: no DL PD volume"):
        logic.synthesize_contrast(t1, t2, None, "DL", "FLAIR")
    assert scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode") == count  # nothing half-made
    with pytest.raises(InputError, match="'T2 DL' is a T2 map but was selected as the DL T1 map"):
        logic.synthesize_contrast(t2, t2, t1, "DL", "FLAIR")
    fast = _map_nodes(scene, "fast")
    with pytest.raises(InputError, match="share one grid"):
        logic.synthesize_contrast(fast[0], t2, fast[2], "fast", "T1W")
    with pytest.raises(InputError, match="unknown contrast 'DWI'"):
        logic.synthesize_contrast(*fast, "fast", "DWI")
    # several protocols: the complete ones are made, the others reported; none complete is an error
    made, skipped = logic.synthesize_contrasts({"fast": fast, "DL": (t1, t2, None)}, "T2W")
    assert list(made) == ["fast"] and "no DL PD volume" in skipped["DL"]
    with pytest.raises(InputError, match="no routine T1 or T2 or PD volume"):
        logic.synthesize_contrasts({"routine": (None, None, None)}, "T2W")


def test_contrasts_look_as_radiologists_expect_on_a_tiny_phantom(logic, scene) -> None:
    maps = _map_nodes(scene, "fast")
    flair = logic.synthesize_contrast(*maps, "fast", "FLAIR")
    t2w = logic.synthesize_contrast(*maps, "fast", "T2W")
    t1w = logic.synthesize_contrast(*maps, "fast", "T1W")
    assert _band(flair, CSF) < 0.15 * _band(flair, WM) < _band(flair, GM)  # CSF dark, GM > WM
    assert _band(t2w, CSF) > _band(t2w, GM) > _band(t2w, WM)  # CSF bright
    assert _band(t1w, WM) > _band(t1w, GM) > _band(t1w, CSF)
    assert _band(t1w, BACKGROUND) == 0.0


def test_synthetic_volume_follows_its_maps_transform(logic, scene) -> None:
    maps = _map_nodes(scene, "fast")
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "registration")
    for node in maps:
        node.SetAndObserveTransformNodeID(transform.GetID())
    assert logic.synthesize_contrast(*maps, "fast", "PDW").GetTransformNodeID() == transform.GetID()
