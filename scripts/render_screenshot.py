"""Render the Extensions Index screenshot ``docs/screenshots/compare.png`` offscreen: what QuantSR's
*Compare* layout shows for one simulated patient — the fast | DL | routine maps of one slice through a lesion,
side by side and linked (same position and field of view), with the module's window / level and colour map,
one Markups ROI box on the lesion drawn on all three, and the module's ROI means in a table below.

Made with::

    nice -n 19 .venv/bin/python scripts/render_screenshot.py

(options: ``--map T2``, ``--colormap grey``, ``--output``, ``--cache FILE`` to keep the simulated patient
between runs). The data: ``simulate_subject("sub-001", seed=7, n_lesions=3)``; its fast map super-resolved
by the bundled model (``SuperResolver.for_kind``) on the slab of slices around the one shown (the model works
slice by slice, so the shown slice is what a whole-volume run gives). The images come from Slicer's own
display pipeline (slicer-core: ``vtkMRMLSliceLogic`` reslicing each volume node through its display node,
window / level and colour node set by ``QuantSRSceneLogic.apply_display``); the means come from
``QuantSRSceneLogic.measure_rois``. Annotations (view bars, ROI outline, legend, table) are drawn with VTK in
an offscreen render window, placed the way Slicer draws them.
"""

from __future__ import annotations

import argparse
import io
import pickle
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "QuantSR"))  # QuantSRLib (the module's Logic) and quantsr

import slicer  # noqa: E402  (slicer-core)
import vtk  # noqa: E402
from vtk.util.numpy_support import vtk_to_numpy  # noqa: E402

from quantsr.mapkinds import MapKind  # noqa: E402
from quantsr.volume import QuantMap  # noqa: E402
from QuantSRLib.logic import COLOR_NODES, QuantSRSceneLogic  # noqa: E402
from QuantSRLib.nodes import volume_node_from_map  # noqa: E402
from QuantSRLib.views import VIEW_COLORS, VIEW_GROUP, VIEW_LABELS, VIEW_TAGS  # noqa: E402

DEFAULT_OUTPUT = ROOT / "docs" / "screenshots" / "compare.png"
SUBJECT, SEED, LESIONS = "sub-001", 7, 3
VIEW_PX = 400  # each slice view is VIEW_PX × VIEW_PX
BAR_PX = 22  # Slicer's coloured view-controller bar above each view
TITLE_PX = 30
TABLE_PX = 96
PROTOCOLS = ("fast", "DL", "routine")  # the protocol attribute QuantSR gives fast / DL / routine volumes
MAX_BYTES = 300_000
_KEEP_ALIVE: list[object] = []  # logics whose deletion would take their nodes (the colour tables) off the scene


@dataclass
class Study:
    """One simulated patient's map of one kind on the fast, DL and routine grids, with its lesions."""

    fast: QuantMap
    dl: QuantMap
    routine: QuantMap
    labels: QuantMap  # lesion labels on the routine grid
    lesion: int  # the label shown
    lesion_kind: str
    lesion_value: float  # the phantom's set value for this lesion and map
    slice_index: int  # routine / fast slice through the lesion


def _hex_rgb(color: str) -> tuple[float, float, float]:
    return tuple(int(color[i:i + 2], 16) / 255.0 for i in (1, 3, 5))  # type: ignore[return-value]


def _slab(qmap: QuantMap, first: int, stop: int) -> QuantMap:
    origin = qmap.index_to_physical([0, 0, first])[0]
    return QuantMap(qmap.array[first:stop].copy(), origin=tuple(origin), spacing=qmap.spacing,
                    direction=qmap.direction, kind=qmap.kind, metadata=dict(qmap.metadata))


