"""Synthetic contrast-weighted volumes in the scene (``quantsr.synth``): "FLAIR DL", "T2W fast", ... made from
one protocol's T1 / T2 / PD volume nodes on their grid, updated in place when TR / TE / TI change, with a grey
window shared by fast, DL and routine so the three are compared at equal brightness."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import slicer

from quantsr.errors import InputError
from quantsr.mapkinds import QUANT_KINDS, MapKind
from quantsr.methods import DL, method_label
from quantsr.synth import PRESETS, Contrast, contrast, synthesize
from quantsr.volume import QuantMap

from .nodes import map_from_volume_node, set_window, volume_node_from_map

SOURCES = ("fast", method_label(DL), "routine")  # protocol labels, as in the node names "T1 fast", "T1 DL", ...
CONTRAST_ATTRIBUTE = "QuantSR.SyntheticContrast"  # "FLAIR": marks a synthetic volume and names its preset
SOURCE_ATTRIBUTE = "QuantSR.SyntheticSource"  # protocol of the maps it was made from
MAPS_ATTRIBUTE = "QuantSR.SyntheticMaps"  # IDs of the T1, T2 and PD nodes it was made from
TIMING_ATTRIBUTES = {"tr_ms": "QuantSR.SyntheticTR", "te_ms": "QuantSR.SyntheticTE", "ti_ms": "QuantSR.SyntheticTI"}
GREY = "vtkMRMLColorTableNodeGrey"
#: Upper window edge: a high percentile of the non-zero voxels, so a few bright vessels or artefacts do not
#: darken the whole image (what scanner consoles do for weighted images).
WINDOW_PERCENTILE = 99.5

MapNodes = Sequence[slicer.vtkMRMLScalarVolumeNode | None]  # T1, T2, PD of one protocol


def contrast_spec(name: str, tr_ms: float | None = None, te_ms: float | None = None,
                  ti_ms: float | None = None) -> Contrast:
    """The preset ``name`` (any case) with TR / TE / TI replaced; a bad name or value is an InputError."""
    try:
        return contrast(name, tr_ms, te_ms, ti_ms)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def volume_name(spec: Contrast, source: str) -> str:
    return f"{spec.name.upper()} {source}"


def source_maps(maps: MapNodes, source: str, spec: Contrast) -> tuple[QuantMap, QuantMap, QuantMap]:
    """The T1, T2 and PD maps of one protocol, checked: all three present and of the kind their slot says."""
    missing = [kind.value for kind, node in zip(QUANT_KINDS, maps, strict=True)
               if node is None or node.GetImageData() is None]
    if missing:
        raise InputError(f"{volume_name(spec, source)} needs the {source} T1, T2 and PD maps: "
                         f"no {source} {' or '.join(missing)} volume is selected")
    loaded = []
    for expected, node in zip(QUANT_KINDS, maps, strict=True):
        qmap = map_from_volume_node(node)
        if qmap.kind not in (expected, MapKind.UNKNOWN):  # a T2 picked in the T1 slot gives nonsense images
            raise InputError(f"'{node.GetName()}' is a {qmap.kind.value} map but was selected as the {source} "
                             f"{expected.value} map")
        loaded.append(qmap)
    return loaded[0], loaded[1], loaded[2]


def find_synthetic_node(scene: slicer.vtkMRMLScene, contrast_name: str, source: str
                        ) -> slicer.vtkMRMLScalarVolumeNode | None:
    """The synthetic volume of this contrast made from ``source`` maps (by attributes: the user may rename it)."""
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode")):
        node = scene.GetNthNodeByClass(index, "vtkMRMLScalarVolumeNode")
        if (node.GetAttribute(CONTRAST_ATTRIBUTE) == contrast_name.upper()
                and node.GetAttribute(SOURCE_ATTRIBUTE) == source):
            return node
    return None


def synthetic_node(scene: slicer.vtkMRMLScene, maps: MapNodes, source: str, spec: Contrast
                   ) -> slicer.vtkMRMLScalarVolumeNode:
    """Create (or update in place) the "<CONTRAST> <source>" volume on the maps' grid; returns it."""
    t1, t2, pd = source_maps(maps, source, spec)
    try:
        image = synthesize(t1, t2, pd, spec)
    except ValueError as exc:  # maps on different grids
        raise InputError(f"{volume_name(spec, source)}: {exc}") from None
    existing = find_synthetic_node(scene, spec.name, source)
    node = volume_node_from_map(scene, image, volume_name(spec, source), source, node=existing)
    node.SetAttribute(CONTRAST_ATTRIBUTE, spec.name.upper())
    node.SetAttribute(SOURCE_ATTRIBUTE, source)
    node.SetAttribute(MAPS_ATTRIBUTE, " ".join(m.GetID() for m in maps))
    for field, attribute in TIMING_ATTRIBUTES.items():
        # shortest exact text ("400", "2409.062433252097"): the attribute reads back as the value used
        node.SetAttribute(attribute, np.format_float_positional(float(getattr(spec, field)), trim="-"))
    node.SetAndObserveTransformNodeID(maps[0].GetTransformNodeID())  # overlays its maps if they are moved
    share_window([node])
    return node


