"""The thin Widget stays in step with its .ui file and parameter node, and the module follows Slicer's
scripted-module template (checked statically: the module itself needs the Slicer application)."""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "QuantSR" / "QuantSR.py"
UI = ROOT / "QuantSR" / "Resources" / "UI" / "QuantSR.ui"


def _ui_widgets() -> dict[str, str | None]:
    """Widget name → its SlicerParameterName (or None)."""
    tree = ElementTree.parse(UI)
    widgets = {}
    for widget in tree.iter("widget"):
        name = widget.get("name")
        if not name:
            continue
        parameter = None
        for prop in widget.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                parameter = prop.findtext("string")
        widgets[name] = parameter
    return widgets


def _parameter_fields() -> set[str]:
    tree = ast.parse(MODULE.read_text())
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "QuantSRParameterNode")
    return {stmt.target.id for stmt in node.body if isinstance(stmt, ast.AnnAssign)}


def test_every_widget_the_code_uses_exists_in_the_ui() -> None:
    used = set(re.findall(r"self\.ui\.(\w+)", MODULE.read_text()))
    missing = used - set(_ui_widgets())
    assert not missing, f"QuantSR.py uses widgets the .ui lacks: {sorted(missing)}"
    assert {"applyButton", "cancelButton", "progressBar", "measureButton"} <= used


def test_every_binding_names_a_parameter_and_every_parameter_is_bound() -> None:
    bindings = {w: p for w, p in _ui_widgets().items() if p}
    fields = _parameter_fields()
    unknown = {p for p in bindings.values() if p not in fields}
    assert not unknown, f".ui binds unknown parameters: {sorted(unknown)}"
    assert set(bindings.values()) == fields, f"unbound parameters: {sorted(fields - set(bindings.values()))}"


def test_module_follows_the_scripted_module_template() -> None:
    source = MODULE.read_text()
    tree = ast.parse(source)
    classes = {n.name: [ast.unparse(b) for b in n.bases] for n in tree.body if isinstance(n, ast.ClassDef)}
    assert classes["QuantSR"] == ["ScriptedLoadableModule"]
    assert "ScriptedLoadableModuleWidget" in classes["QuantSRWidget"]
    assert "ScriptedLoadableModuleLogic" in classes["QuantSRLogic"]
    assert classes["QuantSRTest"] == ["ScriptedLoadableModuleTest"]
    assert "@parameterNodeWrapper" in source and 'loadUI(self.resourcePath("UI/QuantSR.ui"))' in source
    logic_source = (ROOT / "QuantSR" / "QuantSRLib" / "logic.py").read_text()
    assert "import qt" not in logic_source and "slicer.app." not in logic_source  # Logic has no Qt
    cmake = (ROOT / "QuantSR" / "CMakeLists.txt").read_text()
    assert "WITH_GENERIC_TESTS" in cmake and "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in cmake
    top = (ROOT / "CMakeLists.txt").read_text()
    assert 'set(EXTENSION_DEPENDS "PyTorch")' in top and "add_subdirectory(QuantSR)" in top
    assert (ROOT / "QuantSR" / "Resources" / "Icons" / "QuantSR.png").stat().st_size > 500


