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
