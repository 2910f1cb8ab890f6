"""One review session: the studies of ``quantsr view PATH``, the open study's maps as volume nodes in an MRML
scene, the linked slice views, ROI boxes and their measurement. Everything here goes through the Slicer
module's Logic (``QuantSRLib``: loading, display windows, ROI replication and statistics, paired tests, trust
map); this class only keeps the web page's choices. No trame here: the app (``app.py``) drives it."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import slicer

from QuantSRLib.logic import COLOR_NODES, QuantSRSceneLogic
from QuantSRLib.measure import TABLE_COLUMNS
from QuantSRLib.nodes import node_kind, set_window
from QuantSRLib.trust import COLOR_TABLES, TRUST_COLUMNS, set_overlay

from ..errors import InputError
from ..mapkinds import QUANT_KINDS, MapKind
from ..trust import DEFAULT_THRESHOLD_PCT
from .images import legend_strip, png_data_url, table_records
from .slices import Geometry, LinkedSliceViews
from .studies import SR_METHODS, Catalog

VIEW_PX = 384
#: The comparison columns: (view tag, title, colour, protocols in order of preference).
COLUMNS = (("QSRFast", "Fast", "#4a90d9", ("fast",)),
           ("QSRDL", "DL", "#d94a4a", SR_METHODS),
           ("QSRRoutine", "Routine", "#4ad97a", ("routine",)),
           ("QSRTruth", "Truth", "#b07ad9", ("truth",)))
DEFAULT_ROI_MM = (10.0, 10.0, 5.0)
DIVERGING = ((0.230, 0.299, 0.754), (0.865, 0.865, 0.865), (0.706, 0.016, 0.150))  # Moreland's cool-warm ends
ZOOM_LIMITS = (0.5, 16.0)


@dataclass
class Roi:
    name: str
    centre_ras: tuple[float, float, float]
    size_mm: tuple[float, float, float]
    node: slicer.vtkMRMLMarkupsROINode

    def as_dict(self) -> dict:
        r, a, s = self.centre_ras
        return {"name": self.name, "r": r, "a": a, "s": s, "size": list(self.size_mm),
                "text": f"{self.name}: R {r:.1f}  A {a:.1f}  S {s:.1f} mm, "
                        f"{' × '.join(f'{v:g}' for v in self.size_mm)} mm"}


@dataclass
class Measurement:
    records: list[dict] = field(default_factory=list)  # the Logic's ROI table, every map
    tests: list[dict] = field(default_factory=list)  # the Logic's paired tests, every map
    rows: list = field(default_factory=list)  # RoiStats (CSV export)


class ReviewSession:
    def __init__(self, catalog: Catalog, size_px: int = VIEW_PX) -> None:
        self.catalog = catalog
        self.scene = slicer.vtkMRMLScene()
        self._colors = slicer.vtkMRMLColorLogic()  # Slicer's default colour tables in this scene (kept alive)
        self._colors.SetMRMLScene(self.scene)
        self.logic = QuantSRSceneLogic(self.scene)
        self.views = LinkedSliceViews(self.scene, [c[0] for c in COLUMNS], size_px)
        self.study_index: int | None = None
        self.nodes: dict[str, dict[MapKind, slicer.vtkMRMLScalarVolumeNode]] = {}  # protocol → kind → node
        self.notes: list[str] = []
        self.kind = MapKind.T1
        self.colormap = "grey"
        self.windows: dict[MapKind, tuple[float, float]] = {}
        self.slice_positions: list[float] = []
        self.slice_index = 0
        self.rois: list[Roi] = []
        self.roi_size = DEFAULT_ROI_MM
        self.trust_visible = False
        self.trust_threshold = DEFAULT_THRESHOLD_PCT
        self._trust_nodes: dict[MapKind, slicer.vtkMRMLScalarVolumeNode] = {}
        self.measurement = Measurement()
        self._table = self.scene.AddNewNodeByClass("vtkMRMLTableNode", "QuantSR ROI statistics")
        self._summary = self.scene.AddNewNodeByClass("vtkMRMLTableNode", "QuantSR paired tests")

    # -- studies ------------------------------------------------------------------------------
    def open_study(self, index: int) -> None:
        """Read the study's maps into a fresh set of volume nodes (the ROIs stay where they are, in mm, and
        are measured again); an unreadable study leaves the previous one shown and raises InputError."""
        study = self.catalog.studies[index]
        maps, problems = study.read()
        for protocol_nodes in self.nodes.values():
            for node in protocol_nodes.values():
                self.scene.RemoveNode(node)
        for node in self._trust_nodes.values():
            self.scene.RemoveNode(node)
        self._trust_nodes.clear()
        self.logic = QuantSRSceneLogic(self.scene)  # a fresh trust cache: the old study's maps are gone
        self.nodes = {}
        for protocol, by_kind in maps.items():
            for qmap, node in zip(by_kind.values(), self.logic.add_maps(list(by_kind.values()), protocol),
                                  strict=True):
                self.nodes.setdefault(protocol, {})[qmap.kind] = node
        self.study_index = index
        self.notes = list(study.notes) + problems
        if self.kind not in self.kinds:
            self.kind = self.kinds[0]
        if study.boxes is not None and not self.rois:
            self._add_boxes(study.boxes)
        self._show(fit=True)
        self.measure()

    @property
    def study_name(self) -> str:
        return self.catalog.studies[self.study_index].name if self.study_index is not None else ""

    @property
    def kinds(self) -> list[MapKind]:
        return [k for k in QUANT_KINDS if any(k in by_kind for by_kind in self.nodes.values())]

    def column_protocol(self, protocols: tuple[str, ...]) -> str | None:
        return next((p for p in protocols if self.kind in self.nodes.get(p, {})), None)

    def column_nodes(self) -> dict[str, slicer.vtkMRMLScalarVolumeNode | None]:
        found = {}
        for tag, _title, _colour, protocols in COLUMNS:
            protocol = self.column_protocol(protocols)
            found[tag] = self.nodes[protocol][self.kind] if protocol else None
        return found

    def _reference(self) -> slicer.vtkMRMLScalarVolumeNode:
        """The volume whose slices the slice slider steps through: routine, else the first one shown."""
        nodes = self.column_nodes()
        return nodes["QSRRoutine"] or next(n for n in nodes.values() if n is not None)

    def _show(self, fit: bool = False) -> None:
        nodes = self.column_nodes()
        self.views.show(nodes)
        reference = self._reference()
        positions = _slice_positions(reference)
        if fit or not self.slice_positions:
            self.views.fit(reference)
            self.slice_index = len(positions) // 2
        elif positions != self.slice_positions:  # another grid: stay at the nearest slice
            offset = self.views.geometry.offset_s
            self.slice_index = int(np.argmin([abs(p - offset) for p in positions]))
        self.slice_positions = positions
        self.slice_index = min(self.slice_index, len(positions) - 1)
        self._apply_window()
        self._apply_trust()
        self.views.apply(Geometry(self.views.geometry.zoom, self.views.geometry.centre_ras,
                                  positions[self.slice_index]))

    # -- map, slice, zoom, pan, window --------------------------------------------------------
    def set_kind(self, kind: MapKind | str) -> None:
        kind = MapKind.parse(kind)
        if kind not in self.kinds:
            raise InputError(f"study {self.study_name} has no {kind.value} map")
        if kind is not self.kind:
            self.kind = kind
            self._show()
            if self.trust_visible:
                self.measure()

    def set_slice(self, index: int) -> None:
        self.slice_index = int(np.clip(index, 0, len(self.slice_positions) - 1))
        g = self.views.geometry
        self.views.apply(Geometry(g.zoom, g.centre_ras, self.slice_positions[self.slice_index]))

    def zoom_by(self, factor: float) -> None:
        g = self.views.geometry
        self.views.apply(Geometry(float(np.clip(g.zoom * factor, *ZOOM_LIMITS)), g.centre_ras, g.offset_s))

    def reset_view(self) -> None:
        self.views.apply(Geometry(1.0, self.views.fitted_centre, self.views.geometry.offset_s))

    def pan_pixels(self, dx: float, dy: float) -> None:
        """Move the picture with the pointer by (dx, dy) view pixels (browser: y down)."""
        g = self.views.geometry
        middle = self.views.size_px / 2
        r, a, _s = self.views.to_ras(middle - dx, middle - dy)  # what was there comes to the centre
        self.views.apply(Geometry(g.zoom, (r, a), g.offset_s))

    def window(self) -> tuple[float, float]:
        return self.windows.get(self.kind, self.kind.display_range)

    def set_window(self, low: float, high: float) -> None:
        if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
            raise InputError(f"the window needs a low value below the high one, got {low:g} – {high:g}")
        self.windows[self.kind] = (float(low), float(high))
        self._apply_window()

    def reset_window(self) -> None:
        self.windows.pop(self.kind, None)
        self._apply_window()

    def set_colormap(self, name: str) -> None:
        if name not in self.colormaps():
            raise InputError(f"colour map {name!r} is not available: choose {', '.join(self.colormaps())}")
        self.colormap = name
        self._apply_window()

    def colormaps(self) -> list[str]:
        return [name for name, node_id in COLOR_NODES.items() if self.scene.GetNodeByID(node_id) is not None]

    def _apply_window(self) -> None:
        """Each map's physical window (the Logic's ``MapKind.display_range``, or the user's), the same on fast,
        SR, routine and truth, and the chosen colour table, through the module's ``set_window``."""
        for by_kind in self.nodes.values():
            for node in by_kind.values():
                kind = node_kind(node)
                low, high = self.windows.get(kind, kind.display_range)
                set_window(node, low, high, COLOR_NODES[self.colormap])

    # -- trust map ----------------------------------------------------------------------------
    def trust_pair(self) -> tuple[slicer.vtkMRMLScalarVolumeNode, slicer.vtkMRMLScalarVolumeNode] | None:
        """(SR node, fast node) of the current map, when both are there."""
        nodes = self.column_nodes()
        if nodes["QSRDL"] is None or nodes["QSRFast"] is None:
            return None
        return nodes["QSRDL"], nodes["QSRFast"]

    def set_trust(self, visible: bool, threshold_pct: float | None = None) -> None:
        if threshold_pct is not None:
            if not math.isfinite(threshold_pct) or not 0 < threshold_pct <= 100:
                raise InputError(f"the trust threshold must be between 0 and 100 %, got {threshold_pct:g}")
            self.trust_threshold = float(threshold_pct)
        if visible and self.trust_pair() is None:
            self.trust_visible = False
            self._apply_trust()
            raise InputError(f"the trust map needs the fast and the DL {self.kind.value} map of this study")
        self.trust_visible = bool(visible)
        try:
            self._apply_trust()
        except InputError:
            self.trust_visible = False
            self._apply_trust()
            raise
        self.measure()

    def _apply_trust(self) -> None:
        composite = self.views.composite("QSRDL")
        pair = self.trust_pair()
        if not self.trust_visible or pair is None:
            composite.SetForegroundVolumeID(None)
            composite.SetForegroundOpacity(0.0)
            return
        dl_node, fast_node = pair
        trust = self.logic.show_trust_map(dl_node, fast_node, True, self.trust_threshold)
        if self.scene.GetNodeByID(COLOR_TABLES[0]) is None:  # the wheel lacks Slicer's colour files
            trust.GetDisplayNode().SetAndObserveColorNodeID(self._diverging_table().GetID())
        self._trust_nodes[self.kind] = trust
        view_id = self.views.logics["QSRDL"].GetSliceNode().GetID()
        with _vtk_log_quiet():  # the wheel's colour logic logs that it has no application to find colour files
            set_overlay(composite, dl_node, trust, True, view_node_ids=[view_id])

    def _diverging_table(self) -> slicer.vtkMRMLColorTableNode:
        """Blue – light grey – red (the cool-warm map of Slicer's DivergingBlueRed, whose file the slicer-core
        wheel does not ship), so DL below the fast scan reads blue and above it red, as in the module."""
        name = "QuantSR diverging blue-red"
        existing = self.scene.GetFirstNodeByName(name)
        if existing is not None:
            return existing
        table = self.scene.AddNewNodeByClass("vtkMRMLColorTableNode", name)
        table.SetTypeToUser()
        table.SetNumberOfColors(256)
        blue, grey, red = np.array(DIVERGING)
        for index, t in enumerate(np.linspace(-1.0, 1.0, 256)):
            r, g, b = grey + (red - grey) * t if t >= 0 else grey + (blue - grey) * -t
            table.SetColor(index, f"{t:+.2f}", float(r), float(g), float(b), 1.0)
        return table

    # -- ROIs ---------------------------------------------------------------------------------
    def set_roi_size(self, size_mm) -> None:
        size = tuple(float(v) for v in size_mm)
        if len(size) != 3 or not all(math.isfinite(v) and 0 < v <= 500 for v in size):
            raise InputError(f"ROI size must be three lengths between 0 and 500 mm, got {size_mm}")
        self.roi_size = size

    def place_roi(self, x_px: float, y_px: float) -> Roi:
        """A box of the current ROI size centred on view pixel (x, y) of the current slice; its centre is
        rounded to 0.1 mm, so the listed coordinates reproduce the measurement exactly."""
        r, a, s = self.views.to_ras(x_px, y_px)
        return self.add_roi((round(r, 1), round(a, 1), round(s, 1)), self.roi_size)

    def add_roi(self, centre_ras, size_mm, name: str | None = None) -> Roi:
        used = {roi.name for roi in self.rois}
        name = name or next(f"R{i}" for i in range(1, len(used) + 2) if f"R{i}" not in used)
        if name in used:
            raise InputError(f"there is already an ROI named {name}")
        r, a, s = (float(v) for v in centre_ras)
        x, y, z = (float(v) for v in size_mm)
        node = self.scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", name)
        node.SetCenter(r, a, s)
        node.SetSize(x, y, z)
        roi = Roi(name, (r, a, s), (x, y, z), node)
        self.rois.append(roi)
        self.measure()
        return roi

    def remove_roi(self, name: str) -> None:
        roi = next((r for r in self.rois if r.name == name), None)
        if roi is None:
            raise InputError(f"no ROI named {name}")
        self.scene.RemoveNode(roi.node)
        self.rois.remove(roi)
        self.measure()

    def clear_rois(self) -> None:
        for roi in self.rois:
            self.scene.RemoveNode(roi.node)
        self.rois = []
        self.measure()

    def _add_boxes(self, path: Path) -> None:
        """A cohort's ROIS csv (centre and size in LPS mm): the same boxes the report measures."""
        from ..roi import read_roi_boxes

        for box in read_roi_boxes(path):
            x, y, z = (float(v) for v in box["centre"])
            self.add_roi((-x, -y, z), tuple(float(v) for v in box["size"]), box["roi"])

    # -- measurement --------------------------------------------------------------------------
    def measure(self) -> Measurement:
        """Every ROI on every volume of the study (the Logic's ``measure_rois``), with the trust map's
        consistency columns while the overlay is on."""
        volumes = [node for protocol in self.ordered_protocols() for node in self.nodes[protocol].values()]
        if not self.rois or not volumes:
            self.measurement = Measurement()
            return self.measurement
        # The consistency column for the map on show only: each map's deviation costs seconds, and the
        # overlay computes it anyway when that map is shown.
        pair = self.trust_pair() if self.trust_visible else None
        pairs = {pair[0].GetID(): pair[1]} if pair is not None else None
        rows, table, summary = self.logic.measure_rois(volumes, [r.node for r in self.rois], table=self._table,
                                                       summary=self._summary, trust_pairs=pairs,
                                                       threshold_pct=self.trust_threshold)
        self.measurement = Measurement(table_records(table), table_records(summary), rows)
        return self.measurement

    def ordered_protocols(self) -> list[str]:
        order = [p for _tag, _title, _colour, protocols in COLUMNS for p in protocols]
        return [p for p in order if p in self.nodes] + [p for p in self.nodes if p not in order]

    def csv_text(self) -> str:
        """The ROI table as the Slicer module's *Export CSV* writes it (``QuantSRSceneLogic.export_csv``)."""
        if not self.measurement.rows:
            raise InputError("no ROI measured yet: place an ROI first")
        with tempfile.TemporaryDirectory(prefix="quantsr-view-") as folder:
            path = self.logic.export_csv(self.measurement.rows, Path(folder) / "rois.csv")
            return path.read_text(encoding="utf-8")

    # -- what the page shows ------------------------------------------------------------------
    def frame(self) -> dict:
        """The three (four) views as PNG data URLs with their ROI outlines, and the current settings."""
        views = []
        for tag, title, colour, protocols in COLUMNS:
            protocol = self.column_protocol(protocols)
            if tag == "QSRTruth" and protocol is None:
                continue  # a truth column only for simulated studies
            node = self.nodes[protocol][self.kind] if protocol else None
            boxes = []
            for roi in self.rois:
                box = self.views.box_on_view(roi.centre_ras, roi.size_mm)
                if box is not None:
                    boxes.append({"name": roi.name, **{k: 100.0 * v / self.views.size_px for k, v in box.items()}})
            views.append({
                "tag": tag,
                "title": title if tag != "QSRDL" or protocol in (None, "DL") else protocol,
                "colour": colour,
                "name": node.GetName() if node is not None else "",
                "empty": "" if node is not None else f"no {title.lower()} {self.kind.value} map in this study",
                "src": png_data_url(self.views.image(tag)) if node is not None else "",
                "boxes": boxes,
            })
        low, high = self.window()
        return {
            "views": views,
            "slice_count": len(self.slice_positions),
            "slice_mm": self.slice_positions[self.slice_index] if self.slice_positions else 0.0,
            "zoom": self.views.geometry.zoom,
            "window": [low, high],
            "legend": legend_strip(self._reference()),
            "trust_legend": legend_strip(self._trust_nodes[self.kind])
            if self.trust_visible and self.kind in self._trust_nodes else "",
        }

    def table(self) -> tuple[list[dict], list[dict]]:
        """The ROI rows and paired tests of the current map, numbers as plain floats (None for NaN)."""
        columns = list(TABLE_COLUMNS) + (list(TRUST_COLUMNS) if self.trust_visible else [])
        rows = [{c: _plain(rec.get(c)) for c in columns} for rec in self.measurement.records
                if rec.get("map") == self.kind.value]
        roi_order = {roi.name: i for i, roi in enumerate(self.rois)}
        protocol_order = {p: i for i, p in enumerate(self.ordered_protocols())}
        rows.sort(key=lambda row: (roi_order.get(str(row["roi"]), len(roi_order)),
                                   protocol_order.get(str(row["protocol"]), len(protocol_order))))
        tests = [{k: _plain(v) for k, v in rec.items()} for rec in self.measurement.tests
                 if rec.get("map") == self.kind.value]
        return rows, tests


@contextmanager
def _vtk_log_quiet() -> Iterator[None]:
    import vtk

    level = vtk.vtkLogger.GetCurrentVerbosityCutoff()
    vtk.vtkLogger.SetStderrVerbosity(vtk.vtkLogger.VERBOSITY_OFF)
    try:
        yield
    finally:
        vtk.vtkLogger.SetStderrVerbosity(level)


def _plain(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _slice_positions(node: slicer.vtkMRMLScalarVolumeNode) -> list[float]:
    """S (mm) of each slice centre of ``node`` (axial maps: the third voxel axis)."""
    import vtk

    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    slices = node.GetImageData().GetDimensions()[2]
    return [float(matrix.MultiplyPoint((0.0, 0.0, float(k), 1.0))[2]) for k in range(slices)]
