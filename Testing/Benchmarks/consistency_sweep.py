"""Choose the fast-scan consistency step's settings on the validation cohort (issue 16, docs/generalization.md):
the acceptance bars passed for each setting, side by side. Validation only — never run it on the test cohorts.

    .venv/bin/python Testing/Benchmarks/consistency_sweep.py --cohort /work/data/val_folded \\
        --cache /work/data/dl_cache --setting none --setting 1:0.01 --setting 1:gauss --setting 1:0.01:forward

A setting is ``SIGMA_MM:EPS[:forward|:acquisition]``: EPS a number (guided filter) or ``gauss`` (plain Gaussian
low-pass); ``forward`` compares with a 2×2-mean forward model of DL (cubic upsampling) instead of DL itself — a
variant tried in session 7 and not kept; ``acquisition`` compares through the fast acquisition's k-space window
(``quantsr.consistency``, ``forward="acquisition"``). ``none`` is the raw network output.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable

import numpy as np

from quantsr.baselines import upsample
from quantsr.consistency import fast_consistent, guided_lowpass, lowpass_in_plane
from quantsr.mapkinds import MapKind
from quantsr.volume import QuantMap
from quantsr_training.generalization import ImageRow, Roi, measure_subject, summarise

Postprocess = Callable[[QuantMap, QuantMap], QuantMap] | None


def forward_consistent(dl: QuantMap, fast: QuantMap, sigma_mm: float, eps: float | None) -> QuantMap:
    """The variant: DL + F_σ(B − up(down(DL))), i.e. consistency with the fast map's forward model of DL."""
    k, h, w = fast.shape
    values = dl.array.astype(np.float32)
    simulated = upsample(fast.with_array(values.reshape(k, h, 2, w, 2).mean(axis=(2, 4))), 2, "bicubic").array
    residual = upsample(fast, 2, "bicubic").array - simulated
    if eps is None:
        values += lowpass_in_plane(residual, sigma_mm, dl.spacing[:2])
    else:
        guide = np.log(np.maximum(values, 0.0) + 0.01 * dl.kind.norm_physical)
        values += guided_lowpass(guide, residual, sigma_mm, dl.spacing[:2], eps)
    return dl.with_array(np.maximum(values, 0.0))


def read_each_subject_once() -> None:
    """Every setting measures the same subject again: its files are read, and its atlas regions resampled (11 of
    26 s per measurement), once — the last few results of each reader are kept (read-only use: the measurements
    never change an input array)."""
    from quantsr_training import generalization as protocol

    for name in ("load_maps", "read_image", "cohort_regions"):
        setattr(protocol, name, functools.lru_cache(maxsize=8)(getattr(protocol, name)))


def parse_setting(text: str) -> Postprocess:
    if text == "none":
        return None
    parts = text.split(":")
    sigma = float(parts[0])
    eps = None if parts[1] == "gauss" else float(parts[1])
    if len(parts) > 2 and parts[2] == "acquisition":
        return lambda dl, fast: fast_consistent(dl, fast, sigma, eps, forward="acquisition")
    if len(parts) > 2 and parts[2] == "forward":
        return lambda dl, fast: forward_consistent(dl, fast, sigma, eps)
    return lambda dl, fast: fast_consistent(dl, fast, sigma, eps)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    from generalization import add_cohort_arguments, cohort_subjects, raw_resolver  # this folder's protocol script

    add_cohort_arguments(parser)
    parser.add_argument("--setting", action="append", required=True, help="SIGMA_MM:EPS[:forward|:acquisition] or none")
    args = parser.parse_args()
    settings = {text: parse_setting(text) for text in args.setting}
    read_each_subject_once()
    found: dict[str, tuple[list[Roi], list[ImageRow]]] = {text: ([], []) for text in settings}
    for name in args.maps:
        kind = MapKind.parse(name)
        _path, resolver = raw_resolver(args.models, kind)
        for cohort, subject in cohort_subjects(args.cohort, kind):
            for text, postprocess in settings.items():
                rois, image = measure_subject(cohort, subject, kind, resolver, args.cache, postprocess)
                found[text][0].extend(rois)
                found[text][1].append(image)
            print(f"  {cohort.name}/{subject} {name}", file=sys.stderr)
    criteria = {text: summarise(*found[text])["criteria"] for text in settings}
    print("| criterion | " + " | ".join(f"`{text}`" for text in settings) + " |")
    print("|---|" + "---|" * len(settings))
    first = criteria[args.setting[0]]
    for index, row in enumerate(first):
        cells = [("" if c[index]["passed"] else "**✗** ") + c[index]["value"] for c in criteria.values()]
        print(f"| {row['criterion']} | " + " | ".join(cells) + " |")
    totals = [f"{sum(c['passed'] for c in rows)} / {len(rows)}" for rows in criteria.values()]
    print("| **bars met** | " + " | ".join(totals) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
