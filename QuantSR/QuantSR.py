"""QuantSR — super-resolution of fast synthetic-MRI T1 / T2 / PD maps, compared side by side with the
routine scan, with paired lesion ROI measurement (Liu et al. 2026). Follows Slicer's scripted-module
template: module, parameter node, Widget (Qt, built from Resources/UI/QuantSR.ui), Logic (no Qt), Test."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import qt
import slicer
import vtk
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

# Only light, Python-3.9-importable modules at start-up: quantsr (numpy, SimpleITK, pydicom, scipy.stats,
# torch) loads when the panel is first opened, and an unsupported Slicer gets a message instead of a traceback.
from QuantSRLib.choices import (
    DEFAULT_TRUST_THRESHOLD_PCT,
    FLAIR_TIMING_MS,
    SYNTH_CONTRASTS,
    Colormap,
    Device,
    Runtime,
    SRMethod,
)
from QuantSRLib.compat import MIN_SLICER_TEXT, python_problem, slicer_problem

MAPS = ("T1", "T2", "PD")
# Synthetic-contrast sources by the labels of their nodes ("T1 fast", "T1 DL", ...; quantsr.methods.method_label,
# not imported here: Slicer loads this module at start-up). Parameter names use the identifier: method_from_label.
SYNTH_SOURCES = ("fast", "DL", "routine")
SYNTH_UPDATE_DELAY_MS = 300  # live update once TR / TE / TI stop changing, not on every keystroke
POLL_INTERVAL_MS = 200  # how often the panel reads the worker's progress
VOLUME_SELECTORS = tuple(f"{protocol}{m}Selector" for protocol in ("fast", "routine", "dl") for m in MAPS)
#: Sections and controls locked while super-resolution runs (Cancel and the progress bar stay live).
LOCKED_WHILE_RUNNING = ("setupCollapsibleButton", "inputsCollapsibleButton", "compareCollapsibleButton",
                        "syntheticCollapsibleButton", "roiCollapsibleButton", "processT1CheckBox",
                        "processT2CheckBox", "processPDCheckBox", "methodComboBox", "modelFilePathLineEdit",
                        "deviceComboBox", "runtimeComboBox", "dlT1Selector", "dlT2Selector", "dlPDSelector")


def version_problem() -> str | None:
    """Why this Slicer cannot run QuantSR (checked when the module loads), or None."""
    problem = python_problem()
    app = getattr(slicer, "app", None)
    if problem is None and app is not None:
        problem = slicer_problem(app.majorVersion, app.minorVersion)
    return problem


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
            "volumes. The bundled models were trained on simulated phantom data: not for clinical use. "
            "Needs 3D Slicer {version} or newer."
        ).format(version=MIN_SLICER_TEXT)
        self.parent.acknowledgementText = _(
            "Implements Liu et al., Two-Minute Deep Learning-Powered Brain Quantitative Mapping, JMIR Med "
            "Inform 2026;14:e79389. Uses SlicerPyTorch for PyTorch."
        )
        problem = version_problem()
        if problem:
            logging.error(problem)
            self.parent.helpText = problem + "\n\n" + self.parent.helpText


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
    method: SRMethod = SRMethod.DL
    device: Device = Device.AUTO
    runtime: Runtime = Runtime.TORCH
    modelFile: Path
    displayMap: Annotated[str, Choice(list(MAPS))] = "T1"
    colormap: Colormap = Colormap.GREY
    segmentation: vtkMRMLSegmentationNode
    resultsTable: vtkMRMLTableNode
    showTrustMap: bool = False
    trustThresholdPct: Annotated[float, WithinRange(0.5, 50.0)] = DEFAULT_TRUST_THRESHOLD_PCT
    synthContrast: Annotated[str, Choice(list(SYNTH_CONTRASTS))] = "FLAIR"
    synthTR: Annotated[float, WithinRange(1.0, 30000.0)] = FLAIR_TIMING_MS[0]
    synthTE: Annotated[float, WithinRange(0.0, 1000.0)] = FLAIR_TIMING_MS[1]
    synthTI: Annotated[float, WithinRange(0.0, 10000.0)] = FLAIR_TIMING_MS[2]
    synthSource: Annotated[str, Choice(["all", *SYNTH_SOURCES])] = "all"


class QuantSRWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic: QuantSRLogic | None = None
        self._parameterNode: QuantSRParameterNode | None = None
        self._parameterNodeGuiTag = None
        self._task = None  # the running SRTask
        self._lastRows = []
        self._viewState: tuple | None = None
        self._synthTimer = None
        self._pollTimer = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        problem = version_problem()
        if problem:  # an unsupported Slicer: say so in the panel instead of failing on newer Python syntax
            label = qt.QLabel(problem)
            label.wordWrap = True
            self.layout.addWidget(label)
            self.layout.addStretch(1)
            return
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/QuantSR.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = QuantSRLogic()

        from QuantSRLib.views import register_in_application

        register_in_application()  # a saved scene that uses the comparison layout reopens with its views

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.NodeAddedEvent, self.onNodeAdded)

        self.ui.installDependenciesButton.connect("clicked(bool)", self.onInstallDependencies)
        self.ui.loadFastButton.connect("clicked(bool)", lambda: self.onLoad("fast"))
        self.ui.loadRoutineButton.connect("clicked(bool)", lambda: self.onLoad("routine"))
        self.ui.applyButton.connect("clicked(bool)", self.onApply)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancel)
        self.ui.compareButton.connect("clicked(bool)", self.onCompare)
        self.ui.measureButton.connect("clicked(bool)", self.onMeasure)
        self.ui.exportCsvButton.connect("clicked(bool)", self.onExportCsv)
        # Map, colour map, trust map and threshold: no widget signals here. PythonQt calls slots in connection
        # order, so a handler connected before connectGui would read the previous value; the parameter node's
        # ModifiedEvent (below) comes after the new value is stored.
        # activated: only a user's choice fills in the preset (restoring a scene keeps its TR / TE / TI)
        self.ui.synthContrastComboBox.connect("activated(int)", self.onSyntheticPresetChosen)
        self.ui.synthCreateButton.connect("clicked(bool)", self.onCreateSynthetic)
        self._synthTimer = qt.QTimer()
        self._synthTimer.setSingleShot(True)
        self._synthTimer.setInterval(SYNTH_UPDATE_DELAY_MS)
        self._synthTimer.connect("timeout()", self.onSyntheticTimingChanged)
        self._pollTimer = qt.QTimer()
        self._pollTimer.setInterval(POLL_INTERVAL_MS)
        self._pollTimer.connect("timeout()", self.onPollTask)
        self.ui.cancelButton.enabled = False
        self.ui.progressBar.setValue(0)
        self.initializeParameterNode()
        self.refreshSelectorFilters()

    def cleanup(self) -> None:
        if self._task is not None:
            self.onCancel()
        self.removeObservers()
        for timer in (self._synthTimer, self._pollTimer):
            if timer is not None:
                timer.stop()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.onParameterNodeModified)

    def onSceneStartClose(self, caller, event) -> None:
        if self._task is not None:  # the inputs are about to disappear
            self.onCancel()
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def onNodeAdded(self, caller, event) -> None:
        qt.QTimer.singleShot(0, self.refreshSelectorFilters)  # after the new node's attributes are set

    def refreshSelectorFilters(self) -> None:
        """Deviation and synthetic volumes are results, not inputs: keep them out of the map selectors."""
        if self.logic is None:
            return
        hidden = self.logic.derived_volume_ids(slicer.mrmlScene)
        for name in VOLUME_SELECTORS:
            getattr(self.ui, name).sortFilterProxyModel().hiddenNodeIDs = hidden

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, inputParameterNode: QuantSRParameterNode | None) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.onParameterNodeModified)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.onParameterNodeModified)
            # Entering the module redraws nothing: the views keep the user's zoom and pan.
            self._viewState = self.viewState()
            self.updateSyntheticControls()
            self._checkCanApply()

    # -- parameter node → panel and views ---------------------------------------------------------
    def viewState(self) -> tuple:
        p = self._parameterNode
        return (p.displayMap, p.colormap, p.showTrustMap, p.trustThresholdPct)

    def onParameterNodeModified(self, caller=None, event=None) -> None:
        """Runs after connectGui stored the new value: the Apply state, the TI field and, when a display
        parameter changed, the views in place."""
        if self._parameterNode is None:
            return
        self._checkCanApply()
        self._updateEnvelopeWarning()
        self.updateSyntheticControls()
        state = self.viewState()
        if state == self._viewState:
            return
        previous, self._viewState = self._viewState, state
        from QuantSRLib.views import comparison_shown

        if previous is not None and previous[:2] != state[:2] and comparison_shown():
            self.showComparison(fit=False)  # T1 / T2 / PD or colour map: same views, same zoom
        elif previous is None or previous[2:] != state[2:]:
            self.updateTrustMap()

    def _checkCanApply(self) -> None:
        p = self._parameterNode
        problem = self.logic.apply_problem({m: getattr(p, f"fast{m}") for m in MAPS},
                                           {m: getattr(p, f"process{m}") for m in MAPS}, busy=self._task is not None)
        self.ui.applyButton.enabled = problem is None
        self.ui.applyButton.toolTip = problem or _("Super-resolve the selected fast maps")

    def _updateEnvelopeWarning(self) -> None:
        """Say so in the panel when a selected fast map lies outside its model's training envelope (issue 18):
        recomputed only when the inputs, the method or the model change."""
        from QuantSRLib.envelope import envelope_warnings

        p = self._parameterNode
        nodes = {m: getattr(p, f"fast{m}") if getattr(p, f"process{m}") else None for m in MAPS}
        model = p.modelFile if p.modelFile and str(p.modelFile) not in ("", ".") else None
        key = (tuple(n.GetID() if n else None for n in nodes.values()), p.method, str(model))
        if key == getattr(self, "_envelopeKey", None):
            return
        self._envelopeKey = key
        text = envelope_warnings(nodes, model) if p.method == SRMethod.DL else ""
        self.ui.envelopeWarningLabel.text = text
        self.ui.envelopeWarningLabel.visible = bool(text)

    def setBusy(self, busy: bool) -> None:
        """Lock everything that could change or remove the inputs while the worker runs; Cancel stays live."""
        for name in LOCKED_WHILE_RUNNING:
            getattr(self.ui, name).enabled = not busy
        self.ui.cancelButton.enabled = busy
        self._checkCanApply()

    # -- actions ------------------------------------------------------------------------------
    def onInstallDependencies(self) -> None:
        from QuantSRLib.dependencies import DependencyError, ensure_dependencies

        try:
            with slicer.util.WaitCursor():
                notes = ensure_dependencies(ask_confirmation=True)
        except DependencyError as exc:
            self.ui.dependencyStatusLabel.text = str(exc)
            slicer.util.errorDisplay(str(exc))
            return
        self.ui.dependencyStatusLabel.text = " ".join(notes)

    def onLoad(self, protocol: str) -> None:
        folder = self.ui.fastPathLineEdit.currentPath if protocol == "fast" else self.ui.routinePathLineEdit.currentPath
        with slicer.util.tryWithErrorDisplay(_("Loading failed."), waitCursor=True):
            nodes = self.logic.load_maps(folder, protocol)
            for node in nodes:
                kind = node.GetAttribute("QuantSR.MapKind")
                setattr(self._parameterNode, f"{protocol}{kind}", node)

    def onApply(self) -> None:
        """Start super-resolution in a worker process; onPollTask follows it."""
        p = self._parameterNode
        model = p.modelFile if p.modelFile and str(p.modelFile) not in ("", ".") else None
        with slicer.util.tryWithErrorDisplay(_("Super-resolution could not start."), waitCursor=True):
            slots = {m: getattr(p, f"fast{m}") for m in MAPS if getattr(p, f"process{m}")}
            # the unticked maps' volumes guide the ticked ones (for a model that reads the study's other maps)
            guides = {m: getattr(p, f"fast{m}") for m in MAPS
                      if not getattr(p, f"process{m}") and getattr(p, f"fast{m}") is not None}
            self._task = self.logic.start_super_resolution(slots, p.method.value, device=p.device.value,
                                                           runtime=p.runtime.value, model_file=model,
                                                           guide_slots=guides)
        if self._task is None:
            return
        self.ui.progressBar.setMaximum(max(self._task.state.total, 1))
        self.ui.progressBar.setValue(0)
        self.ui.progressBar.setFormat("%v / %m slices")
        self.ui.srStatusLabel.text = _("Super-resolving ...")
        self.setBusy(True)
        self._pollTimer.start()

    def onPollTask(self) -> None:
        if self._task is None:
            self._pollTimer.stop()
            return
        state = self._task.poll()
        self.ui.progressBar.setValue(state.done)
        if not state.finished:
            return
        self._pollTimer.stop()
        task, self._task = self._task, None
        self.setBusy(False)
        outputs = []
        with slicer.util.tryWithErrorDisplay(_("Super-resolution failed."), waitCursor=True):
            outputs = task.finish()
            for out in outputs:
                setattr(self._parameterNode, self.logic.output_slot(out), out)
        if outputs:
            self.ui.srStatusLabel.text = _("Created {names}.").format(names=", ".join(o.GetName() for o in outputs))
            self.onCompare()
        else:
            self.ui.srStatusLabel.text = _("Super-resolution failed.")

    def onCancel(self) -> None:
        """A cancel is a status message: the worker ends and the scene is left as it was."""
        if self._task is None:
            return
        self._pollTimer.stop()
        state = self._task.cancel()
        self._task = None
        self.setBusy(False)
        self.ui.progressBar.setValue(0)
        self.ui.srStatusLabel.text = state.message
        slicer.util.showStatusMessage(state.message, 3000)

    def onCompare(self) -> None:
        self.showComparison(fit=True)

    def showComparison(self, fit: bool) -> None:
        from QuantSRLib.views import show_comparison

        p = self._parameterNode
        volumes = [getattr(p, f"{protocol}{p.displayMap}") for protocol in ("fast", "dl", "routine")]
        for volume in volumes:
            if volume is not None:
                self.logic.apply_display(volume, p.colormap.value)
        show_comparison(*volumes, legend=self.ui.legendCheckBox.checked, fit=fit)
        if p.showTrustMap:
            self.updateTrustMap()

    def updateTrustMap(self) -> None:
        """Overlay (or hide) the displayed map's DL deviation from its fast scan on the DL view."""
        p = self._parameterNode
        if p is None:
            return
        dl, fast = getattr(p, f"dl{p.displayMap}"), getattr(p, f"fast{p.displayMap}")
        if dl is None or fast is None:
            if p.showTrustMap:
                self.ui.srStatusLabel.text = _("The trust map needs a fast map and its DL result.")
            return
        from QuantSRLib.views import comparison_shown

        if p.showTrustMap and not comparison_shown():
            self.showComparison(fit=True)  # the three views first: the overlay goes on the DL view
            return  # showComparison drew the overlay
        with slicer.util.tryWithErrorDisplay(_("Trust map failed."), waitCursor=True):
            self.logic.show_trust_map(dl, fast, p.showTrustMap, p.trustThresholdPct)

    def updateSyntheticControls(self) -> None:
        """TI only means something for inversion-recovery contrasts."""
        from quantsr.synth import PRESETS

        preset = PRESETS.get(self._parameterNode.synthContrast.lower()) if self._parameterNode else None
        self.ui.synthTISpinBox.enabled = preset is not None and preset.kind != "se"

    def onSyntheticPresetChosen(self, _index: int) -> None:
        from quantsr.synth import PRESETS

        preset = PRESETS.get(self.ui.synthContrastComboBox.currentText.lower())
        p = self._parameterNode
        if preset is None or p is None:
            return
        p.synthTR, p.synthTE, p.synthTI = preset.tr_ms, preset.te_ms, preset.ti_ms
        self._synthTimer.start()  # existing volumes of this contrast follow the preset too

    def _synthSources(self, selectedOnly: bool) -> dict[str, tuple]:
        """{protocol: (T1, T2, PD) nodes} for the chosen protocol, or all three."""
        p = self._parameterNode
        from quantsr.methods import method_from_label

        labels = list(SYNTH_SOURCES) if not selectedOnly or p.synthSource == "all" else [p.synthSource]
        return {label: tuple(getattr(p, f"{method_from_label(label)}{m}") for m in MAPS) for label in labels}

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
            from QuantSRLib.views import comparison_shown, show_table

            if not comparison_shown():
                self.showComparison(fit=True)
            show_table(table)  # under the three views: T1 / T2 / PD switching keeps working

    def onExportCsv(self) -> None:
        if not self._lastRows:
            slicer.util.errorDisplay(_("Measure ROIs first."))
            return
        path = self.ui.csvPathLineEdit.currentPath
        with slicer.util.tryWithErrorDisplay(_("Export failed.")):
            written = self.logic.export_csv(self._lastRows, path)
            slicer.util.showStatusMessage(_("ROI statistics written to {path}").format(path=written), 5000)


class QuantSRLogic(ScriptedLoadableModuleLogic):
    """Slicer-side Logic: the parameter node, plus everything in :class:`QuantSRLib.logic.QuantSRSceneLogic`
    (delegated, so quantsr and its libraries load when the Logic is first made, not at Slicer start)."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        from QuantSRLib.logic import QuantSRSceneLogic

        self.scene_logic = QuantSRSceneLogic(slicer.mrmlScene)

    def __getattr__(self, name: str):
        if name == "scene_logic":  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self.scene_logic, name)

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