def test_module_imports_without_torch() -> None:
    """Slicer must be able to open the module (and its Install button) before torch is installed."""
    import subprocess
    import sys

    code = ("import sys; sys.path.insert(0, 'QuantSR'); import QuantSRLib.logic, QuantSRLib.dependencies; "
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False", result.stderr


# -- issue 17: ready for a real Slicer -----------------------------------------------------------------------
def _layout_cells() -> list[tuple[str, int, int, int, int]]:
    """(layout description, row, column, row span, column span) of every grid / form layout item."""
    cells = []
    for index, layout in enumerate(ElementTree.parse(UI).iter("layout")):
        for item in layout.findall("item"):
            if item.get("row") is None:
                continue
            cells.append((f"{layout.get('class')}#{index}", int(item.get("row")), int(item.get("column", 0)),
                          int(item.get("rowspan", 1)), int(item.get("colspan", 1))))
    return cells


def test_no_two_ui_items_share_a_layout_cell() -> None:
    taken: dict[tuple[str, int, int], int] = {}
    for layout, row, column, rowspan, colspan in _layout_cells():
        for r in range(row, row + rowspan):
            for c in range(column, column + colspan):
                taken[(layout, r, c)] = taken.get((layout, r, c), 0) + 1
    clashes = sorted(key for key, count in taken.items() if count > 1)
    assert not clashes, f"layout cells holding two items (drawn over each other): {clashes}"


def _source_tree() -> ast.Module:
    return ast.parse(MODULE.read_text())


def _method(name: str) -> str:
    widget = next(n for n in _source_tree().body if isinstance(n, ast.ClassDef) and n.name == "QuantSRWidget")
    return ast.unparse(next(f for f in widget.body if isinstance(f, ast.FunctionDef) and f.name == name))


def test_views_follow_the_parameter_node_not_widget_signals() -> None:
    setup = _method("setup")
    for widget in ("displayMapComboBox", "colormapComboBox", "showTrustMapCheckBox", "trustThresholdSpinBox"):
        assert f"self.ui.{widget}.connect" not in setup, f"{widget} handler would read the previous value"
    assert "vtk.vtkCommand.ModifiedEvent, self.onParameterNodeModified" in _method("setParameterNode")
    assert "errorDisplay" not in _method("onApply") and "self.ui.applyButton.enabled = problem is None" in (
        _method("_checkCanApply"))


def test_apply_runs_in_a_worker_with_cancel_as_a_status_message() -> None:
    apply_source, cancel_source = _method("onApply"), _method("onCancel")
    assert "start_super_resolution" in apply_source and "processEvents" not in MODULE.read_text()
    assert "self.setBusy(True)" in apply_source and "errorDisplay" not in cancel_source
    assert "srStatusLabel" in cancel_source
    assert "self.onCancel()" in _method("onSceneStartClose")
    assert "setattr(self._parameterNode, self.logic.output_slot(out), out)" in _method("onPollTask")


def test_measure_keeps_the_comparison_views() -> None:
    source = _method("onMeasure")
    assert "FourUpTable" not in source and "show_table(table)" in source


def test_layouts_are_registered_in_setup() -> None:
    assert "register_in_application()" in _method("setup")


def test_combo_boxes_show_labels_and_paths_are_writable() -> None:
    tree = ElementTree.parse(UI)
    texts = {w.get("name"): [i.findtext("property/string") for i in w.findall("item")]
             for w in tree.iter("widget") if w.get("class") == "QComboBox"}
    for raw in ("dl", "cuda", "onnxruntime", "grey"):
        assert not any(raw in items for items in texts.values()), f"a combo box shows the raw id {raw!r}"
    fields = {stmt.target.id: ast.unparse(stmt.annotation) for stmt in next(
        n for n in _source_tree().body if isinstance(n, ast.ClassDef) and n.name == "QuantSRParameterNode").body
        if isinstance(stmt, ast.AnnAssign)}
    assert (fields["method"], fields["device"], fields["runtime"], fields["colormap"]) == (
        "SRMethod", "Device", "Runtime", "Colormap")
    widgets = {w.get("name"): w for w in tree.iter("widget")}
    csv_filters = widgets["csvPathLineEdit"].find("property[@name='filters']/set").text
    assert "Writable" in csv_filters
    for protocol in ("fast", "routine", "dl"):
        for kind in ("T1", "T2", "PD"):
            selector = widgets[f"{protocol}{kind}Selector"]
            assert selector.findtext("property[@name='showChildNodeTypes']/bool") == "false"


def test_choice_labels_and_synthetic_constants_match_the_core() -> None:
    from quantsr.synth import PRESETS
    from QuantSRLib.choices import FLAIR_TIMING_MS, SYNTH_CONTRASTS, Device, SRMethod

    assert SRMethod.DL.label() == "Deep learning (SRGAN)" and Device.CUDA.label() == "GPU (CUDA)"
    assert tuple(name.upper() for name in PRESETS) == SYNTH_CONTRASTS
    flair = PRESETS["flair"]
    assert (flair.tr_ms, flair.te_ms, flair.ti_ms) == FLAIR_TIMING_MS
    from quantsr.trust import DEFAULT_THRESHOLD_PCT
    from QuantSRLib.choices import DEFAULT_TRUST_THRESHOLD_PCT

    assert DEFAULT_TRUST_THRESHOLD_PCT == DEFAULT_THRESHOLD_PCT


def test_method_identifiers_and_labels_come_from_the_core() -> None:
    """The panel's methods are quantsr.methods' identifiers; the synthetic-contrast sources (spelled out in
    QuantSR.py, which may not import quantsr at Slicer's start-up) are their labels and name existing parameters."""
    from quantsr.methods import DL, METHODS, method_from_label, method_label
    from QuantSRLib.choices import SRMethod

    assert tuple(m.value for m in SRMethod) == METHODS
    sources = next(ast.literal_eval(n.value) for n in _source_tree().body
                   if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "SYNTH_SOURCES")
    assert sources == tuple(method_label(p) for p in ("fast", DL, "routine")) == ("fast", "DL", "routine")
    assert {f"{method_from_label(label)}T1" for label in sources} <= _parameter_fields()


def test_slicer_start_imports_no_scipy_stats_pydicom_or_simpleitk() -> None:
    """What QuantSR.py imports at module level (besides Qt / Slicer) must stay light: Slicer imports it at
    every start."""
    import subprocess
    import sys

    imports = []
    for node in _source_tree().body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] not in (
                "slicer", "__future__"):
            imports.append(ast.unparse(node))
        elif isinstance(node, ast.Import):
            imports += [f"import {a.name}" for a in node.names if a.name.split(".")[0] not in ("qt", "slicer", "vtk")]
    code = "import sys; sys.path.insert(0, 'QuantSR')\n" + "\n".join(imports) + (
        "\nprint(sorted(m for m in ('scipy.stats', 'pydicom', 'SimpleITK', 'torch', 'quantsr') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_supported_versions_are_stated_and_checked_when_the_module_loads() -> None:
    from QuantSRLib.compat import MIN_PYTHON, MIN_SLICER_TEXT, python_problem, slicer_problem

    assert "Slicer 5.10 or newer" in python_problem((3, 9, 10)) and python_problem((3, 12, 10)) is None
    assert "this is Slicer 5.8" in slicer_problem(5, 8) and slicer_problem(5, 12) is None
    setup = _method("setup")
    assert setup.index("version_problem()") < setup.index("loadUI")
    assert f"Slicer {MIN_SLICER_TEXT}" in (ROOT / "CMakeLists.txt").read_text()
    readme = (ROOT / "README.md").read_text()
    assert f"Slicer {MIN_SLICER_TEXT}" in readme and "pydicom 2.4" in readme
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'requires-python = ">={MIN_PYTHON[0]}.{MIN_PYTHON[1]}"' in pyproject
    ci = (ROOT / ".ci" / "run").read_text()
    assert "vermin" in ci and f"--target={MIN_PYTHON[0]}.{MIN_PYTHON[1]}-" in ci


def test_bicubic_needs_no_torch() -> None:
    """The dependency text promises bicubic / linear before set-up: run them with torch made unimportable."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['torch'] = None; sys.path.insert(0, 'QuantSR')\n"
            "import numpy as np\n"
            "from quantsr.mapkinds import MapKind\nfrom quantsr.volume import QuantMap\n"
            "from quantsr.srjob import SRJob, super_resolve_maps\n"
            "m = QuantMap(np.full((2, 8, 8), 900.0), kind=MapKind.T1)\n"
            "for method in ('bicubic', 'linear'):\n"
            "    (out,) = super_resolve_maps([m], SRJob(method))\n"
            "    assert out.shape == (2, 16, 16) and out.metadata['sr_report'].runtime == 'scipy'\n"
            "print('ok')")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr[-2000:]
