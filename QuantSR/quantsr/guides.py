"""Guide maps: a model may read, besides the map it super-resolves, the same study's other fast maps (a T1 model
its T2 and PD, issue 16) as extra input channels. They come from one acquisition, so normally share the map's
grid; a guide on another grid is resampled onto it in physical space (SimpleITK, linear). Training
(``quantsr_training.pairs`` / ``dataset``) and inference (``quantsr.engine``) build the channels here, the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from .errors import ModelError
from .mapkinds import MapKind
from .normalisation import to_network_range
from .roi import values_on_grid
from .volume import QuantMap

#: A guide must cover at least this share of the map's head voxels (else it is another slab or another study).
MIN_GUIDE_COVERAGE = 0.9


def guides_needed(kinds: Iterable[MapKind], model_paths: Mapping[MapKind, Path] | None = None) -> set[MapKind]:
    """The guide maps that the models for ``kinds`` (``model_paths``, else the bundled ones) read beyond ``kinds``
    themselves: what a caller must load besides the maps it super-resolves (metadata only, no weights)."""
    from .modelfile import find_bundled_model, read_model_info

    kinds = set(kinds)
    needed: set[MapKind] = set()
    for kind in kinds:
        path = (model_paths or {}).get(kind) or find_bundled_model(kind)
        if path is not None:
            needed |= set(read_model_info(path).guide_kinds)
    return needed - kinds


def on_grid_of(reference: QuantMap, guide: QuantMap) -> QuantMap:
    """``guide`` on ``reference``'s voxel grid (the map itself when the grids agree); ModelError when it does not
    cover the reference's head (another slab, another study)."""
    if guide.same_geometry(reference):
        return guide
    values = values_on_grid(guide, reference)
    head = reference.array > 0
    covered = float(np.mean(values[head] > 0)) if head.any() else 1.0
    if covered < MIN_GUIDE_COVERAGE:
        raise ModelError(
            f"the {guide.kind.value} guide map covers only {covered:.0%} of the {reference.kind.value} map's head: "
            "give the fast maps of the same study", guide.metadata.get("source_path"))
    return reference.with_array(values, kind=guide.kind, metadata=dict(guide.metadata))


def network_input(source: QuantMap, norm: float, guides: Sequence[MapKind] = (),
                  available: Mapping[MapKind, QuantMap] | None = None) -> np.ndarray:
    """The generator's input (slices, 1 + guides, rows, cols), float32 in [−1, 1]: channel 0 ``source`` normalised by
    ``norm``, then each guide kind's map from ``available`` on ``source``'s grid, normalised by its kind's constant.
    ModelError naming the maps when a guide is missing."""
    available = available or {}
    missing = [kind.value for kind in guides if kind not in available]
    if missing:
        needed = ", ".join(kind.value for kind in guides)
        raise ModelError(
            f"this {source.kind.value} model also reads the study's fast {needed} maps; {' and '.join(missing)} "
            "not given: load the study's other maps too, or use a single-map model")
    channels = [to_network_range(source.array, norm)]
    channels += [to_network_range(on_grid_of(source, available[kind]).array, kind.norm_physical) for kind in guides]
    if len(channels) == 1:
        return channels[0][:, np.newaxis]  # a view: a single-map model's input is not copied once more
    return np.stack(channels, axis=1)
