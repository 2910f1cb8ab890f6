"""The training-envelope warning for the Slicer panel (issue 18): Qt-free, so the panel only shows the text.

Call :func:`envelope_warning_for_node` after loading a fast map (and again when the model choice changes);
show a non-empty result in the panel's status / warning label next to the Run button."""

from __future__ import annotations

from pathlib import Path

from quantsr.envelope import input_warning
from quantsr.mapkinds import MapKind
from quantsr.volume import QuantMap


def envelope_warning(qmap: QuantMap, model_path: str | Path | None = None) -> str:
    """The warning text for ``qmap`` and the model the run will use (bundled when ``model_path`` is None);
    "" when the input lies inside the model's training envelope."""
    return input_warning(qmap, model_path)


def envelope_warning_for_node(node: object, kind: MapKind | None = None, model_path: str | Path | None = None) -> str:
    """The same for a scalar volume node (needs MRML, not Qt)."""
    from .nodes import map_from_volume_node

    return envelope_warning(map_from_volume_node(node, kind), model_path)


def envelope_warnings(fast_nodes: dict[str, object], model_path: str | Path | None = None) -> str:
    """The panel's text for the selected fast maps ({"T1": node or None, ...}): one line per map outside its
    model's training envelope, "" when all are inside. Maps that cannot be read are skipped here: the Apply
    check reports them."""
    from quantsr.errors import QuantSRError

    lines = []
    for name, node in fast_nodes.items():
        if node is None:
            continue
        try:
            text = envelope_warning_for_node(node, MapKind.parse(name), model_path)
        except QuantSRError:
            continue
        if text:
            lines.append(f"{name}: {text}")
    return "\n".join(lines)
