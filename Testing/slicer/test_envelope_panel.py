"""The panel's envelope warning (issue 18) on a real MRML scene: a 2 mm fast map selected for DL is named,
a map inside the bundled models' envelope and an unselected slot say nothing, and the panel wires it up."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from helpers.dicom_factory import brain_like

from quantsr.mapkinds import MapKind
from quantsr.volume import QuantMap

ROOT = Path(__file__).resolve().parents[2]


def _node(scene, spacing: float, matrix: int, kind: str):
    from QuantSRLib.nodes import volume_node_from_map

    qmap = QuantMap(brain_like(kind, shape=(3, matrix, matrix)), spacing=(spacing, spacing, 5.0),
                    kind=MapKind.parse(kind))
    return volume_node_from_map(scene, qmap, f"fast {kind}")


def test_only_maps_outside_the_envelope_are_named(scene) -> None:
    from QuantSRLib.envelope import envelope_warnings

    text = envelope_warnings({"T1": _node(scene, 2.0, 64, "T1"), "T2": _node(scene, 0.859375, 256, "T2"),
                              "PD": None})
    assert text.startswith("T1: ") and "2×2 mm" in text and "T2:" not in text
    assert envelope_warnings({"T1": None, "T2": _node(scene, 0.859375, 256, "T2"), "PD": None}) == ""


def test_the_panel_shows_the_warning_in_its_own_label() -> None:
    source = (ROOT / "QuantSR" / "QuantSR.py").read_text()
    calls = {node.func.id for node in ast.walk(ast.parse(source))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert "envelope_warnings" in calls and "envelopeWarningLabel" in source
    ui = (ROOT / "QuantSR" / "Resources" / "UI" / "QuantSR.ui").read_text()
    assert 'name="envelopeWarningLabel"' in ui


pytest.importorskip("slicer", reason="the slicer-core wheel is not installed")
