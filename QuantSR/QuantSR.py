"""QuantSR — super-resolution of fast synthetic-MRI T1 / T2 / PD maps, compared side by side with the
routine scan, with paired lesion ROI measurement (Liu et al. 2026). Follows Slicer's scripted-module
template: module, parameter node, Widget (Qt, built from Resources/UI/QuantSR.ui), Logic (no Qt), Test."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import qt
import slicer
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode, vtkMRMLTableNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from quantsr.synth import PRESETS
from QuantSRLib.logic import QuantSRCoreLogic

MAPS = ("T1", "T2", "PD")
SYNTH_SOURCES = {"fast": "fast", "DL": "dl", "routine": "routine"}  # protocol label → parameter prefix
SYNTH_UPDATE_DELAY_MS = 300  # live update once TR / TE / TI stop changing, not on every keystroke


class QuantSR(ScriptedLoadableModule):
    def __init__(self, parent) -> None:
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("QuantSR")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Quantification")]
        self.parent.dependencies = []
        self.parent.contributors = ["The QuantSR developers"]
        self.parent.helpText = _(
            "Super-resolve fast synthetic-MRI (MAGiC / SyMRI) T1, T2 and PD maps to routine resolution with "
            "an SRGAN, compare Fast | DL | Routine side by side, and measure lesion ROIs replicated on all "
            "volumes. The bundled models were trained on simulated phantom data: not for clinical use."
        )
        self.parent.acknowledgementText = _(
            "Implements Liu et al., Two-Minute Deep Learning-Powered Brain Quantitative Mapping, JMIR Med "
            "Inform 2026;14:e79389. Uses SlicerPyTorch for PyTorch."
        )


@parameterNodeWrapper
class QuantSRParameterNode:
    fastT1: vtkMRMLScalarVolumeNode
    fastT2: vtkMRMLScalarVolumeNode
    fastPD: vtkMRMLScalarVolumeNode
    routineT1: vtkMRMLScalarVolumeNode
    routineT2: vtkMRMLScalarVolumeNode
    routinePD: vtkMRMLScalarVolumeNode
    dlT1: vtkMRMLScalarVolumeNode
    dlT2: vtkMRMLScalarVolumeNode
    dlPD: vtkMRMLScalarVolumeNode
    processT1: bool = True
    processT2: bool = True
    processPD: bool = True
    method: Annotated[str, Choice(["dl", "bicubic", "linear"])] = "dl"
    device: Annotated[str, Choice(["auto", "cuda", "cpu"])] = "auto"
    runtime: Annotated[str, Choice(["torch", "auto", "onnxruntime"])] = "torch"
    modelFile: Path
    displayMap: Annotated[str, Choice(list(MAPS))] = "T1"
    colormap: Annotated[str, Choice(["grey", "viridis", "rainbow"])] = "grey"
    segmentation: vtkMRMLSegmentationNode
    resultsTable: vtkMRMLTableNode
    showTrustMap: bool = False
    trustThresholdPct: Annotated[float, WithinRange(0.5, 50.0)] = 5.0
    synthContrast: Annotated[str, Choice([name.upper() for name in PRESETS])] = "FLAIR"
    synthTR: Annotated[float, WithinRange(1.0, 30000.0)] = PRESETS["flair"].tr_ms
    synthTE: Annotated[float, WithinRange(0.0, 1000.0)] = PRESETS["flair"].te_ms
    synthTI: Annotated[float, WithinRange(0.0, 10000.0)] = PRESETS["flair"].ti_ms
    synthSource: Annotated[str, Choice(["all", *SYNTH_SOURCES])] = "all"


class QuantSRWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic: QuantSRLogic | None = None
        self._parameterNode: QuantSRParameterNode | None = None
        self._parameterNodeGuiTag = None
        self._cancel = None
        self._lastRows = []
        self._synthTimer = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/QuantSR.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = QuantSRLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.installDependenciesButton.connect("clicked(bool)", self.onInstallDependencies)
        self.ui.loadFastButton.connect("clicked(bool)", lambda: self.onLoad("fast"))
        self.ui.loadRoutineButton.connect("clicked(bool)", lambda: self.onLoad("routine"))
        self.ui.applyButton.connect("clicked(bool)", self.onApply)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancel)
        self.ui.compareButton.connect("clicked(bool)", self.onCompare)
        self.ui.measureButton.connect("clicked(bool)", self.onMeasure)
        self.ui.exportCsvButton.connect("clicked(bool)", self.onExportCsv)
        self.ui.displayMapComboBox.connect("currentIndexChanged(int)", self.onDisplayMapChanged)
        self.ui.colormapComboBox.connect("currentIndexChanged(int)", self.onDisplayMapChanged)
        self.ui.showTrustMapCheckBox.connect("toggled(bool)", self.onTrustMapToggled)
        self.ui.trustThresholdSpinBox.connect("valueChanged(double)", lambda _v: self.onTrustMapToggled(None))
        # activated: only a user's choice fills in the preset (restoring a scene keeps its TR / TE / TI)
        self.ui.synthContrastComboBox.connect("activated(int)", self.onSyntheticPresetChosen)
        self.ui.synthContrastComboBox.connect("currentIndexChanged(int)", lambda _i: self.updateSyntheticControls())
        self.ui.synthCreateButton.connect("clicked(bool)", self.onCreateSynthetic)
        self._synthTimer = qt.QTimer()
        self._synthTimer.setSingleShot(True)
        self._synthTimer.setInterval(SYNTH_UPDATE_DELAY_MS)
        self._synthTimer.connect("timeout()", self.onSyntheticTimingChanged)
        for spinBox in (self.ui.synthTRSpinBox, self.ui.synthTESpinBox, self.ui.synthTISpinBox):
            spinBox.connect("valueChanged(double)", lambda _v: self._synthTimer.start())
        self.ui.cancelButton.enabled = False
        self.ui.progressBar.setValue(0)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.removeObservers()
        if self._synthTimer is not None:
            self._synthTimer.stop()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, inputParameterNode: QuantSRParameterNode | None) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.updateSyntheticControls()

    # -- actions ------------------------------------------------------------------------------
    def onInstallDependencies(self) -> None:
        from QuantSRLib.dependencies import DependencyError, ensure_dependencies

        try:
            notes = ensure_dependencies(ask_confirmation=True)
        except DependencyError as exc:
            slicer.util.errorDisplay(str(exc))
            return
        self.ui.dependencyStatusLabel.text = " ".join(notes) or _("All requirements are installed.")

    def onLoad(self, protocol: str) -> None:
        folder = self.ui.fastPathLineEdit.currentPath if protocol == "fast" else self.ui.routinePathLineEdit.currentPath
        with slicer.util.tryWithErrorDisplay(_("Loading failed."), waitCursor=True):
            nodes = self.logic.load_maps(folder, protocol)
            for node in nodes:
                kind = node.GetAttribute("QuantSR.MapKind")
                setattr(self._parameterNode, f"{protocol}{kind}", node)

    def onApply(self) -> None:
        from quantsr.engine import CancelToken
        from quantsr.mapkinds import MapKind

        p = self._parameterNode
        nodes = [getattr(p, f"fast{m}") for m in MAPS if getattr(p, f"process{m}") and getattr(p, f"fast{m}")]
        if not nodes:
            slicer.util.errorDisplay(_("Select at least one fast map to super-resolve."))
            return
        models = None
        if p.modelFile and str(p.modelFile) not in ("", "."):
            from quantsr.modelfile import read_model_info

            models = {read_model_info(p.modelFile).map_kind: Path(p.modelFile)}
        self._cancel = CancelToken()
        total = sum(node.GetImageData().GetDimensions()[2] for node in nodes)
        self.ui.progressBar.setMaximum(total)
        self.ui.applyButton.enabled, self.ui.cancelButton.enabled = False, True

        def progress(done: int, _total: int) -> None:
            self.ui.progressBar.setValue(done)
            self.ui.progressBar.setFormat("%v / %m slices")
            slicer.app.processEvents()  # keeps the UI (and Cancel) responsive between batches

        try:
            with slicer.util.tryWithErrorDisplay(_("Super-resolution failed."), waitCursor=True):
                outputs = self.logic.super_resolve(nodes, p.method, models, p.device, runtime=p.runtime,
                                                   progress=progress, cancel=self._cancel)
                for node, out in zip(nodes, outputs, strict=True):
                    setattr(p, f"dl{node.GetAttribute('QuantSR.MapKind') or MapKind.UNKNOWN.value}", out)
        finally:
            self.ui.applyButton.enabled, self.ui.cancelButton.enabled = True, False
        self.onCompare()

    def onCancel(self) -> None:
        if self._cancel is not None:
            self._cancel.cancel()

    def onCompare(self) -> None:
        from QuantSRLib.views import show_comparison

        p = self._parameterNode
        volumes = [getattr(p, f"{protocol}{p.displayMap}") for protocol in ("fast", "dl", "routine")]
        for volume in volumes:
            if volume is not None:
                self.logic.apply_display(volume, p.colormap)
        show_comparison(*volumes, legend=self.ui.legendCheckBox.checked)
        if p.showTrustMap:
            self.onTrustMapToggled(True)

    def onDisplayMapChanged(self, _index: int) -> None:
        """Switching T1 / T2 / PD (or the colour map) updates the comparison views in place."""
        from QuantSRLib.views import LAYOUT_ID

        manager = slicer.app.layoutManager()
        if manager is not None and manager.layout == LAYOUT_ID and self._parameterNode:
            self.onCompare()

    def onTrustMapToggled(self, checked) -> None:
        """Overlay (or hide) the displayed map's DL deviation from its fast scan on the DL view."""
        p = self._parameterNode
        if p is None:
            return
        from QuantSRLib.views import LAYOUT_ID

        if checked is None and not p.showTrustMap:  # threshold changed while hidden: nothing to redraw
            return
        visible = p.showTrustMap if checked is None else bool(checked)
        dl, fast = getattr(p, f"dl{p.displayMap}"), getattr(p, f"fast{p.displayMap}")
        if dl is None or fast is None:
            if visible and checked is not None:
                slicer.util.errorDisplay(_("The trust map needs a fast map and its DL result."))
            return
        manager = slicer.app.layoutManager()
        if visible and manager is not None and manager.layout != LAYOUT_ID:
            self.onCompare()  # the three views first: the overlay goes on the DL view
        with slicer.util.tryWithErrorDisplay(_("Trust map failed."), waitCursor=True):
            self.logic.show_trust_map(dl, fast, visible, p.trustThresholdPct)

    def updateSyntheticControls(self) -> None:
        """TI only means something for inversion-recovery contrasts."""
        preset = PRESETS.get(self.ui.synthContrastComboBox.currentText.lower())
        self.ui.synthTISpinBox.enabled = preset is not None and preset.kind != "se"

    def onSyntheticPresetChosen(self, _index: int) -> None:
        preset = PRESETS.get(self.ui.synthContrastComboBox.currentText.lower())
        p = self._parameterNode
        if preset is None or p is None:
            return
        p.synthTR, p.synthTE, p.synthTI = preset.tr_ms, preset.te_ms, preset.ti_ms
        self._synthTimer.start()  # existing volumes of this contrast follow the preset too

    def _synthSources(self, selectedOnly: bool) -> dict[str, tuple]:
        """{protocol: (T1, T2, PD) nodes} for the chosen protocol, or all three."""
        p = self._parameterNode
        labels = list(SYNTH_SOURCES) if not selectedOnly or p.synthSource == "all" else [p.synthSource]
        return {label: tuple(getattr(p, f"{SYNTH_SOURCES[label]}{m}") for m in MAPS) for label in labels}

    def onCreateSynthetic(self) -> None:
        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay(_("Synthetic contrast failed."), waitCursor=True):
            made, skipped = self.logic.synthesize_contrasts(self._synthSources(selectedOnly=True), p.synthContrast,
                                                            p.synthTR, p.synthTE, p.synthTI)
            self.ui.synthStatusLabel.text = " ".join(
                [_("Created {names}.").format(names=", ".join(n.GetName() for n in made.values()))]
                + list(skipped.values()))
            self.logic.show_synthetic_comparison(p.synthContrast)

    def onSyntheticTimingChanged(self) -> None:
        """Recompute the contrast's existing volumes (every protocol, so the three views stay comparable)."""
        from quantsr.errors import QuantSRError

        p = self._parameterNode
        if p is None:
            return
        try:
            updated = self.logic.update_synthetic_contrasts(self._synthSources(selectedOnly=False), p.synthContrast,
                                                            p.synthTR, p.synthTE, p.synthTI)
        except QuantSRError as exc:  # while typing: a message in the section, not a pop-up
            self.ui.synthStatusLabel.text = str(exc)
            return
        if updated:  # also replaces an earlier error message
            self.ui.synthStatusLabel.text = _("Updated {names}.").format(
                names=", ".join(node.GetName() for node in updated.values()))

    def onMeasure(self) -> None:
        p = self._parameterNode
        volumes = [getattr(p, f"{protocol}{m}") for m in MAPS for protocol in ("fast", "dl", "routine")]
        volumes = [v for v in volumes if v is not None]
        rois = list(slicer.util.getNodesByClass("vtkMRMLMarkupsROINode"))
        trust_pairs = None
        if p.showTrustMap:  # consistency / flag columns for every DL volume with its fast scan
            pairs = ((getattr(p, f"dl{m}"), getattr(p, f"fast{m}")) for m in MAPS)
            trust_pairs = {dl.GetID(): fast for dl, fast in pairs if dl is not None and fast is not None}
        with slicer.util.tryWithErrorDisplay(_("Measurement failed."), waitCursor=True):
            rows, table, _summary = self.logic.measure_rois(volumes, rois, p.segmentation, p.resultsTable,
                                                            trust_pairs=trust_pairs,
                                                            threshold_pct=p.trustThresholdPct)
            p.resultsTable = table
            self._lastRows = rows
            slicer.app.layoutManager().setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutFourUpTableView)
            slicer.app.applicationLogic().GetSelectionNode().SetActiveTableID(table.GetID())
            slicer.app.applicationLogic().PropagateTableSelection()

    def onExportCsv(self) -> None:
        if not self._lastRows:
            slicer.util.errorDisplay(_("Measure ROIs first."))
            return
        path = self.ui.csvPathLineEdit.currentPath
        with slicer.util.tryWithErrorDisplay(_("Export failed.")):
            self.logic.export_csv(self._lastRows, path)
            slicer.util.infoDisplay(_("ROI statistics written to {path}").format(path=path))


