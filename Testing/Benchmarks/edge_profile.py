"""Edge profile at the CSF boundary (issue 16, docs/generalization.md): each method's mean map value against the
signed in-plane distance from the nearest CSF voxel — inside CSF (negative) and in the pure grey matter beside it
(positive) — pooled over a cohort's subjects. It shows how far DL, bicubic and the fast scan spread CSF into the
cortex compared with routine and the truth, which the protocol's "cortex next to CSF" bias sums up in one number.

    .venv/bin/python Testing/Benchmarks/edge_profile.py --cohort /work/data/val_folded \\
        --cache /work/data/dl_cache --fast-consistency 1 > edge.md

Works on training cohorts too: a bias that is there on the subjects the model was fitted on is under-fitting,
not a failure to generalise.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from quantsr.consistency import DEFAULT_EPS, fast_consistent
from quantsr.io.images import read_image
from quantsr.mapkinds import MapKind
from quantsr_training.edgeprofile import EdgeProfile, signed_distance
from quantsr_training.generalization import load_subject

METHODS = ("truth", "routine", "bicubic", "fast", "DL")


def main() -> int:
    from generalization import add_cohort_arguments, cohort_subjects, raw_resolver  # this folder's protocol script

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_cohort_arguments(parser)
    parser.add_argument("--fast-consistency", type=float, default=0.0, metavar="MM",
                        help="apply the fast-scan consistency step with this σ (mm) to DL; 0: raw network output")
    parser.add_argument("--anatomy", default="folded", help="subjects of this anatomy only ('' for all)")
    parser.add_argument("--bin-mm", type=float, default=0.5, help="distance bin width (mm)")
    parser.add_argument("--reach-mm", type=float, default=3.0, help="profile from −reach to +reach mm")
    args = parser.parse_args()
    sigma = args.fast_consistency
    postprocess = (lambda dl, fast: fast_consistent(dl, fast, sigma, DEFAULT_EPS)) if sigma > 0 else None
    edges = np.arange(-args.reach_mm, args.reach_mm + 1e-6, args.bin_mm)
    geometry = SubjectGeometry()
    print(f"Cohorts: {', '.join(str(c) for c in args.cohort)}; anatomy: {args.anatomy or 'all'}; DL: "
          + (f"fast-scan consistency σ = {sigma:g} mm" if sigma > 0 else "raw network output"))
    for name in args.maps:
        kind = MapKind.parse(name)
        _path, resolver = raw_resolver(args.models, kind)
        profile, subjects = EdgeProfile(edges), 0
        for cohort, subject in cohort_subjects(args.cohort, kind):
            started = time.perf_counter()
            maps = load_subject(cohort, subject, kind, resolver, args.cache, postprocess)
            if args.anatomy and maps.anatomy != args.anatomy:
                continue
            distance, include = geometry.get(maps.routine.spacing[0], cohort / subject, maps.labels)
            profile.add(distance, include, {**maps.outputs, "truth": maps.truth})
            subjects += 1
            print(f"  {cohort.name}/{subject} {kind.value}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
        print(markdown(kind, profile, subjects, resolver.info.weights_sha256[:12]))
    return 0


class SubjectGeometry:
    """Each subject's distance-from-CSF map and included voxels, computed once and shared by its three maps."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[np.ndarray, np.ndarray]] = {}

    def get(self, spacing_mm: float, folder: Path, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if folder not in self._cache:
            gm, csf = (read_image(folder / "truth" / f"{tissue}.nrrd").array for tissue in ("GM", "CSF"))
            include = ((gm >= 0.9) | (csf >= 0.5)) & (labels == 0)
            self._cache[folder] = (signed_distance(csf >= 0.5, spacing_mm), include)
        return self._cache[folder]


def markdown(kind: MapKind, profile: EdgeProfile, subjects: int, model: str) -> str:
    lines = [f"\n### {kind.value} ({kind.unit}), {subjects} subjects, model `{model}`\n",
             "| distance from CSF (mm) | voxels | " + " | ".join(METHODS) + " |", "|---|---|" + "---|" * len(METHODS)]
    means = {m: profile.means(m) for m in METHODS}
    for b in np.flatnonzero(profile.counts):
        low, high = profile.edges_mm[b], profile.edges_mm[b + 1]
        lines.append(f"| {low:+.1f} … {high:+.1f} | {profile.counts[b]} | "
                     + " | ".join(f"{means[m][b]:.1f}" for m in METHODS) + " |")
    first = [f"{m} {profile.excess_pct(m, 'routine', 0.0, 1.0):+.2f} %" for m in ("truth", "bicubic", "fast", "DL")]
    second = [f"{m} {profile.excess_pct(m, 'routine', 1.0, 2.0):+.2f} %" for m in ("truth", "bicubic", "fast", "DL")]
    inside = [f"{m} {profile.excess_pct(m, 'routine', -3.0, -1.0):+.2f} %" for m in ("truth", "bicubic", "fast", "DL")]
    lines += ["", f"Against routine — grey matter 0–1 mm from CSF: {', '.join(first)}; 1–2 mm: {', '.join(second)};",
              f"CSF 1–3 mm inside: {', '.join(inside)}."]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
