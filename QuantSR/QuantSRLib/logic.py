"""QuantSR's Logic (no Qt, no ``slicer.app``): load maps into the scene, super-resolve volume nodes,
measure ROIs on fast / DL / routine, synthetic contrasts (FLAIR, T2W, ...) from each protocol's maps, and
batch jobs for the Python console. The Slicer module's ``QuantSRLogic`` adds the parameter node on top of
this class."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import slicer

from quantsr.errors import InputError, QuantSRError
from quantsr.io.images import read_image
from quantsr.io.loader import load_maps
from quantsr.mapkinds import MapKind
from quantsr.roi import RoiStats, measure_labels, write_stats_csv

from .measure import TABLE_COLUMNS, VolumeEntry, fill_table, measure, paired_tests, stats_records
from .nodes import PROTOCOL_ATTRIBUTE, map_from_volume_node, volume_node_from_map

if TYPE_CHECKING:  # torch-dependent modules load lazily: the module must open before torch is installed
    from quantsr.batch import StudyResult
    from quantsr.engine import CancelToken

    from .synthetic import MapNodes  # like trust: the feature's module loads when first used

log = logging.getLogger("quantsr.slicer")
METHOD_SUFFIX = {"dl": "DL", "bicubic": "bicubic", "linear": "linear"}
COLOR_NODES = {"grey": "vtkMRMLColorTableNodeGrey", "viridis": "vtkMRMLColorTableNodeFileViridis.txt",
               "rainbow": "vtkMRMLColorTableNodeRainbow"}


class QuantSRCoreLogic:
    def __init__(self, scene: slicer.vtkMRMLScene | None = None) -> None:
        self.scene = scene if scene is not None else slicer.mrmlScene
        from .trust import TrustCache

        self.trust_cache = TrustCache()

    # -- loading ------------------------------------------------------------------------------
    def load_maps(self, path: str | Path, protocol: str = "fast", kind: MapKind | None = None
                  ) -> list[slicer.vtkMRMLScalarVolumeNode]:
        """Every T1/T2/PD map at ``path`` (DICOM folder/file, NRRD, NIfTI) as volume nodes "T1 fast", ..."""
        maps = load_maps(path, kind=kind)
        nodes = [volume_node_from_map(self.scene, m, f"{m.kind.value} {protocol}", protocol) for m in maps]
        for node, qmap in zip(nodes, maps, strict=True):
            self.apply_display(node)
            matrix = qmap.metadata.get("acquisition_matrix")
            if matrix:  # the trust map's forward model needs it
                node.SetAttribute("QuantSR.AcquisitionMatrix", " ".join(str(v) for v in matrix))
        return nodes

    def apply_display(self, node: slicer.vtkMRMLScalarVolumeNode, colormap: str = "grey") -> None:
        """Per-map window in physical units (e.g. T1 0–4000 ms) and a colour map."""
        kind = map_from_volume_node(node).kind
        if node.GetDisplayNode() is None:
            node.CreateDefaultDisplayNodes()
        display = node.GetDisplayNode()
        if display is None:
            return
        low, high = kind.display_range
        display.AutoWindowLevelOff()
        display.SetWindowLevelMinMax(low, high)
        display.SetAndObserveColorNodeID(COLOR_NODES.get(colormap, COLOR_NODES["grey"]))

    # -- super-resolution ---------------------------------------------------------------------
    def super_resolve(self, nodes: Sequence[slicer.vtkMRMLScalarVolumeNode], method: str = "dl",
                      model_paths: dict[MapKind, Path] | None = None, device: str = "auto",
                      batch_size: int | None = None, force: bool = False, runtime: str = "torch",
                      progress: Callable[[int, int], None] | None = None,
                      cancel: CancelToken | None = None) -> list[slicer.vtkMRMLScalarVolumeNode]:
        """Super-resolve volume nodes; output nodes ("<name> DL") are created only once every map has
        succeeded, so an error or a cancel leaves the scene as it was."""
        from quantsr.engine import EngineOptions
        from quantsr.pipeline import SRJob, super_resolve_maps

        maps = [map_from_volume_node(node) for node in nodes]
        for node, qmap in zip(nodes, maps, strict=True):
            if qmap.kind is MapKind.UNKNOWN:
                raise InputError(f"cannot tell whether volume '{node.GetName()}' is a T1, T2 or PD map; "
                                 "name it (e.g. 'T1 fast') or set its map kind")
        options = EngineOptions(device=device, batch_size=batch_size, force_kind=force, runtime=runtime)
        results = super_resolve_maps(maps, SRJob(method, model_paths, options), progress, cancel)
        outputs = []
        suffix = METHOD_SUFFIX.get(method, method)
        for node, result in zip(nodes, results, strict=True):
            name = f"{node.GetName().replace(' fast', '')} {suffix}"
            out = volume_node_from_map(self.scene, result, name, suffix)
            self.apply_display(out)
            outputs.append(out)
        return outputs

    # -- ROI measurement ----------------------------------------------------------------------
    def measure_rois(self, volumes: Sequence[slicer.vtkMRMLScalarVolumeNode],
                     rois: Sequence[slicer.vtkMRMLMarkupsROINode] = (),
                     segmentation: slicer.vtkMRMLSegmentationNode | None = None,
                     table: slicer.vtkMRMLTableNode | None = None,
                     summary: slicer.vtkMRMLTableNode | None = None,
                     trust_pairs: dict[str, slicer.vtkMRMLScalarVolumeNode] | None = None,
                     threshold_pct: float | None = None,
                     ) -> tuple[list[RoiStats], slicer.vtkMRMLTableNode, slicer.vtkMRMLTableNode]:
        """Measure every ROI box and segment on every volume; fill (or create) the results table and a
        summary table of paired t-tests (DL vs routine, fast vs routine) per map. ``trust_pairs`` (DL node
        ID → its fast node) adds the "consistency (%)" and "flag" columns (quantsr.trust)."""
        if not rois and segmentation is None:
            raise InputError("no ROI to measure: place a Markups ROI or draw a segment first")
        entries = [VolumeEntry(self.protocol_of(node), node) for node in volumes]
        rows = measure(self.scene, entries, list(rois), segmentation)
        table = table or self.scene.AddNewNodeByClass("vtkMRMLTableNode", "QuantSR ROI statistics")
        records, columns = stats_records(rows), list(TABLE_COLUMNS)
        if trust_pairs:
            from .trust import TRUST_COLUMNS, add_trust_columns, consistency_column

            trusts = {e.node.GetID(): self.trust_cache.get(e.node, trust_pairs[e.node.GetID()])
                      for e in entries if e.node.GetID() in trust_pairs}
            values = consistency_column(self.scene, entries, list(rois), segmentation, trusts)
            add_trust_columns(records, values, *(() if threshold_pct is None else (threshold_pct,)))
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
        protocol = node.GetAttribute(PROTOCOL_ATTRIBUTE)
        if protocol:
            return protocol
        from quantsr.kinddetect import tokens

        words = tokens(node.GetName() or "")  # "5: MAGiC T1 map (fast)" → ["5", "MAGIC", "T1", "MAP", "FAST"]
        for candidate in ("ROUTINE", "FAST", "DL", "BICUBIC", "LINEAR"):
            if candidate in words:
                return "DL" if candidate == "DL" else candidate.lower()
        return node.GetName()

    @staticmethod
    def export_csv(rows: list[RoiStats], path: str | Path) -> Path:
        return write_stats_csv(rows, path)

    # -- batch (Python console) ---------------------------------------------------------------
    def batch_super_resolve(self, root: str | Path, output: str | Path, method: str = "dl",
                            fmt: str = "dicom", device: str = "auto", runtime: str = "torch") -> list[StudyResult]:
        """Super-resolve every study (sub-folder) under ``root`` into ``output/<study>/``. A failing study
        is reported and skipped; finished studies are skipped on a re-run. ``summary_table(results)``
        prints the outcome."""
        from quantsr.batch import run_batch, summary_table
        from quantsr.engine import EngineOptions
        from quantsr.pipeline import SRJob

        results = run_batch(root, output, SRJob(method, None, EngineOptions(device=device, runtime=runtime)), fmt)
        log.info(summary_table(results))
        return results

    def batch_measure(self, labels_path: str | Path, studies: dict[str, dict[str, str | Path]],
                      csv_path: str | Path) -> tuple[list[RoiStats], list[StudyResult]]:
        """Measure one saved label map (NRRD / .seg.nrrd labelmap, in physical space) on several studies,
        each given as {protocol: path}; rows gain the study name in ``description``."""
        from quantsr.batch import StudyResult, summary_table

        labels = read_image(labels_path, kind=MapKind.UNKNOWN)
        results, rows = [], []
        for study, protocols in studies.items():
            try:
                volumes = {protocol: load_maps(path) for protocol, path in protocols.items()}
                for row in measure_labels(labels, volumes):
                    row.description = study
                    rows.append(row)
                results.append(StudyResult(study, "done"))
            except QuantSRError as exc:
                results.append(StudyResult(study, "failed", str(exc)))
                log.error("%s: %s", study, exc)
        write_stats_csv(rows, csv_path)
        log.info(summary_table(results))
        return rows, results
