"""QuantMap (LPS, physical units) ⇄ MRML scalar volume node (RAS), with map kind and protocol attributes."""

from __future__ import annotations

import numpy as np
import slicer
import vtk

from quantsr.mapkinds import MapKind
from quantsr.volume import QuantMap

#: LPS ⇄ RAS: flip the first two axes.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])
KIND_ATTRIBUTE = "QuantSR.MapKind"
PROTOCOL_ATTRIBUTE = "QuantSR.Protocol"


def volume_node_from_map(scene: slicer.vtkMRMLScene, qmap: QuantMap, name: str, protocol: str = "",
                         node: slicer.vtkMRMLScalarVolumeNode | None = None) -> slicer.vtkMRMLScalarVolumeNode:
    """A scalar volume node holding ``qmap`` (float32, ms / %) with its geometry; reuses ``node`` if given."""
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", scene.GenerateUniqueName(name))
    node.SetOrigin(*(LPS_TO_RAS @ np.asarray(qmap.origin)))
    node.SetSpacing(*qmap.spacing)
    directions = vtk.vtkMatrix4x4()
    ras = LPS_TO_RAS @ qmap.direction
    for row in range(3):
        for col in range(3):
            directions.SetElement(row, col, ras[row, col])
    node.SetIJKToRASDirectionMatrix(directions)
    slicer.util.updateVolumeFromArray(node, np.ascontiguousarray(qmap.array, dtype=np.float32))
    node.SetAttribute(KIND_ATTRIBUTE, qmap.kind.value)
    if protocol:
        node.SetAttribute(PROTOCOL_ATTRIBUTE, protocol)
    return node


def set_window(node: slicer.vtkMRMLScalarVolumeNode, low: float, high: float, color_node_id: str) -> bool:
    """A fixed window from ``low`` to ``high`` (auto window/level off) and the colour table ``color_node_id`` on the
    node's display, created when missing (every fixed window in the module goes through here); False when the
    node gets no display (no image data)."""
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    display = node.GetDisplayNode()
    if display is None:
        return False
    display.AutoWindowLevelOff()
    display.SetWindowLevelMinMax(low, high)
    display.SetAndObserveColorNodeID(color_node_id)
    return True


def map_from_volume_node(node: slicer.vtkMRMLScalarVolumeNode, kind: MapKind | None = None) -> QuantMap:
    """The node's voxels and geometry as a QuantMap; kind from ``kind``, the node attribute or its name."""
    if node is None or node.GetImageData() is None:
        raise ValueError("the volume node has no image data")
    directions = vtk.vtkMatrix4x4()
    node.GetIJKToRASDirectionMatrix(directions)
    ras = np.array([[directions.GetElement(r, c) for c in range(3)] for r in range(3)])
    if kind is None:
        kind = node_kind(node)
    return QuantMap(
        np.array(slicer.util.arrayFromVolume(node), dtype=np.float32),
        origin=tuple(LPS_TO_RAS @ np.asarray(node.GetOrigin())),
        spacing=node.GetSpacing(),
        direction=LPS_TO_RAS @ ras,
        kind=kind,
        metadata={"node_name": node.GetName()},
    )


def declared_kind(node: slicer.vtkMRMLScalarVolumeNode) -> MapKind | None:
    """The kind the node's QuantSR attribute or its name states; None when neither does (a volume loaded
    through Slicer's DICOM browser is named after its series description and has no attribute)."""
    from quantsr.kinddetect import kind_from_words

    stored = node.GetAttribute(KIND_ATTRIBUTE)
    if stored:
        return MapKind.parse(stored)
    return kind_from_words(node.GetName() or "")


def node_kind(node: slicer.vtkMRMLScalarVolumeNode) -> MapKind:
    return declared_kind(node) or MapKind.UNKNOWN
