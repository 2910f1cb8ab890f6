"""Paired ROI measurement on MRML: Markups ROI boxes and segments, replicated in physical space on every
volume (fast, DL, routine) and every map, into a table node (the per-map paired t-tests across ROIs are the
core's ``quantsr.roi.paired_tests``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import slicer
import vtk

from quantsr.roi import RoiStats, box_mask, region_stats

from .nodes import LPS_TO_RAS, map_from_volume_node

TABLE_COLUMNS = ("roi", "description", "map", "protocol", "voxels", "volume_mm3", "mean", "sd", "median")


def roi_box_mask(roi: slicer.vtkMRMLMarkupsROINode, volume: slicer.vtkMRMLScalarVolumeNode) -> np.ndarray:
    """Voxels of ``volume`` whose centres lie inside the (possibly rotated) ROI box."""
    qmap = map_from_volume_node(volume)
    to_world = roi.GetObjectToWorldMatrix()  # columns: the box axes in RAS
    axes_ras = np.array([[to_world.GetElement(r, c) for c in range(3)] for r in range(3)])
    centre_ras = np.array(roi.GetCenterWorld())
    return box_mask(qmap, LPS_TO_RAS @ centre_ras, np.array(roi.GetSize()), LPS_TO_RAS @ axes_ras)


def segment_masks(segmentation: slicer.vtkMRMLSegmentationNode, volume: slicer.vtkMRMLScalarVolumeNode,
                  scene: slicer.vtkMRMLScene) -> dict[str, np.ndarray]:
    """Each segment resampled (nearest neighbour) onto ``volume``'s grid: {segment name: mask}. Every segment
    is exported on its own: a merged labelmap gives an overlap to one segment only (a lesion inside white
    matter would be cut out of the white matter)."""
    ids = vtk.vtkStringArray()
    segmentation.GetSegmentation().GetSegmentIDs(ids)
    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "QuantSR temporary labels")
    try:
        logic = slicer.vtkSlicerSegmentationsModuleLogic
        masks = {}
        for index in range(ids.GetNumberOfValues()):
            segment_id = ids.GetValue(index)
            one = vtk.vtkStringArray()
            one.InsertNextValue(segment_id)
            if not logic.ExportSegmentsToLabelmapNode(segmentation, one, labelmap, volume):
                raise ValueError(f"segment {segment_id} of {segmentation.GetName()} could not be placed on "
                                 f"{volume.GetName()}")
            segment = segmentation.GetSegmentation().GetSegment(segment_id)
            masks[segment.GetName()] = slicer.util.arrayFromVolume(labelmap) != 0
        return masks
    finally:
        scene.RemoveNode(labelmap)


@dataclass
class VolumeEntry:
    protocol: str  # "fast", "DL", "routine", ...
    node: slicer.vtkMRMLScalarVolumeNode


def roi_masks(scene: slicer.vtkMRMLScene, volume: slicer.vtkMRMLScalarVolumeNode,
              rois: Sequence[slicer.vtkMRMLMarkupsROINode] = (),
              segmentation: slicer.vtkMRMLSegmentationNode | None = None) -> Iterator[tuple[str, str, np.ndarray]]:
    """(name, description, mask on ``volume``'s grid) of every ROI box, then every segment: the row order
    of :func:`measure`, shared with the trust map's consistency column."""
    for roi in rois:
        yield roi.GetName(), roi.GetDescription() or "box", roi_box_mask(roi, volume)
    if segmentation is not None:
        for name, mask in segment_masks(segmentation, volume, scene).items():
            yield name, "segment", mask


def measure(scene: slicer.vtkMRMLScene, volumes: list[VolumeEntry],
            rois: list[slicer.vtkMRMLMarkupsROINode] = (),
            segmentation: slicer.vtkMRMLSegmentationNode | None = None) -> list[RoiStats]:
    """Statistics of every ROI box and segment on every volume (same physical region everywhere)."""
    rows: list[RoiStats] = []
    for entry in volumes:
        qmap = map_from_volume_node(entry.node)
        for name, description, mask in roi_masks(scene, entry.node, rois, segmentation):
            rows.append(region_stats(qmap, mask, name, entry.protocol, description))
    return rows


def fill_table(table: slicer.vtkMRMLTableNode, records: list[dict], columns: list[str]) -> slicer.vtkMRMLTableNode:
    """Replace the table's contents with ``records`` (numbers as double columns, the rest as text)."""
    table.RemoveAllColumns()
    vtk_table = table.GetTable()
    for name in columns:
        numeric = all(isinstance(rec.get(name), (int, float)) for rec in records) and records
        array = vtk.vtkDoubleArray() if numeric else vtk.vtkStringArray()
        array.SetName(name)
        for rec in records:
            value = rec.get(name, "")
            if numeric:
                array.InsertNextValue(float(value))
            else:
                array.InsertNextValue(str(value))
        vtk_table.AddColumn(array)
    table.Modified()
    return table


def stats_records(rows: list[RoiStats]) -> list[dict]:
    return [asdict(r) for r in rows]
