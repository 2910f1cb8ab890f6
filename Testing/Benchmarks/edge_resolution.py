"""What the "cortex next to CSF" bar asks for, in acquisition resolution (issue 16, docs/generalization.md).

Simulates new folded-anatomy subjects (seeds of their own, no lesions) once with a ladder of acquisitions that
differ only in matrix — routine's 320 × 256 scaled down to the fast scan's 192 × 128 — all reconstructed on
routine's 512² grid, without noise (so only resolution differs), plus the fast protocol itself (256² recon) and
its cubic upsampling. Each is compared with the noise-free routine acquisition over the protocol's tissue
masks (pure GM, pure WM, cortex next to CSF). The table tells which acquisition matrix a DL output's cortex bias
corresponds to: the resolution a method effectively reaches at the CSF edge.

    .venv/bin/python Testing/Benchmarks/edge_resolution.py --subjects 3 > edge_resolution.md
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import numpy as np

from quantsr.baselines import upsample
from quantsr.mapkinds import QUANT_KINDS
from quantsr.protocols import FAST, ROUTINE
from quantsr.simulate.subject import SimulationConfig, simulate_subject
from quantsr_training.generalization import cortex_next_to_csf

SCALES = (1.0, 0.9, 0.8, 0.7, 0.6)  # of routine's matrix; 0.6 × 320 = 192, the fast scan's frequency matrix
TISSUES = ("GM", "WM", "cortex next to CSF")


def ladder() -> tuple:
    """Routine-like protocols of decreasing matrix (512 recon), then the fast matrix on 512 and the fast itself."""
    steps = [dataclasses.replace(ROUTINE, name=f"m{scale:g}",
                                 acquisition_matrix=(round(320 * scale), round(256 * scale)))
             for scale in SCALES]
    fast_on_512 = dataclasses.replace(ROUTINE, name="fast_matrix", acquisition_matrix=FAST.acquisition_matrix)
    return (*steps, fast_on_512, FAST)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, default=3)
    parser.add_argument("--seed", type=int, default=8101, help="first subject's seed (one per subject)")
    args = parser.parse_args()
    if args.subjects < 1:
        parser.error("--subjects must be ≥ 1")
    from bench_cli import cpu_model  # this folder's helper

    protocols = ladder()
    config = SimulationConfig(anatomy="folded", noise=False, protocols=protocols)
    names = [p.name for p in protocols[:-1]] + ["fast bicubic"]
    sums: dict[tuple[str, str, str], list[float]] = {}
    started = time.perf_counter()
    for index in range(args.subjects):
        subject = simulate_subject(f"sub-{index + 1:03d}", args.seed + index, 0, config)
        gm, csf, wm = (subject.fractions[name].array for name in ("GM", "CSF", "WM"))
        masks = dict(zip(TISSUES, (gm >= 0.9, wm >= 0.95,
                                   cortex_next_to_csf(gm, csf, subject.fractions["GM"].spacing[0])), strict=True))
        for kind in QUANT_KINDS:
            reference = subject.maps["m1"][kind].array
            arrays = {p.name: subject.maps[p.name][kind].array for p in protocols[:-1]}
            arrays["fast bicubic"] = upsample(subject.maps[FAST.name][kind], 2).array
            for tissue, mask in masks.items():
                ref = float(reference[mask].mean())
                for name in names:
                    sums.setdefault((kind.value, tissue, name), []).append(
                        100 * (float(arrays[name][mask].mean()) - ref) / ref)
        print(f"  subject {index + 1}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    print(f"{args.subjects} folded subjects (seeds {args.seed}–{args.seed + args.subjects - 1}), no noise, "
          f"no lesions; {cpu_model()}. Mean bias against the noise-free routine "
          "acquisition (320 × 256, the `m1` column), % (mean over subjects):\n")
    matrices = [f"{p.acquisition_matrix[0]}×{p.acquisition_matrix[1]}" for p in protocols[:-1]] + ["192×128 → bicubic"]
    print("| map | tissue | " + " | ".join(f"{n} ({m})" for n, m in zip(names, matrices, strict=True)) + " |")
    print("|---|---|" + "---|" * len(names))
    for kind in QUANT_KINDS:
        for tissue in TISSUES:
            values = [np.mean(sums[(kind.value, tissue, name)]) for name in names]
            print(f"| {kind.value} | {tissue} | " + " | ".join(f"{v:+.2f}" for v in values) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
