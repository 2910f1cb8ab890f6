"""Linked axial slice views rendered by Slicer's own slice pipeline (slicer-core ``vtkMRMLSliceLogic``:
reslice in physical space, window / level, colour table, foreground blending), without Qt or OpenGL.

The views share one slice position, field of view and centre, as the Slicer module's Fast | DL | Routine
views do through their linked view group (``QuantSRLib.views``); the browser shows their images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import slicer
import vtk
from vtk.util.numpy_support import vtk_to_numpy

from QuantSRLib.views import VIEW_GROUP


@dataclass
class Geometry:
    """What the linked views share: zoom over the fitted field of view, centre (R, A) and slice (S) in mm."""

    zoom: float = 1.0
    centre_ras: tuple[float, float] = (0.0, 0.0)
    offset_s: float = 0.0


class LinkedSliceViews:
    """One axial ``vtkMRMLSliceLogic`` per view tag on ``scene``, square views of ``size_px`` pixels."""

    def __init__(self, scene: slicer.vtkMRMLScene, tags: Sequence[str], size_px: int) -> None:
        self.scene = scene
        self.size_px = size_px
        self._application = slicer.vtkMRMLApplicationLogic()  # slice logics need one (kept alive here)
        self._application.SetMRMLScene(scene)
        self.logics: dict[str, slicer.vtkMRMLSliceLogic] = {}
        for tag in tags:
            logic = slicer.vtkMRMLSliceLogic()
            logic.SetMRMLApplicationLogic(self._application)
            logic.SetMRMLScene(scene)
            node = logic.AddSliceNode(tag)
            node.SetOrientation("Axial")
            node.SetViewGroup(VIEW_GROUP)
            node.SetDimensions(size_px, size_px, 1)
            self.logics[tag] = logic
        self.fitted_fov = (1.0, 1.0)
        self.fitted_centre = (0.0, 0.0)
        self.geometry = Geometry()

    def composite(self, tag: str) -> slicer.vtkMRMLSliceCompositeNode:
        return self.logics[tag].GetSliceCompositeNode()

    def show(self, volumes: Mapping[str, slicer.vtkMRMLScalarVolumeNode | None]) -> None:
        """Pin each view's background to its volume (None: empty view), no foreground, linked controls."""
        for tag, logic in self.logics.items():
            composite = logic.GetSliceCompositeNode()
            volume = volumes.get(tag)
            composite.SetBackgroundVolumeID(volume.GetID() if volume is not None else None)
            composite.SetForegroundVolumeID(None)
            composite.SetLinkedControl(True)
            composite.SetHotLinkedControl(True)

    def fit(self, reference: slicer.vtkMRMLScalarVolumeNode) -> None:
        """Fit the field of view to ``reference`` (Slicer's FitSliceToAll), then reset zoom and pan."""
        first = next(iter(self.logics.values()))
        composite = first.GetSliceCompositeNode()
        background = composite.GetBackgroundVolumeID()
        composite.SetBackgroundVolumeID(reference.GetID())
        first.FitSliceToAll()
        composite.SetBackgroundVolumeID(background)
        node = first.GetSliceNode()
        fov = node.GetFieldOfView()
        side = max(fov[0], fov[1])  # square views: the larger extent fits both
        self.fitted_fov = (side, side)
        matrix = node.GetSliceToRAS()
        self.fitted_centre = (matrix.GetElement(0, 3), matrix.GetElement(1, 3))
        self.geometry = Geometry(1.0, self.fitted_centre, self.geometry.offset_s)

    def apply(self, geometry: Geometry) -> None:
        """The same field of view, centre and slice position in every view (what linked controls do)."""
        self.geometry = geometry
        fov = [v / geometry.zoom for v in self.fitted_fov]
        for logic in self.logics.values():
            node = logic.GetSliceNode()
            node.SetOrientation("Axial")
            matrix = node.GetSliceToRAS()
            matrix.SetElement(0, 3, geometry.centre_ras[0])
            matrix.SetElement(1, 3, geometry.centre_ras[1])
            node.SetFieldOfView(fov[0], fov[1], node.GetFieldOfView()[2])
            node.UpdateMatrices()
            logic.SetSliceOffset(geometry.offset_s)

    def image(self, tag: str) -> np.ndarray:
        """The view's RGB image (rows top-down) after reslice, window / level, colour table and blending."""
        logic = self.logics[tag]
        logic.UpdatePipeline()
        connection = logic.GetImageDataConnection()
        producer = connection.GetProducer() if connection is not None else None
        if producer is None or not logic.GetSliceCompositeNode().GetBackgroundVolumeID():
            return np.zeros((self.size_px, self.size_px, 3), np.uint8)
        producer.Update()
        output = producer.GetOutputDataObject(0)
        scalars = output.GetPointData().GetScalars() if output is not None else None
        if scalars is None:
            return np.zeros((self.size_px, self.size_px, 3), np.uint8)
        width, height, _ = output.GetDimensions()
        pixels = vtk_to_numpy(scalars).reshape(height, width, -1)[::-1, :, :3]  # VTK rows run bottom-up
        return np.ascontiguousarray(pixels, dtype=np.uint8)

    def _xy_to_ras(self) -> vtk.vtkMatrix4x4:
        return next(iter(self.logics.values())).GetSliceNode().GetXYToRAS()

    def to_ras(self, x_px: float, y_px: float) -> tuple[float, float, float]:
        """The RAS point (mm) under view pixel (x, y), counted from the top left as the browser does."""
        point = self._xy_to_ras().MultiplyPoint((x_px, self.size_px - y_px, 0.0, 1.0))
        return float(point[0]), float(point[1]), float(point[2])

    def box_on_view(self, centre_ras: Sequence[float], size_mm: Sequence[float]) -> dict[str, float] | None:
        """Where an axis-aligned ROI box crosses the current slice, as left / top / width / height in view
        pixels; None when the slice misses the box."""
        if abs(self.geometry.offset_s - centre_ras[2]) > size_mm[2] / 2:
            return None
        to_xy = vtk.vtkMatrix4x4()
        vtk.vtkMatrix4x4.Invert(self._xy_to_ras(), to_xy)
        corners = []
        for dx, dy in ((-1, -1), (1, 1)):
            point = (centre_ras[0] + dx * size_mm[0] / 2, centre_ras[1] + dy * size_mm[1] / 2, centre_ras[2], 1.0)
            x, y = to_xy.MultiplyPoint(point)[:2]
            corners.append((x, self.size_px - y))
        (x0, y0), (x1, y1) = corners
        return {"left": min(x0, x1), "top": min(y0, y1), "width": abs(x1 - x0), "height": abs(y1 - y0)}