def simulate_study(kind: MapKind, cache: Path | None = None) -> Study:
    """Simulate the patient (or read ``cache``), pick the slice through its largest lesion and super-resolve
    the fast map's slab around it with the bundled model."""
    if cache is not None and cache.is_file():
        with cache.open("rb") as handle:
            subject = pickle.load(handle)
    else:
        from quantsr.simulate.subject import simulate_subject

        started = time.perf_counter()
        subject = simulate_subject(SUBJECT, seed=SEED, n_lesions=LESIONS)
        print(f"simulated {SUBJECT} in {time.perf_counter() - started:.0f} s", flush=True)
        if cache is not None:
            with cache.open("wb") as handle:
                pickle.dump(subject, handle)
    from quantsr.engine import SuperResolver

    labels = subject.labels
    counts = {lesion.label: int((np.rint(labels.array) == lesion.label).sum()) for lesion in subject.lesions}
    lesion = max(subject.lesions, key=lambda item: counts[item.label])
    k = int(np.argmax((np.rint(labels.array) == lesion.label).sum(axis=(1, 2))))
    fast, routine = subject.maps["fast"][kind], subject.maps["routine"][kind]
    if fast.shape[0] != routine.shape[0] or fast.shape[0] != labels.shape[0]:
        raise RuntimeError("fast, routine and label slices differ: cannot pick one slice for all three")
    first, stop = max(k - 1, 0), min(k + 2, fast.shape[0])
    started = time.perf_counter()
    dl = SuperResolver.for_kind(kind).run(_slab(fast, first, stop))
    print(f"super-resolved slices {first}–{stop - 1} in {time.perf_counter() - started:.0f} s", flush=True)
    value = {MapKind.T1: lesion.t1_ms, MapKind.T2: lesion.t2_ms, MapKind.PD: lesion.pd_pct}[kind]
    return Study(fast, dl, routine, labels, lesion.label, lesion.kind, float(value), k)


def lesion_roi(scene: slicer.vtkMRMLScene, study: Study) -> slicer.vtkMRMLMarkupsROINode:
    """A Markups ROI box inside the lesion on the shown slice: centred on the lesion's cross-section, as wide
    as its equivalent radius (so the box stays in the lesion), one slice thick."""
    labels, k = study.labels, study.slice_index
    rows, cols = np.nonzero(np.rint(labels.array[k]) == study.lesion)
    centre_lps = labels.index_to_physical([[cols.mean(), rows.mean(), k]])[0]
    area_mm2 = rows.size * labels.spacing[0] * labels.spacing[1]
    side = float(np.sqrt(area_mm2 / np.pi))
    roi = scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", f"L{study.lesion}")
    roi.SetCenter(-centre_lps[0], -centre_lps[1], centre_lps[2])  # LPS → RAS
    roi.SetSize(side, side, 0.8 * labels.spacing[2])
    return roi


def build_scene(study: Study, colormap: str
                ) -> tuple[slicer.vtkMRMLScene, list[slicer.vtkMRMLScalarVolumeNode], slicer.vtkMRMLMarkupsROINode]:
    """A real MRML scene with the module's default colour nodes, the three volumes named and displayed as
    the module names and displays them, and the lesion ROI."""
    scene = slicer.vtkMRMLScene()
    colors = slicer.vtkMRMLColorLogic()
    colors.SetMRMLScene(scene)  # adds Slicer's default colour nodes (Grey, Rainbow, ...)
    _KEEP_ALIVE.append(colors)
    if scene.GetNodeByID(COLOR_NODES.get(colormap, "")) is None:
        raise SystemExit(f"colour map {colormap!r} is not available in slicer-core (try grey or rainbow)")
    logic = QuantSRSceneLogic(scene)
    kind = study.fast.kind
    nodes = []
    for protocol, qmap in zip(PROTOCOLS, (study.fast, study.dl, study.routine), strict=True):
        node = volume_node_from_map(scene, qmap, f"{kind.value} {protocol}", protocol)
        logic.apply_display(node, colormap)
        nodes.append(node)
    return scene, nodes, lesion_roi(scene, study)


