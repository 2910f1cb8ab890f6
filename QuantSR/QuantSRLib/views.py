"""The Fast | DL | Routine comparison layout (needs the Slicer application: a layout manager)."""

from __future__ import annotations

import slicer

LAYOUT_ID = 5801  # custom layouts use IDs ≥ 100; chosen to be unlikely to clash
VIEW_TAGS = ("QSRFast", "QSRDL", "QSRRoutine")
VIEW_LABELS = ("Fast", "DL", "Routine")
VIEW_COLORS = ("#4a90d9", "#d94a4a", "#4ad97a")
VIEW_GROUP = 7  # own view group: linked controls do not spill into the user's other views

LAYOUT_XML = "<layout type=\"horizontal\" split=\"true\">" + "".join(
    f"<item><view class=\"vtkMRMLSliceNode\" singletontag=\"{tag}\">"
    f"<property name=\"orientation\" action=\"default\">Axial</property>"
    f"<property name=\"viewlabel\" action=\"default\">{label}</property>"
    f"<property name=\"viewcolor\" action=\"default\">{color}</property>"
    f"<property name=\"viewgroup\" action=\"default\">{VIEW_GROUP}</property>"
    "</view></item>"
    for tag, label, color in zip(VIEW_TAGS, VIEW_LABELS, VIEW_COLORS, strict=True)
) + "</layout>"


def show_comparison(fast, dl, routine, legend: bool = True) -> None:
    """Switch to the three-view layout, pin each view to its volume, link position, zoom and pan."""
    manager = slicer.app.layoutManager()
    if manager is None:  # --no-main-window (generic tests)
        return
    layout_node = manager.layoutLogic().GetLayoutNode()
    if not layout_node.IsLayoutDescription(LAYOUT_ID):
        layout_node.AddLayoutDescription(LAYOUT_ID, LAYOUT_XML)
    manager.setLayout(LAYOUT_ID)
    for tag, volume in zip(VIEW_TAGS, (fast, dl, routine), strict=True):
        widget = manager.sliceWidget(tag)
        if widget is None:
            continue
        composite = widget.mrmlSliceCompositeNode()
        composite.SetBackgroundVolumeID(volume.GetID() if volume else None)
        composite.SetForegroundVolumeID(None)
        composite.SetLinkedControl(True)
        composite.SetHotLinkedControl(True)
        widget.sliceLogic().FitSliceToAll()
    if legend and dl is not None:
        slicer.modules.colors.logic().AddDefaultColorLegendDisplayNode(dl)
