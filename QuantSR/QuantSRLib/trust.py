"""Trust map in the scene: the DL map's percent deviation from the fast scan (``quantsr.trust``) as a volume
node, shown as a toggleable foreground overlay with a diverging colour table and a colour legend on the DL
slice view, and the per-ROI "consistency (%)" / "fast SE (%)" / "flag" columns of the ROI table (the trust flag:
``quantsr.reliability``)."""

from __future__ import annotations

from collections.abc import Sequence

import slicer

from quantsr.mapkinds import MapKind
from quantsr.reliability import DEFAULT_MIN_SAMPLES, DEFAULT_PRECISION_PCT, RoiReliability, roi_reliability
from quantsr.trust import DEFAULT_THRESHOLD_PCT, TrustMap, deviation

from .measure import VolumeEntry, roi_masks
from .nodes import PROTOCOL_ATTRIBUTE, map_from_volume_node, set_window, volume_node_from_map

TRUST_PROTOCOL = "trust"
SOURCE_ATTRIBUTE = "QuantSR.TrustOf"  # ID of the DL node a deviation volume belongs to
#: Diverging (blue = DL below the scan, red = above); the wheel's bare scene lacks file tables: fallback.
COLOR_TABLES = ("vtkMRMLColorTableNodeFileDivergingBlueRed.txt", "vtkMRMLColorTableNodeFileColdToHotRainbow.txt",
                "vtkMRMLColorTableNodeRainbow")
OVERLAY_OPACITY = 0.5
CONSISTENCY_COLUMN = "consistency (%)"
PRECISION_COLUMN = "fast SE (%)"
FLAG_COLUMN = "flag"
TRUST_COLUMNS = (CONSISTENCY_COLUMN, PRECISION_COLUMN, FLAG_COLUMN)
_SCENE_COLOR_LOGIC: dict[int, object] = {}  # colour logic per bare scene (slicer-core wheel only)


class TrustCache:
    """Deviation maps per DL node, recomputed only when the DL or fast volume changed."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[tuple[str, int, int], TrustMap]] = {}

    def get(self, dl_node: slicer.vtkMRMLScalarVolumeNode, fast_node: slicer.vtkMRMLScalarVolumeNode) -> TrustMap:
        key = (fast_node.GetID(), _data_mtime(dl_node), _data_mtime(fast_node))
        cached = self._entries.get(dl_node.GetID())
        if cached is not None and cached[0] == key:
            return cached[1]
        fast = map_from_volume_node(fast_node)
        fast.metadata.update(_acquisition_metadata(fast_node))
        trust = deviation(map_from_volume_node(dl_node, fast.kind), fast)
        self._entries[dl_node.GetID()] = (key, trust)
        return trust


def _data_mtime(node: slicer.vtkMRMLScalarVolumeNode) -> int:
    image = node.GetImageData()
    return max(node.GetMTime(), image.GetMTime() if image is not None else 0)


def _acquisition_metadata(node: slicer.vtkMRMLScalarVolumeNode) -> dict:
    """The fast acquisition matrix where the node carries it ("192 128" attribute set at load time)."""
    text = node.GetAttribute("QuantSR.AcquisitionMatrix")
    return {"acquisition_matrix": [int(v) for v in text.split()]} if text else {}


def trust_node(scene: slicer.vtkMRMLScene, dl_node: slicer.vtkMRMLScalarVolumeNode,
               fast_node: slicer.vtkMRMLScalarVolumeNode, cache: TrustCache | None = None,
               threshold_pct: float = DEFAULT_THRESHOLD_PCT) -> slicer.vtkMRMLScalarVolumeNode:
    """The "<DL name> deviation (%)" volume on the DL grid (created once per DL node, then updated)."""
    trust = (cache or TrustCache()).get(dl_node, fast_node)
    existing = find_trust_node(scene, dl_node)
    percent = trust.percent.with_array(trust.percent.array, kind=MapKind.UNKNOWN)  # a %, not a T1/T2/PD map
    node = volume_node_from_map(scene, percent, f"{dl_node.GetName()} deviation (%)", TRUST_PROTOCOL, node=existing)
    node.SetAttribute(SOURCE_ATTRIBUTE, dl_node.GetID())
    apply_trust_display(node, threshold_pct)
    return node


def find_trust_node(scene: slicer.vtkMRMLScene, dl_node: slicer.vtkMRMLScalarVolumeNode
                    ) -> slicer.vtkMRMLScalarVolumeNode | None:
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode")):
        node = scene.GetNthNodeByClass(index, "vtkMRMLScalarVolumeNode")
        if node.GetAttribute(SOURCE_ATTRIBUTE) == dl_node.GetID():
            return node
    return None


def apply_trust_display(node: slicer.vtkMRMLScalarVolumeNode, threshold_pct: float = DEFAULT_THRESHOLD_PCT) -> None:
    """Diverging colours over ± 2 × threshold, so a flagged deviation is already well into the colour."""
    scene = node.GetScene()
    table = next((t for t in COLOR_TABLES if scene is not None and scene.GetNodeByID(t) is not None), COLOR_TABLES[0])
    set_window(node, -2 * threshold_pct, 2 * threshold_pct, table)


def color_logic(scene: slicer.vtkMRMLScene):
    """Slicer's Colors module logic in the application; a scene-bound one on the slicer-core wheel."""
    modules = getattr(slicer, "modules", None)
    if modules is not None and hasattr(modules, "colors"):
        return modules.colors.logic()
    logic = _SCENE_COLOR_LOGIC.get(id(scene))
    if logic is None or logic.GetMRMLScene() is not scene:  # kept alive: it owns the default colour nodes
        logic = slicer.vtkSlicerColorLogic()
        logic.SetMRMLScene(scene)
        _SCENE_COLOR_LOGIC[id(scene)] = logic
    return logic