def synthesize_sources(scene: slicer.vtkMRMLScene, sources: Mapping[str, MapNodes], spec: Contrast,
                       only_existing: bool = False
                       ) -> tuple[dict[str, slicer.vtkMRMLScalarVolumeNode], dict[str, str]]:
    """Create or update the volume of every source whose three maps are set (``only_existing``: update only
    those already in the scene). Returns the volumes and, per source left out, why."""
    made: dict[str, slicer.vtkMRMLScalarVolumeNode] = {}
    skipped: dict[str, str] = {}
    for source, maps in sources.items():
        if only_existing and find_synthetic_node(scene, spec.name, source) is None:
            continue
        try:
            made[source] = synthetic_node(scene, maps, source, spec)
        except InputError as exc:
            skipped[source] = str(exc)
    return made, skipped


def synthetic_nodes(scene: slicer.vtkMRMLScene, contrast_name: str
                    ) -> dict[str, slicer.vtkMRMLScalarVolumeNode | None]:
    """Fast, DL and routine volumes of one contrast (None where there is none)."""
    return {source: find_synthetic_node(scene, contrast_name, source) for source in SOURCES}


def auto_window(images: Iterable[np.ndarray], signed: bool) -> tuple[float, float]:
    """(low, high) from the non-zero (in-head) voxels of all ``images``: 0 to the high percentile, or
    symmetric about 0 for a signed (PSIR) image so zero crossings stay mid-grey."""
    values = [np.abs(image[image != 0]) for image in images]
    values = [v for v in values if v.size]
    high = float(np.percentile(np.concatenate(values), WINDOW_PERCENTILE)) if values else 0.0
    if not np.isfinite(high) or high <= 0:
        high = 1.0
    return (-high, high) if signed else (0.0, high)


def is_signed(contrast_name: str) -> bool:
    preset = PRESETS.get(contrast_name.lower())
    return preset is not None and preset.kind == "psir"


def share_window(nodes: Iterable[slicer.vtkMRMLScalarVolumeNode | None]) -> tuple[float, float] | None:
    """One grey window over all ``nodes`` (fast, DL, routine of one contrast): differences between the
    protocols stay visible instead of being levelled away by per-volume windows."""
    nodes = [n for n in nodes if n is not None and n.GetImageData() is not None]
    if not nodes:
        return None
    signed = any(is_signed(n.GetAttribute(CONTRAST_ATTRIBUTE) or "") for n in nodes)
    low, high = auto_window((slicer.util.arrayFromVolume(n) for n in nodes), signed)
    for node in nodes:
        set_window(node, low, high, GREY)
    return low, high


def show_in_comparison_views(fast, dl, routine) -> bool:
    """The three volumes in the Fast | DL | Routine views (needs the application); False when there are none."""
    app = getattr(slicer, "app", None)
    if app is None or app.layoutManager() is None:
        return False
    from .views import show_comparison

    show_comparison(fast, dl, routine, legend=False)  # weighted images have no physical unit to legend
    return True