def slice_logics(scene: slicer.vtkMRMLScene, nodes: list[slicer.vtkMRMLScalarVolumeNode], z_ras: float,
                 zoom: float) -> list[slicer.vtkMRMLSliceLogic]:
    """One axial slice view per volume, as ``views.show_comparison`` sets them up: pinned background,
    linked controls in the module's view group, then one shared field of view and slice position."""
    app = slicer.vtkMRMLApplicationLogic()
    app.SetMRMLScene(scene)
    _KEEP_ALIVE.append(app)
    logics = []
    for tag, node in zip(VIEW_TAGS, nodes, strict=True):
        logic = slicer.vtkMRMLSliceLogic()
        logic.SetMRMLApplicationLogic(app)
        logic.SetMRMLScene(scene)
        slice_node = logic.AddSliceNode(tag)
        slice_node.SetOrientation("Axial")
        slice_node.SetViewGroup(VIEW_GROUP)
        slice_node.SetDimensions(VIEW_PX, VIEW_PX, 1)
        composite = logic.GetSliceCompositeNode()
        composite.SetBackgroundVolumeID(node.GetID())
        composite.SetForegroundVolumeID(None)
        composite.SetLinkedControl(True)
        composite.SetHotLinkedControl(True)
        logics.append(logic)
    first = logics[0].GetSliceNode()
    logics[0].FitSliceToAll()
    fov = [value / zoom for value in first.GetFieldOfView()]
    for logic in logics:  # what linked controls do in Slicer: every view gets the same field of view and offset
        slice_node = logic.GetSliceNode()
        slice_node.GetSliceToRAS().DeepCopy(first.GetSliceToRAS())
        slice_node.SetFieldOfView(*fov)
        slice_node.UpdateMatrices()
        logic.SetSliceOffset(z_ras)
        logic.UpdatePipeline()
    return logics


def slice_image(logic: slicer.vtkMRMLSliceLogic) -> vtk.vtkImageData:
    """The view's RGBA image after Slicer's reslice, window / level and colour lookup."""
    producer = logic.GetImageDataConnection().GetProducer()
    producer.Update()
    image = vtk.vtkImageData()
    image.DeepCopy(producer.GetOutputDataObject(0))
    return image


def roi_outline(logic: slicer.vtkMRMLSliceLogic, roi: slicer.vtkMRMLMarkupsROINode) -> np.ndarray:
    """The ROI box's cross-section with the view's plane, in view pixels (x, y from the bottom left)."""
    centre, size = np.array(roi.GetCenterWorld()), np.array(roi.GetSize())
    ras_to_xy = vtk.vtkMatrix4x4()
    vtk.vtkMatrix4x4.Invert(logic.GetSliceNode().GetXYToRAS(), ras_to_xy)
    corners = []
    for dx, dy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
        point = [centre[0] + dx * size[0] / 2, centre[1] + dy * size[1] / 2, centre[2], 1.0]
        corners.append(ras_to_xy.MultiplyPoint(point)[:2])
    return np.array(corners)


def _text(renderer: vtk.vtkRenderer, text: str, x: float, y: float, size: int, color=(1.0, 1.0, 1.0),
          bold: bool = False, mono: bool = False, justify: str = "left", valign: str = "bottom") -> None:
    actor = vtk.vtkTextActor()
    actor.SetInput(text)
    prop = actor.GetTextProperty()
    prop.SetFontSize(size)
    prop.SetColor(*color)
    prop.SetBold(bold)
    prop.SetFontFamilyToCourier() if mono else prop.SetFontFamilyToArial()
    {"left": prop.SetJustificationToLeft, "centre": prop.SetJustificationToCentered,
     "right": prop.SetJustificationToRight}[justify]()
    {"bottom": prop.SetVerticalJustificationToBottom, "centre": prop.SetVerticalJustificationToCentered,
     "top": prop.SetVerticalJustificationToTop}[valign]()
    actor.SetPosition(x, y)
    renderer.AddViewProp(actor)


def _polygon(renderer: vtk.vtkRenderer, points: np.ndarray, color, filled: bool, width: float = 2.0) -> None:
    vtk_points = vtk.vtkPoints()
    for x, y in points:
        vtk_points.InsertNextPoint(float(x), float(y), 0.0)
    cells = vtk.vtkCellArray()
    ids = list(range(len(points)))
    if filled:
        cells.InsertNextCell(len(ids), ids)
    else:
        cells.InsertNextCell(len(ids) + 1, ids + [0])
    poly = vtk.vtkPolyData()
    poly.SetPoints(vtk_points)
    poly.SetPolys(cells) if filled else poly.SetLines(cells)
    mapper = vtk.vtkPolyDataMapper2D()
    mapper.SetInputData(poly)
    actor = vtk.vtkActor2D()
    actor.SetMapper(mapper)
    actor.GetProperty().SetColor(*color)
    actor.GetProperty().SetLineWidth(width)
    renderer.AddViewProp(actor)


def _rect(renderer: vtk.vtkRenderer, x0: float, y0: float, x1: float, y1: float, color) -> None:
    _polygon(renderer, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]), color, filled=True)


