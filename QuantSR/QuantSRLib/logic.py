"""QuantSR's Logic (no Qt, no ``slicer.app``): load maps into the scene, super-resolve volume nodes,
measure ROIs on fast / DL / routine, synthetic contrasts (FLAIR, T2W, ...) from each protocol's maps, and
batch jobs for the Python console. The Slicer module's ``QuantSRLogic`` adds the parameter node on top of
this class."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import slicer

# Everything from quantsr (and so SimpleITK, pydicom, scipy.stats) loads when first used, not when Slicer
# imports the module at start-up.
if TYPE_CHECKING:
    from quantsr.batch import StudyResult
    from quantsr.engine import CancelToken
    from quantsr.mapkinds import MapKind
    from quantsr.roi import RoiStats
    from quantsr.volume import QuantMap

    from .runner import SRTask
    from .synthetic import MapNodes
    from .trust import TrustCache

log = logging.getLogger("quantsr.slicer")
VolumeNode = slicer.vtkMRMLScalarVolumeNode
COLOR_NODES = {"grey": "vtkMRMLColorTableNodeGrey", "viridis": "vtkMRMLColorTableNodeFileViridis.txt",
               "rainbow": "vtkMRMLColorTableNodeRainbow"}


class QuantSRSceneLogic:
    """The module's Logic on one MRML scene (``slicer.mrmlScene`` by default): no Qt, no ``slicer.app``."""

    def __init__(self, scene: slicer.vtkMRMLScene | None = None) -> None:
        self.scene = scene if scene is not None else slicer.mrmlScene
        self._trust_cache: TrustCache | None = None

    @property
    def trust_cache(self) -> TrustCache:
        if self._trust_cache is None:
            from .trust import TrustCache

            self._trust_cache = TrustCache()
        return self._trust_cache

    # -- loading ------------------------------------------------------------------------------
    def load_maps(self, path: str | Path, protocol: str = "fast", kind: MapKind | None = None
                  ) -> list[slicer.vtkMRMLScalarVolumeNode]:
        """Every T1/T2/PD map at ``path`` (DICOM folder/file, NRRD, NIfTI) as volume nodes "T1 fast", ...
        An empty path is refused (it would otherwise mean Slicer's working directory)."""
        from quantsr.errors import InputError
        from quantsr.io.loader import load_maps

        if path is None or not str(path).strip():
            raise InputError(f"choose the {protocol} scan's folder or file first")
        return self.add_maps(load_maps(path, kind=kind), protocol)

    def add_maps(self, maps: Sequence[QuantMap], protocol: str) -> list[slicer.vtkMRMLScalarVolumeNode]:
        """Maps already read (``QuantMap``s, e.g. by ``quantsr view``) as volume nodes "T1 fast", ... with the
        per-map display, and the fast acquisition matrix the trust map's forward model needs."""
        from .nodes import volume_node_from_map

        nodes = [volume_node_from_map(self.scene, m, f"{m.kind.value} {protocol}", protocol) for m in maps]
        for node, qmap in zip(nodes, maps, strict=True):
            self.apply_display(node)
            matrix = qmap.metadata.get("acquisition_matrix")
            if matrix:  # the trust map's forward model needs it
                node.SetAttribute("QuantSR.AcquisitionMatrix", " ".join(str(v) for v in matrix))
        return nodes

    def apply_display(self, node: slicer.vtkMRMLScalarVolumeNode, colormap: str = "grey") -> None:
        """Per-map window in physical units (e.g. T1 0–4000 ms) and a colour map."""
        from .nodes import node_kind, set_window

        low, high = node_kind(node).display_range
        set_window(node, low, high, COLOR_NODES.get(colormap, COLOR_NODES["grey"]))

    # -- super-resolution ---------------------------------------------------------------------
    def slot_kinds(self, slots: Mapping[MapKind | str, slicer.vtkMRMLScalarVolumeNode | None]
                   ) -> dict[MapKind, slicer.vtkMRMLScalarVolumeNode]:
        """The selector slot decides each volume's kind (volumes from Slicer's DICOM browser carry no QuantSR
        attribute); a name or value range that says otherwise is an InputError naming both."""
        from quantsr.errors import InputError
        from quantsr.kinddetect import kind_from_values
        from quantsr.mapkinds import MapKind

        from .nodes import declared_kind

        checked: dict[MapKind, slicer.vtkMRMLScalarVolumeNode] = {}
        for slot, node in slots.items():
            if node is None:
                continue
            kind = MapKind.parse(slot) if isinstance(slot, str) else slot
            if node.GetImageData() is None:
                raise InputError(f"volume '{node.GetName()}' (selected as the fast {kind.value} map) has no "
                                 "image data")
            named = declared_kind(node)
            if named not in (None, MapKind.UNKNOWN, kind):
                raise InputError(f"'{node.GetName()}' is named as a {named.value} map but was selected as the fast "
                                 f"{kind.value} map: pick it in the {named.value} selector")
            measured = kind_from_values(slicer.util.arrayFromVolume(node))
            # A T2 map cropped to tissue (no CSF above 130 ms) reads like PD: only the converse is decisive.
            if measured is not None and measured is not kind and (kind, measured) != (MapKind.T2, MapKind.PD):
                raise InputError(f"'{node.GetName()}' has values typical of a {measured.value} map, not of the "
                                 f"{kind.value} map it was selected as: check the selector or the scan")
            checked[kind] = node
        return checked

    def super_resolve(self, nodes: Sequence[slicer.vtkMRMLScalarVolumeNode], method: str = "dl",
                      model_paths: dict[MapKind, Path] | None = None, device: str = "auto",
                      batch_size: int | None = None, force: bool = False, runtime: str = "torch",
                      progress: Callable[[int, int], None] | None = None,
                      cancel: CancelToken | None = None,
                      kinds: Sequence[MapKind] | None = None,
                      guide_nodes: Mapping[MapKind | str, VolumeNode] | None = None) -> list[VolumeNode]:
        """Super-resolve volume nodes in this process (console, tests); output nodes ("<name> DL") are created
        only once every map has succeeded, so an error or a cancel leaves the scene as it was. ``kinds``
        (one per node) overrides what the nodes' attributes or names say. ``guide_nodes``: the study's other fast
        maps by kind, not super-resolved, for models that read guide maps. Torch is imported only for DL."""
        from quantsr.errors import InputError
        from quantsr.mapkinds import MapKind
        from quantsr.methods import DL
        from quantsr.srjob import SRJob, super_resolve_maps

        from .nodes import map_from_volume_node

        kinds = list(kinds) if kinds is not None else [None] * len(nodes)
        maps = [map_from_volume_node(node, kind) for node, kind in zip(nodes, kinds, strict=True)]
        for node, qmap in zip(nodes, maps, strict=True):
            if qmap.kind is MapKind.UNKNOWN:
                raise InputError(f"cannot tell whether volume '{node.GetName()}' is a T1, T2 or PD map; "
                                 "name it (e.g. 'T1 fast') or set its map kind")
        options = None
        if method == DL:
            from quantsr.engine import EngineOptions

            options = EngineOptions(device=device, batch_size=batch_size, force_kind=force, runtime=runtime)
        wanted = self._guide_slots([m.kind for m in maps], guide_nodes, model_paths) if method == DL else {}
        guides = {kind: map_from_volume_node(node, kind) for kind, node in wanted.items()}
        results = super_resolve_maps(maps, SRJob(method, model_paths, options, guides=guides), progress, cancel)
        return self.add_outputs(nodes, results, method)

    def add_outputs(self, nodes: Sequence[slicer.vtkMRMLScalarVolumeNode], results: Sequence,
                    method: str) -> list[slicer.vtkMRMLScalarVolumeNode]:
        """One "<input name> <method label>" node per result ("T1 DL", "T1 bicubic"), carrying the result's (the
        slot's) map kind."""
        from quantsr.methods import method_label

        from .nodes import volume_node_from_map

        outputs = []
        suffix = method_label(method)
        for node, result in zip(nodes, results, strict=True):
            name = f"{node.GetName().replace(' fast', '')} {suffix}"
            out = volume_node_from_map(self.scene, result, name, suffix)
            self.apply_display(out)
            outputs.append(out)
        return outputs

    def _guide_slots(self, kinds: Iterable[MapKind], slots: Mapping[MapKind | str, VolumeNode | None] | None,
                     model_paths: Mapping[MapKind, Path] | None) -> dict[MapKind, VolumeNode]:
        """The guide volumes the models for ``kinds`` read (checked against their slots); volumes no model reads are
        left alone, so an unticked slot cannot stop a run that does not need it."""
        from quantsr.guides import guides_needed
        from quantsr.mapkinds import MapKind

        needed = guides_needed(kinds, model_paths) if slots else set()
        wanted = {slot: node for slot, node in (slots or {}).items() if MapKind.parse(slot) in needed}
        return self.slot_kinds(wanted)

    def start_super_resolution(self, slots: Mapping[MapKind | str, slicer.vtkMRMLScalarVolumeNode | None],
                               method: str = "dl", model_paths: dict[MapKind, Path] | None = None,
                               device: str = "auto", runtime: str = "torch", python: str | None = None,
                               model_file: str | Path | None = None,
                               guide_slots: Mapping[MapKind | str, VolumeNode | None] | None = None) -> SRTask:
        """Check the requirements first (torch only for DL), then the slots, then start the work in a child
        Python process: the panel polls it, so Slicer stays responsive and a crash or an out-of-memory cannot
        take Slicer down. ``model_file`` (DL only) replaces the bundled model of the kind it was trained on.
        ``guide_slots``: the study's other fast maps (not super-resolved) for models that read guide maps."""
        from quantsr.errors import InputError
        from quantsr.methods import DL

        from .dependencies import check_requirements
        from .runner import SRTask

        check_requirements(method)
        checked = self.slot_kinds(slots)
        if not checked:
            raise InputError("select at least one fast map to super-resolve")
        if method == DL and model_file:
            from quantsr.modelfile import read_model_info

            model_paths = {**(model_paths or {}), read_model_info(model_file).map_kind: Path(model_file)}
        guides = self._guide_slots(checked, guide_slots, model_paths) if method == DL else {}
        task = SRTask(self, checked, method, model_paths, device, runtime, python, guides)
        task.start()
        return task

    @staticmethod
    def apply_problem(fast: Mapping[str, slicer.vtkMRMLScalarVolumeNode | None], process: Mapping[str, bool],
                      busy: bool = False) -> str | None:
        """Why Apply cannot run now (shown as its tooltip while it is disabled), or None when it can: a
        cheap check run on every parameter change, so it reads no voxels."""
        if busy:
            return "Super-resolution is running."
        chosen = [kind for kind, node in fast.items() if node is not None and process.get(kind, False)]
        if not chosen:
            return "Select a fast T1, T2 or PD map (and tick it under Maps)."
        empty = [fast[kind].GetName() for kind in chosen if fast[kind].GetImageData() is None]
        if empty:
            return f"'{empty[0]}' has no image data."
        return None

    @staticmethod
    def derived_volume_ids(scene: slicer.vtkMRMLScene) -> list[str]:
        """Volumes QuantSR derived (deviation maps, synthetic contrasts): hidden from the map selectors."""
        ids = []
        for index in range(scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode")):
            node = scene.GetNthNodeByClass(index, "vtkMRMLScalarVolumeNode")
            if node.GetAttribute("QuantSR.TrustOf") or node.GetAttribute("QuantSR.SyntheticContrast"):
                ids.append(node.GetID())
        return ids

    @staticmethod
    def output_slot(node: slicer.vtkMRMLScalarVolumeNode) -> str:
        """Parameter-node field for an output, from the output's own kind: "dlT1"."""
        from quantsr.errors import InputError
        from quantsr.mapkinds import QUANT_KINDS

        from .nodes import node_kind

        kind = node_kind(node)
        if kind not in QUANT_KINDS:
            raise InputError(f"'{node.GetName()}' is not a T1, T2 or PD map")
        return f"dl{kind.value}"

    # -- ROI measurement ----------------------------------------------------------------------
    def measure_rois(self, volumes: Sequence[slicer.vtkMRMLScalarVolumeNode],
                     rois: Sequence[slicer.vtkMRMLMarkupsROINode] = (),
                     segmentation: slicer.vtkMRMLSegmentationNode | None = None,
                     table: slicer.vtkMRMLTableNode | None = None,
                     summary: slicer.vtkMRMLTableNode | None = None,
                     trust_pairs: dict[str, slicer.vtkMRMLScalarVolumeNode] | None = None,
                     threshold_pct: float | None = None,
                     precision_threshold_pct: float | None = None,
                     min_samples: float | None = None,
                     ) -> tuple[list[RoiStats], slicer.vtkMRMLTableNode, slicer.vtkMRMLTableNode]:
        """Measure every ROI box and segment on every volume; fill (or create) the results table and a
        summary table of paired t-tests (DL vs routine, fast vs routine) per map. ``trust_pairs`` (DL node
        ID → its fast node) adds the "consistency (%)", "fast SE (%)" and "flag" columns (quantsr.reliability;
        ``threshold_pct`` / ``precision_threshold_pct`` / ``min_samples`` override the flag's defaults: 3 %, 2 %,
        10 independent fast-scan samples)."""
        from quantsr.errors import InputError
        from quantsr.roi import paired_tests

        from .measure import TABLE_COLUMNS, VolumeEntry, fill_table, measure, stats_records

        if not rois and segmentation is None:
            raise InputError("no ROI to measure: place a Markups ROI or draw a segment first")
        entries = [VolumeEntry(self.protocol_of(node), node) for node in volumes]
        rows = measure(self.scene, entries, list(rois), segmentation)
        table = table or self.scene.AddNewNodeByClass("vtkMRMLTableNode", "QuantSR ROI statistics")
        records, columns = stats_records(rows), list(TABLE_COLUMNS)
        if trust_pairs:
            from .trust import TRUST_COLUMNS, add_trust_columns, reliability_column

            trusts = {e.node.GetID(): self.trust_cache.get(e.node, trust_pairs[e.node.GetID()])
                      for e in entries if e.node.GetID() in trust_pairs}
            values = reliability_column(self.scene, entries, list(rois), segmentation, trusts)
            add_trust_columns(records, values, **{name: value for name, value in (
                ("threshold_pct", threshold_pct), ("precision_threshold_pct", precision_threshold_pct),
                ("min_samples", min_samples))
                if value is not None})
            columns += list(TRUST_COLUMNS)
        fill_table(table, records, columns)
        tests = paired_tests(rows)
        summary = summary or self.scene.AddNewNodeByClass("vtkMRMLTableNode", "QuantSR paired tests")
        fill_table(summary, tests, ["map", "comparison", "rois", "mean_difference", "t", "p"])
        return rows, table, summary

    # -- trust map ----------------------------------------------------------------------------
    def show_trust_map(self, dl_node: slicer.vtkMRMLScalarVolumeNode, fast_node: slicer.vtkMRMLScalarVolumeNode,
                       visible: bool = True, threshold_pct: float | None = None
                       ) -> slicer.vtkMRMLScalarVolumeNode:
        """Compute (or update) the DL node's deviation-from-fast volume and overlay it on the DL view
        (hidden again with ``visible=False``); returns the deviation node."""
        from quantsr.trust import DEFAULT_THRESHOLD_PCT

        from .trust import show_in_dl_view, trust_node

        threshold = DEFAULT_THRESHOLD_PCT if threshold_pct is None else threshold_pct
        node = trust_node(self.scene, dl_node, fast_node, self.trust_cache, threshold)
        show_in_dl_view(dl_node, node, visible)
        return node

    # -- synthetic contrasts ------------------------------------------------------------------
    def synthesize_contrast(self, t1: slicer.vtkMRMLScalarVolumeNode | None,
                            t2: slicer.vtkMRMLScalarVolumeNode | None, pd: slicer.vtkMRMLScalarVolumeNode | None,
                            source: str, contrast: str, tr_ms: float | None = None, te_ms: float | None = None,
                            ti_ms: float | None = None) -> slicer.vtkMRMLScalarVolumeNode:
        """Create (or update in place) "<CONTRAST> <source>", e.g. "FLAIR DL", from one protocol's T1/T2/PD
        volumes (``quantsr.synth``, preset TR / TE / TI unless given); a missing map is an InputError."""
        from .synthetic import contrast_spec, synthetic_node

        return synthetic_node(self.scene, (t1, t2, pd), source, contrast_spec(contrast, tr_ms, te_ms, ti_ms))

    def synthesize_contrasts(self, sources: Mapping[str, MapNodes], contrast: str, tr_ms: float | None = None,
                             te_ms: float | None = None, ti_ms: float | None = None
                             ) -> tuple[dict[str, slicer.vtkMRMLScalarVolumeNode], dict[str, str]]:
        """The contrast for several protocols ({"fast": (T1, T2, PD), "DL": ...}): every protocol whose maps
        are complete gets its volume; returns them and, per protocol left out, why. InputError when none
        could be made."""
        from quantsr.errors import InputError

        from .synthetic import contrast_spec, share_window, synthesize_sources

        made, skipped = synthesize_sources(self.scene, sources, contrast_spec(contrast, tr_ms, te_ms, ti_ms))
        if not made:
            raise InputError(" ".join(skipped.values()) or "no T1 / T2 / PD maps to synthesise from")
        share_window(made.values())
        return made, skipped

    def update_synthetic_contrasts(self, sources: Mapping[str, MapNodes], contrast: str,
                                   tr_ms: float | None = None, te_ms: float | None = None,
                                   ti_ms: float | None = None) -> dict[str, slicer.vtkMRMLScalarVolumeNode]:
        """Live update after a TR / TE / TI change: recompute only the volumes of this contrast that already
        exist (protocols whose maps went missing are left as they are), then re-share their window."""
        from .synthetic import contrast_spec, share_window, synthesize_sources, synthetic_nodes

        spec = contrast_spec(contrast, tr_ms, te_ms, ti_ms)
        updated, _skipped = synthesize_sources(self.scene, sources, spec, only_existing=True)
        share_window(synthetic_nodes(self.scene, spec.name).values())
        return updated

    def show_synthetic_comparison(self, contrast: str) -> dict[str, slicer.vtkMRMLScalarVolumeNode | None]:
        """The contrast's fast / DL / routine volumes with one shared window, in the three linked views
        (when the application has them); returns the volumes by protocol."""
        from .synthetic import share_window, show_in_comparison_views, synthetic_nodes

        nodes = synthetic_nodes(self.scene, contrast)
        share_window(nodes.values())
        show_in_comparison_views(nodes["fast"], nodes["DL"], nodes["routine"])
        return nodes

    @staticmethod
    def protocol_of(node: slicer.vtkMRMLScalarVolumeNode) -> str:
        from .nodes import PROTOCOL_ATTRIBUTE

        protocol = node.GetAttribute(PROTOCOL_ATTRIBUTE)
        if protocol:
            return protocol
        from quantsr.kinddetect import tokens
        from quantsr.methods import method_label

        words = tokens(node.GetName() or "")  # "5: MAGiC T1 map (fast)" → ["5", "MAGIC", "T1", "MAP", "FAST"]
        for candidate in ("ROUTINE", "FAST", "DL", "BICUBIC", "LINEAR"):
            if candidate in words:
                return method_label(candidate.lower())  # "DL", "fast", "bicubic", ...
        return node.GetName()

    @staticmethod
    def export_csv(rows: list[RoiStats], path: str | Path) -> Path:
        from quantsr.errors import InputError
        from quantsr.roi import write_stats_csv

        if path is None or not str(path).strip():
            raise InputError("choose the CSV file to write first")
        return write_stats_csv(rows, path)

    # -- batch (Python console) ---------------------------------------------------------------
    def batch_super_resolve(self, root: str | Path, output: str | Path, method: str = "dl",
                            fmt: str = "dicom", device: str = "auto", runtime: str = "torch") -> list[StudyResult]:
        """Super-resolve every study (sub-folder) under ``root`` into ``output/<study>/``. A failing study
        is reported and skipped; finished studies are skipped on a re-run. ``summary_table(results)``
        prints the outcome."""
        from quantsr.batch import run_batch, summary_table
        from quantsr.engine import EngineOptions
        from quantsr.srjob import SRJob

        results = run_batch(root, output, SRJob(method, None, EngineOptions(device=device, runtime=runtime)), fmt)
        log.info(summary_table(results))
        return results

    def batch_measure(self, labels_path: str | Path, studies: dict[str, dict[str, str | Path]],
                      csv_path: str | Path) -> tuple[list[RoiStats], list[StudyResult]]:
        """Measure one saved label map (NRRD / .seg.nrrd labelmap, in physical space) on several studies,
        each given as {protocol: path}; rows gain the study name in ``description`` (``quantsr.roibatch``)."""
        from quantsr.roibatch import batch_measure

        return batch_measure(labels_path, studies, csv_path)
