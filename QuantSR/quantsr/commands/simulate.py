"""``quantsr simulate``: a paired fast/routine synthetic-MRI cohort on the digital brain phantom."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..simulate.anatomy import ANATOMIES
from ..simulate.lesions import KNOWN_LESION_KINDS, LESION_KINDS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="simulate a paired fast/routine cohort (DICOM + truth + lesion labels + manifest)",
        description="Simulate healthy subjects and patients with lesions on the MNI152 digital phantom, "
        "scanned with the fast (192×128, R=3 → 256²) and routine (320×256, R=2 → 512²) MDME protocols. "
        "Reproducible from --seed; subjects already in OUTPUT are kept (resumable).",
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="cohort folder")
    p.add_argument("--subjects", type=int, default=2, help="healthy subjects (default 2)")
    p.add_argument("--patients", type=int, default=1, help="patients with lesions (default 1)")
    p.add_argument("--seed", type=int, default=2026, help="cohort seed (default 2026)")
    p.add_argument("--noise-sd", type=float,
                   help="routine image noise SD in PD-%% signal units (default: the simulator's; fast follows "
                   "from the physics)")
    p.add_argument("--no-noise", action="store_true", help="noise-free acquisitions (for testing fits)")
    p.add_argument("--lesion-kinds", default=",".join(LESION_KINDS), metavar="KIND[,KIND...]",
                   help=f"lesion kinds drawn for patients, from {', '.join(KNOWN_LESION_KINDS)} (default: the "
                   "paper's three). 'randomised' draws T1/T2/PD independently over the pathological range: "
                   "for training sets")
    p.add_argument("--anatomy", choices=ANATOMIES, default="mni",
                   help="'mni': the MNI152 average brain (smooth folding); 'folded': per-subject synthetic "
                   "cortical folding with CSF in the sulci, like an individual brain (default mni)")
    p.add_argument("--max-lesions", type=int, default=4, metavar="N",
                   help="each patient gets 1 to N lesions (default 4)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="simulate N subjects at once in separate processes (one core each; the cohort is the "
                   "same for any N; default 1)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..simulate.cohort import simulate_cohort
    from ..simulate.subject import SimulationConfig

    if args.subjects < 0 or args.patients < 0 or args.subjects + args.patients == 0:
        print("quantsr: error: ask for at least one subject (--subjects / --patients)", file=sys.stderr)
        return 2
    if args.max_lesions < 1:
        print("quantsr: error: --max-lesions must be at least 1", file=sys.stderr)
        return 2
    if args.workers < 1:
        print("quantsr: error: --workers must be at least 1", file=sys.stderr)
        return 2
    names = [name.strip() for name in args.lesion_kinds.split(",") if name.strip()]
    unknown = [name for name in names if name not in KNOWN_LESION_KINDS]
    if unknown or not names:
        print(f"quantsr: error: unknown lesion kind(s) {', '.join(unknown) or '(none given)'}; choose from "
              f"{', '.join(KNOWN_LESION_KINDS)}", file=sys.stderr)
        return 2
    noise_sd = SimulationConfig.routine_noise_sd if args.noise_sd is None else args.noise_sd
    config = SimulationConfig(routine_noise_sd=noise_sd, noise=not args.no_noise,
                              lesion_kinds=tuple(KNOWN_LESION_KINDS[name] for name in names), anatomy=args.anatomy)
    started = time.perf_counter()
    total = args.subjects + args.patients
    with tqdm(total=total, unit="subject", desc="simulate", file=sys.stderr) as bar:

        def progress(done: int, _total: int, subject: str) -> None:
            bar.set_postfix_str(subject)
            bar.update(done - bar.n)

        manifest = simulate_cohort(args.output, args.subjects, args.patients, args.seed, config, progress,
                                   args.max_lesions, args.workers)
    print(f"simulated {total} subject(s) ({args.subjects} healthy, {args.patients} patient(s)) in "
          f"{time.perf_counter() - started:.0f} s → {manifest}")
    return 0
