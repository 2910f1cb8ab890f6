"""Four-flip self-ensemble (test-time augmentation) of the bundled models' raw output, written as a DL cache that
``generalization.py`` reads (issue 16; session 9 in docs/generalization.md). Each cached map is the mean of the network
over the fast map and its flips along rows, columns and both, flipped back; transposes are left out because the fast
scan's 192×128 blur differs between the two in-plane axes.

    .venv/bin/python Testing/Benchmarks/self_ensemble.py --cohort /work/data/val_folded --cache /tmp/tta_cache
    .venv/bin/python Testing/Benchmarks/generalization.py --cohort /work/data/val_folded --cache /tmp/tta_cache \\
        --fast-consistency 1 > val_tta.md

The files carry the model's own cache key, so use a cache folder of their own.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import numpy as np

from quantsr.engine import SuperResolver
from quantsr.io.images import write_image
from quantsr.io.loader import load_maps
from quantsr.mapkinds import MapKind
from quantsr.volume import QuantMap
from quantsr_training.generalization import fast_guides

FLIPS: tuple[tuple[int, ...], ...] = ((), (1,), (2,), (1, 2))  # axes of (slices, rows, columns)


def self_ensemble(resolver: SuperResolver, fast: QuantMap, guides: dict[MapKind, QuantMap] | None = None) -> QuantMap:
    """Mean of the raw network output over :data:`FLIPS` of the input (and of its guide maps), each flipped back."""
    total: np.ndarray | None = None
    first: QuantMap | None = None

    def flip(qmap: QuantMap, axes: tuple[int, ...]) -> QuantMap:
        return dataclasses.replace(qmap, array=np.ascontiguousarray(np.flip(qmap.array, axes)))

    for axes in FLIPS:
        result = resolver.run(flip(fast, axes), guides={k: flip(g, axes) for k, g in (guides or {}).items()})
        values = np.flip(result.array, axes).astype(np.float64)
        total = values if total is None else total + values
        first = first or result
    assert total is not None and first is not None
    return dataclasses.replace(first, array=(total / len(FLIPS)).astype(np.float32))


def main() -> int:
    from generalization import add_cohort_arguments, cohort_subjects, raw_resolver  # this folder's protocol script

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_cohort_arguments(parser)
    args = parser.parse_args()
    if args.cache is None:
        parser.error("--cache is required: the folder for the ensembled raw outputs")
    args.cache.mkdir(parents=True, exist_ok=True)
    for name in args.maps:
        kind = MapKind.parse(name)
        _model, resolver = raw_resolver(args.models, kind)
        for cohort, subject in cohort_subjects(args.cohort, kind):
            key = f"{cohort.name}_{subject}_{kind.value}_{resolver.info.weights_sha256[:12]}"
            path = args.cache / f"{key}.nrrd"  # generalization.cached_dl's file name
            if path.exists():
                continue
            started = time.perf_counter()
            (fast,) = load_maps(cohort / subject / "dicom" / "fast" / kind.value, kind=kind)
            write_image(self_ensemble(resolver, fast, fast_guides(cohort / subject, resolver)), path)
            print(f"  {key}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