def show_legend(node: slicer.vtkMRMLScalarVolumeNode, visible: bool, view_node_ids: Sequence[str] = ()):
    """The deviation volume's colour legend (title and % labels), only in ``view_node_ids`` if given."""
    legend = slicer.vtkSlicerColorLogic.GetColorLegendDisplayNode(node)
    if legend is None:
        if not visible:
            return None
        legend = color_logic(node.GetScene()).AddDefaultColorLegendDisplayNode(node)
    legend.SetTitleText("DL − fast (%)")
    legend.SetLabelFormat("%+.0f %%")
    legend.SetViewNodeIDs(list(view_node_ids))
    legend.SetVisibility(visible)
    return legend


def set_overlay(composite: slicer.vtkMRMLSliceCompositeNode, dl_node: slicer.vtkMRMLScalarVolumeNode,
                trust: slicer.vtkMRMLScalarVolumeNode | None, visible: bool, opacity: float = OVERLAY_OPACITY,
                view_node_ids: Sequence[str] = ()) -> None:
    """DL in the background, the deviation in the foreground at ``opacity`` (hidden: opacity 0, legend off)."""
    composite.SetBackgroundVolumeID(dl_node.GetID())
    composite.SetForegroundVolumeID(trust.GetID() if trust is not None else None)
    composite.SetForegroundOpacity(opacity if visible and trust is not None else 0.0)
    if trust is not None:
        show_legend(trust, visible, view_node_ids)


def show_in_dl_view(dl_node: slicer.vtkMRMLScalarVolumeNode, trust: slicer.vtkMRMLScalarVolumeNode | None,
                    visible: bool, view_tag: str = "QSRDL") -> bool:
    """Overlay on the comparison layout's DL view (needs the application); False when there is none."""
    app = getattr(slicer, "app", None)
    manager = app.layoutManager() if app is not None else None
    widget = manager.sliceWidget(view_tag) if manager is not None else None
    if widget is None:
        return False
    set_overlay(widget.mrmlSliceCompositeNode(), dl_node, trust, visible,
                view_node_ids=[widget.mrmlSliceNode().GetID()])
    return True


def reliability_column(scene: slicer.vtkMRMLScene, entries: Sequence[VolumeEntry],
                       rois: Sequence[slicer.vtkMRMLMarkupsROINode], segmentation, trusts: dict[str, TrustMap]
                       ) -> list[RoiReliability | None]:
    """Per row of ``measure(scene, entries, rois, segmentation)`` (same order): the ROI's consistency with the fast
    scan and the fast scan's precision over it, for volumes with a trust map (keyed by node ID); None for others."""
    values: list[RoiReliability | None] = []
    for entry in entries:
        trust = trusts.get(entry.node.GetID())
        dl_values = map_from_volume_node(entry.node).array if trust is not None else None
        for _name, _description, mask in roi_masks(scene, entry.node, rois, segmentation):
            values.append(roi_reliability(trust, mask, dl_values) if trust is not None and dl_values is not None
                          else None)
    return values


def add_trust_columns(records: list[dict], reliabilities: Sequence[RoiReliability | None],
                      threshold_pct: float = DEFAULT_THRESHOLD_PCT,
                      precision_threshold_pct: float = DEFAULT_PRECISION_PCT,
                      min_samples: float = DEFAULT_MIN_SAMPLES) -> list[dict]:
    """``records`` (one per ROI row) with "consistency (%)" and "fast SE (%)" (NaN where none) and "flag" ("ok",
    or the reasons "inconsistent", "imprecise", "too small" joined by ", "; "" where the row has no trust map)."""
    if len(records) != len(reliabilities):
        raise ValueError(f"{len(records)} table rows but {len(reliabilities)} trust values")
    nan = float("nan")
    for record, value in zip(records, reliabilities, strict=True):
        record[CONSISTENCY_COLUMN] = nan if value is None else float(value.consistency_pct)
        record[PRECISION_COLUMN] = nan if value is None else float(value.precision_pct)
        record[FLAG_COLUMN] = "" if value is None else value.flag(threshold_pct, precision_threshold_pct, min_samples)
    return records


def is_dl_node(node: slicer.vtkMRMLScalarVolumeNode) -> bool:
    return (node.GetAttribute(PROTOCOL_ATTRIBUTE) or "") == "DL"