class QuantSRLogic(ScriptedLoadableModuleLogic, QuantSRCoreLogic):
    """Slicer-side Logic: the parameter node plus everything in :class:`QuantSRCoreLogic`."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        QuantSRCoreLogic.__init__(self, slicer.mrmlScene)

    def getParameterNode(self):
        return QuantSRParameterNode(super().getParameterNode())


class QuantSRTest(ScriptedLoadableModuleTest):
    """Self-test inside Slicer: synthetic volumes, CPU, bicubic and a tiny random model, no downloads."""

    def setUp(self) -> None:
        slicer.mrmlScene.Clear()

    def runTest(self) -> None:
        self.setUp()
        self.test_QuantSR_super_resolve_and_measure()
        self.setUp()
        self.test_QuantSR_synthetic_contrast()

    def test_QuantSR_super_resolve_and_measure(self) -> None:
        import numpy as np

        from quantsr.mapkinds import MapKind
        from quantsr.volume import QuantMap
        from QuantSRLib.nodes import map_from_volume_node, volume_node_from_map

        self.delayDisplay("Creating synthetic fast and routine T2 maps")
        def pattern(matrix: int) -> QuantMap:
            pixel = 64.0 / matrix
            centres = (np.arange(matrix) + 0.5) * pixel
            box = (centres >= 20) & (centres <= 40)
            plane = np.where(box[:, None] & box[None, :], 150.0, 80.0)
            return QuantMap(np.stack([plane] * 3), origin=(pixel / 2, pixel / 2, 0), spacing=(pixel, pixel, 5.0),
                            kind=MapKind.T2)

        logic = QuantSRLogic()
        fast = volume_node_from_map(slicer.mrmlScene, pattern(32), "T2 fast", "fast")
        routine = volume_node_from_map(slicer.mrmlScene, pattern(64), "T2 routine", "routine")
        (sr,) = logic.super_resolve([fast], method="bicubic", device="cpu")
        self.assertTrue(map_from_volume_node(sr).same_geometry(map_from_volume_node(routine)))
        roi = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "lesion")
        roi.SetCenter(-30.0, -30.0, 5.0)
        roi.SetSize(16.0, 16.0, 4.0)
        rows, table, _summary = logic.measure_rois([fast, sr, routine], rois=[roi])
        self.assertEqual(table.GetNumberOfRows(), 3)
        for row in rows:
            self.assertAlmostEqual(row.mean, 150.0, delta=1.0)
        self.delayDisplay("Test passed")

    def test_QuantSR_synthetic_contrast(self) -> None:
        import numpy as np

        from quantsr.mapkinds import MapKind
        from quantsr.volume import QuantMap
        from QuantSRLib.nodes import volume_node_from_map

        self.delayDisplay("Synthetic FLAIR from fast T1 / T2 / PD maps (columns: WM, GM, CSF)")
        tissues = {MapKind.T1: [838.0, 1233.0, 4100.0], MapKind.T2: [80.0, 93.0, 1300.0],
                   MapKind.PD: [68.0, 80.0, 100.0]}
        logic = QuantSRLogic()
        maps = [volume_node_from_map(slicer.mrmlScene, QuantMap(np.tile(values, (2, 4, 1)), kind=kind),
                                     f"{kind.value} fast", "fast") for kind, values in tissues.items()]
        flair = logic.synthesize_contrast(*maps, "fast", "FLAIR")
        wm, gm, csf = slicer.util.arrayFromVolume(flair)[0, 0]
        self.assertLess(csf, 0.15 * wm)  # CSF nulled
        self.assertGreater(gm, wm)
        count = slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode")
        again = logic.synthesize_contrast(*maps, "fast", "FLAIR", ti_ms=1500.0)
        self.assertEqual(again.GetID(), flair.GetID())
        self.assertEqual(slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode"), count)
        self.assertGreater(slicer.util.arrayFromVolume(flair)[0, 0, 2], 0.3 * wm)  # TI off the null: CSF back
        logic.show_synthetic_comparison("FLAIR")
        self.delayDisplay("Test passed")