def _legend(renderer: vtk.vtkRenderer, node: slicer.vtkMRMLScalarVolumeNode, title: str, x: float, y: float) -> None:
    """A colour legend for the node's colour node over its display window (the module adds one to DL)."""
    display = node.GetDisplayNode()
    table = vtk.vtkLookupTable()
    table.DeepCopy(display.GetColorNode().GetLookupTable())
    table.SetTableRange(display.GetWindowLevelMin(), display.GetWindowLevelMax())
    bar = vtk.vtkScalarBarActor()
    bar.SetLookupTable(table)
    bar.SetTitle(title)
    bar.SetNumberOfLabels(4)
    bar.SetLabelFormat("%.0f")
    bar.SetBarRatio(0.28)
    bar.UnconstrainedFontSizeOn()
    for prop in (bar.GetTitleTextProperty(), bar.GetLabelTextProperty()):
        prop.SetFontSize(13)
        prop.SetColor(1.0, 1.0, 1.0)
        prop.SetFontFamilyToArial()
        prop.ShadowOn()
        prop.ItalicOff()
    bar.GetPositionCoordinate().SetCoordinateSystemToDisplay()
    bar.GetPositionCoordinate().SetValue(x, y)
    bar.SetWidth(0.06)
    bar.SetHeight(0.42)
    renderer.AddViewProp(bar)


def roi_means(scene: slicer.vtkMRMLScene, nodes: list[slicer.vtkMRMLScalarVolumeNode],
              roi: slicer.vtkMRMLMarkupsROINode) -> dict[str, tuple[float, float, int]]:
    """(mean, SD, voxels) per protocol from the module's own measurement."""
    rows, _table, _summary = QuantSRSceneLogic(scene).measure_rois(nodes, rois=[roi])
    return {row.protocol: (row.mean, row.sd, row.voxels) for row in rows}


