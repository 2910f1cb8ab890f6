"""The Fast | DL | Routine comparison layouts: three linked slice views, and the same three above a table view
for ROI results (so Measure does not leave the comparison). Registered when the module's panel is set up, so
a saved scene that uses them reopens with its views; switching needs the Slicer application."""

from __future__ import annotations

import slicer

LAYOUT_ID = 5801  # custom layouts use IDs ≥ 100; chosen to be unlikely to clash
TABLE_LAYOUT_ID = 5802  # the three views above the ROI table
COMPARISON_LAYOUTS = (LAYOUT_ID, TABLE_LAYOUT_ID)
VIEW_TAGS = ("QSRFast", "QSRDL", "QSRRoutine")
VIEW_LABELS = ("Fast", "DL", "Routine")
VIEW_COLORS = ("#4a90d9", "#d94a4a", "#4ad97a")
VIEW_GROUP = 7  # own view group: linked controls do not spill into the user's other views
TABLE_TAG = "QSRTable"

_VIEWS_XML = "<layout type=\"horizontal\" split=\"true\">" + "".join(
    f"<item><view class=\"vtkMRMLSliceNode\" singletontag=\"{tag}\">"
    f"<property name=\"orientation\" action=\"default\">Axial</property>"
    f"<property name=\"viewlabel\" action=\"default\">{label}</property>"
    f"<property name=\"viewcolor\" action=\"default\">{color}</property>"
    f"<property name=\"viewgroup\" action=\"default\">{VIEW_GROUP}</property>"
    "</view></item>"
    for tag, label, color in zip(VIEW_TAGS, VIEW_LABELS, VIEW_COLORS, strict=True)
) + "</layout>"
LAYOUT_XML = _VIEWS_XML
TABLE_LAYOUT_XML = (
    "<layout type=\"vertical\" split=\"true\">"
    f"<item splitSize=\"700\">{_VIEWS_XML}</item>"
    f"<item splitSize=\"300\"><view class=\"vtkMRMLTableViewNode\" singletontag=\"{TABLE_TAG}\">"
    "<property name=\"viewlabel\" action=\"default\">T</property></view></item>"
    "</layout>"
)


def register_layouts(layout_node: slicer.vtkMRMLLayoutNode) -> None:
    """Add (or refresh) both comparison layouts on the scene's layout node."""
    for layout_id, xml in ((LAYOUT_ID, LAYOUT_XML), (TABLE_LAYOUT_ID, TABLE_LAYOUT_XML)):
        if layout_node.IsLayoutDescription(layout_id):
            layout_node.SetLayoutDescription(layout_id, xml)
        else:
            layout_node.AddLayoutDescription(layout_id, xml)


def _layout_manager():
    app = getattr(slicer, "app", None)
    return app.layoutManager() if app is not None else None  # None with --no-main-window (generic tests)


def register_in_application() -> bool:
    manager = _layout_manager()
    if manager is None:
        return False
    register_layouts(manager.layoutLogic().GetLayoutNode())
    return True


def comparison_shown() -> bool:
    manager = _layout_manager()
    return manager is not None and manager.layout in COMPARISON_LAYOUTS


def show_comparison(fast, dl, routine, legend: bool = True, fit: bool = True) -> None:
    """Show the comparison (keeping the table if it is shown), pin each view to its volume and link them.
    ``fit`` re-fits the views; switching T1 / T2 / PD keeps the user's zoom and pan."""
    manager = _layout_manager()
    if manager is None:
        return
    register_layouts(manager.layoutLogic().GetLayoutNode())
    if manager.layout not in COMPARISON_LAYOUTS:
        manager.setLayout(LAYOUT_ID)
        fit = True
    for tag, volume in zip(VIEW_TAGS, (fast, dl, routine), strict=True):
        widget = manager.sliceWidget(tag)
        if widget is None:
            continue
        composite = widget.mrmlSliceCompositeNode()
        composite.SetBackgroundVolumeID(volume.GetID() if volume else None)
        composite.SetForegroundVolumeID(None)
        composite.SetLinkedControl(True)
        composite.SetHotLinkedControl(True)
        if fit:
            widget.sliceLogic().FitSliceToAll()
    if legend and dl is not None:
        slicer.modules.colors.logic().AddDefaultColorLegendDisplayNode(dl)


def show_table(table: slicer.vtkMRMLTableNode) -> None:
    """The ROI table under the three comparison views."""
    manager = _layout_manager()
    if manager is None:
        return
    register_layouts(manager.layoutLogic().GetLayoutNode())
    manager.setLayout(TABLE_LAYOUT_ID)
    selection = slicer.app.applicationLogic().GetSelectionNode()
    selection.SetActiveTableID(table.GetID())
    slicer.app.applicationLogic().PropagateTableSelection()