def render(study: Study, colormap: str, zoom: float) -> np.ndarray:
    """The screenshot as an (H, W, 3) uint8 array."""
    scene, nodes, roi = build_scene(study, colormap)
    kind = study.fast.kind
    z_ras = float(study.labels.index_to_physical([[0, 0, study.slice_index]])[0][2])
    logics = slice_logics(scene, nodes, z_ras, zoom)
    means = roi_means(scene, nodes, roi)

    width, height = 3 * VIEW_PX, TITLE_PX + BAR_PX + VIEW_PX + TABLE_PX
    window = vtk.vtkRenderWindow()
    window.SetOffScreenRendering(1)
    window.SetSize(width, height)
    window.SetMultiSamples(0)
    renderer = vtk.vtkRenderer()
    renderer.SetBackground(0.0, 0.0, 0.0)
    window.AddRenderer(renderer)

    unit = kind.unit
    _rect(renderer, 0, height - TITLE_PX, width, height, (0.17, 0.17, 0.19))
    _text(renderer, f"QuantSR Compare · Fast / DL / Routine, linked views · {kind.value} map ({unit}) · "
          f"simulated patient {SUBJECT} · axial z = {z_ras:.1f} mm", 10, height - TITLE_PX / 2, 15, bold=True,
          valign="centre")
    views_y = TABLE_PX
    roi_color = (1.0, 0.84, 0.0)
    for index, (logic, node, label, color) in enumerate(zip(logics, nodes, VIEW_LABELS, VIEW_COLORS, strict=True)):
        x0 = index * VIEW_PX
        mapper = vtk.vtkImageMapper()
        mapper.SetInputData(slice_image(logic))
        mapper.SetColorWindow(255.0)
        mapper.SetColorLevel(127.5)
        image = vtk.vtkActor2D()
        image.SetMapper(mapper)
        image.SetPosition(x0, views_y)
        renderer.AddViewProp(image)
        bar_y = views_y + VIEW_PX
        _rect(renderer, x0, bar_y, x0 + VIEW_PX, bar_y + BAR_PX, _hex_rgb(color))
        _text(renderer, label, x0 + 8, bar_y + BAR_PX / 2, 15, color=(0.0, 0.0, 0.0), bold=True, valign="centre")
        _text(renderer, node.GetName(), x0 + VIEW_PX - 8, bar_y + BAR_PX / 2, 13, color=(0.0, 0.0, 0.0),
              justify="right", valign="centre")
        spacing = node.GetSpacing()
        _text(renderer, f"B: {node.GetName()}  ({spacing[0]:.2f} × {spacing[1]:.2f} × {spacing[2]:.0f} mm)",
              x0 + 6, views_y + 6, 13)
        _text(renderer, f"S: {z_ras:.1f} mm", x0 + 6, bar_y - 6, 13, valign="top")
        _text(renderer, f"W {display_window(node)}", x0 + VIEW_PX - 6, bar_y - 6, 13, justify="right", valign="top")
        outline = roi_outline(logic, roi) + np.array([x0, views_y])
        _polygon(renderer, outline, roi_color, filled=False)
        _text(renderer, roi.GetName(), outline[:, 0].max() + 4, outline[:, 1].max() + 2, 13, color=roi_color,
              bold=True)
        if index:
            _rect(renderer, x0 - 1, views_y, x0 + 1, bar_y + BAR_PX, (0.35, 0.35, 0.35))
    _legend(renderer, nodes[1], f"{kind.value} ({unit})", 2 * VIEW_PX - 62, views_y + 40)

    _rect(renderer, 0, 0, width, TABLE_PX, (0.95, 0.95, 0.95))
    dark, grey = (0.08, 0.08, 0.08), (0.35, 0.35, 0.35)
    columns = [10, 300, 530, 760, 990]
    header = ["ROI", *(f"{label} mean ± SD ({unit})" for label in VIEW_LABELS), "phantom value"]
    values = [f"{roi.GetName()} ({study.lesion_kind}), box {roi.GetSize()[0]:.1f} mm"]
    values += [f"{means[p][0]:.1f} ± {means[p][1]:.1f}  (n={means[p][2]})" for p in PROTOCOLS]
    values.append(f"{study.lesion_value:.0f} {unit}")
    for x, head, value in zip(columns + [1110], header, values, strict=False):
        _text(renderer, head, x, TABLE_PX - 26, 14, color=grey, bold=True)
        _text(renderer, value, x, TABLE_PX - 54, 15, color=dark)
    _rect(renderer, 0, TABLE_PX - 32, width, TABLE_PX - 31, (0.7, 0.7, 0.7))
    _text(renderer, "QuantSR ROI statistics — the same physical box measured on every volume (Measure ROIs); "
          "rendered offscreen by scripts/render_screenshot.py with Slicer's slice pipeline (slicer-core)",
          10, 10, 12, color=grey)
    window.Render()
    grab = vtk.vtkWindowToImageFilter()
    grab.SetInput(window)
    grab.SetInputBufferTypeToRGB()
    grab.ReadFrontBufferOff()
    grab.Update()
    output = grab.GetOutput()
    w, h, _ = output.GetDimensions()
    pixels = vtk_to_numpy(output.GetPointData().GetScalars()).reshape(h, w, 3)
    return np.ascontiguousarray(pixels[::-1])  # VTK rows run bottom-up


def display_window(node: slicer.vtkMRMLScalarVolumeNode) -> str:
    display = node.GetDisplayNode()
    return f"{display.GetWindowLevelMin():.0f}–{display.GetWindowLevelMax():.0f}"


def write_png(pixels: np.ndarray, path: Path, max_bytes: int = MAX_BYTES) -> int:
    """Write ``pixels`` as an optimised PNG; a palette PNG when full colour would exceed ``max_bytes``."""
    from PIL import Image

    image = Image.fromarray(pixels, "RGB")
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    if buffer.tell() > max_bytes:
        buffer = io.BytesIO()
        image.quantize(256, method=Image.Quantize.MEDIANCUT).save(buffer, "PNG", optimize=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return buffer.tell()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--map", default="T2", choices=["T1", "T2", "PD"], help="the map shown (default T2)")
    parser.add_argument("--colormap", default="grey", choices=sorted(COLOR_NODES), help="the module's colour map")
    parser.add_argument("--zoom", type=float, default=1.15, help="zoom over Slicer's fit-to-volume field of view")
    parser.add_argument("--cache", type=Path, help="pickle of the simulated patient (written on the first run)")
    args = parser.parse_args(argv)
    study = simulate_study(MapKind.parse(args.map), args.cache)
    size = write_png(render(study, args.colormap, args.zoom), args.output)
    print(f"wrote {args.output} ({size / 1000:.0f} kB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
