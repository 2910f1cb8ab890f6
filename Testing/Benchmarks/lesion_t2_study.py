"""Lesion-faithful T2 (issue 9, part 2): lesion ROI means of fast (bicubic), DL, DL + data-consistency
projection, routine and truth on simulated patients, with the regression slope against routine and the
mean lesion error, held-out and training patients reported separately. Prints Markdown.

    .venv/bin/python Testing/Benchmarks/lesion_t2_study.py --cohort /work/cohort40 --maps T2 T1 PD \\
        --novel 3 --new-patients 4

``--novel N`` also simulates N new patients (seeded, cached) whose lesions are of kinds absent from the
training cohort (oedema, cyst), held out by construction; ``--new-patients N`` simulates N more held-out
patients with the training cohort's lesion kinds (more lesions than the split's two held-out patients).
DL outputs are cached per model (``--cache``) so a re-run only re-measures.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage, stats

from quantsr.baselines import upsample
from quantsr.engine import SuperResolver
from quantsr.io.images import read_image, write_image
from quantsr.io.loader import load_maps
from quantsr.mapkinds import MapKind
from quantsr.quality import image_scores
from quantsr.simulate.cohort import simulate_cohort
from quantsr.simulate.lesions import LesionKind
from quantsr.simulate.subject import SimulationConfig
from quantsr.stats import regression
from quantsr.trust import deviation, project_data_consistency, roi_consistency
from quantsr.volume import QuantMap

ROOT = Path(__file__).resolve().parents[2]
HELD_OUT = ("sub-034", "sub-035")  # held-out patients of the bundled models (Resources/Models/README.md)
TRAINING = ("sub-031", "sub-032", "sub-033", "sub-036", "sub-037", "sub-038", "sub-039", "sub-040")
GROUPS = ("held-out", "novel", "training")
#: Lesion kinds the bundled models never saw (training lesions: WMH, infarct, encephalomalacia):
#: vasogenic oedema between WMH and encephalomalacia in T2, and cysts far above the training range.
NOVEL_KINDS = (
    LesionKind("oedema", (1300.0, 2000.0), (180.0, 260.0), (84.0, 95.0), (6.0, 11.0)),
    LesionKind("cyst", (3000.0, 3800.0), (500.0, 900.0), (100.0, 106.0), (5.0, 9.0), min_wm_fraction=0.8),
)
NOVEL_SEED = 9090
NEW_PATIENTS_SEED = 9191
METHODS = ("bicubic", "DL", "DL+DC", "DL+DC½")  # DC½: half-size window (window_fraction 0.5)


@dataclass
class LesionRow:
    subject: str
    label: int
    kind: str
    group: str  # "held-out", "novel" (held-out, lesion kinds absent from training) or "training"
    voxels: int
    means: dict[str, float] = field(default_factory=dict)  # method → mean; plus "routine", "truth"
    consistency: dict[str, float] = field(default_factory=dict)  # method → mean |deviation| %


def lesion_masks(labels: QuantMap, erosion: int) -> dict[int, np.ndarray]:
    """Each lesion label (already ≥ 0.5 lesion fraction) eroded in-plane by ``erosion`` routine pixels, so
    the partial-volume rim the fast scan blurs does not dominate the mean."""
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = ndimage.generate_binary_structure(2, 1)
    values = np.rint(labels.array).astype(int)
    masks = {}
    for value in sorted(int(v) for v in np.unique(values) if v > 0):
        mask = values == value
        eroded = ndimage.binary_erosion(mask, structure, iterations=erosion) if erosion else mask
        masks[value] = eroded if eroded.sum() >= 20 else mask  # keep tiny lesions measurable
    return masks


def lesion_kinds(subject_dir: Path) -> dict[int, str]:
    with open(subject_dir / "lesions.csv", newline="") as handle:
        return {int(row["label"]): row["kind"] for row in csv.DictReader(handle)}


def dl_map(resolver: SuperResolver, fast: QuantMap, cache: Path) -> QuantMap:
    if cache.exists():
        return read_image(cache, kind=fast.kind)
    started = time.perf_counter()
    result = resolver.run(fast)
    print(f"  SR {cache.stem}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    cache.parent.mkdir(parents=True, exist_ok=True)
    write_image(result, cache)
    return result


def study_subject(cohort: Path, subject: str, kind: MapKind, resolver: SuperResolver, cache: Path,
                  erosion: int, scores: list[dict], group: str, label: str) -> list[LesionRow]:
    folder = cohort / subject
    (fast,) = load_maps(folder / "dicom" / "fast" / kind.value, kind=kind)
    (routine,) = load_maps(folder / "dicom" / "routine" / kind.value, kind=kind)
    truth = read_image(folder / "truth" / f"{kind.value}.nrrd", kind=kind)
    labels = read_image(folder / "truth" / "labels.nrrd")
    model_key = (resolver.info.weights_sha256 or "untrained")[:12]  # one cache entry per model
    dl = dl_map(resolver, fast, cache / f"{cohort.name}_{subject}_{kind.value}_DL_{model_key}.nrrd")
    outputs = {"bicubic": upsample(fast, 2, "bicubic"), "DL": dl, "DL+DC": project_data_consistency(dl, fast),
               "DL+DC½": project_data_consistency(dl, fast, window_fraction=0.5)}
    for name, qmap in outputs.items():
        if not qmap.same_geometry(routine):
            raise ValueError(f"{subject} {name}: grid differs from routine")
    trusts = {name: deviation(qmap, fast) for name, qmap in outputs.items()}
    for name, qmap in outputs.items():
        entry = image_scores(qmap.array, routine.array, kind.norm_physical).__dict__
        scores.append(dict(subject=subject, map=kind.value, method=name, group=group,
                           median_dev=trusts[name].head_percentiles()[0], **entry))
    kinds = lesion_kinds(folder)
    rows = []
    for value, mask in lesion_masks(labels, erosion).items():
        row = LesionRow(label, value, kinds.get(value, "?"), group, int(mask.sum()))
        row.means = {name: float(q.array[mask].mean()) for name, q in outputs.items()}
        row.means["routine"] = float(routine.array[mask].mean())
        row.means["truth"] = float(truth.array[mask].mean())
        row.consistency = {name: roi_consistency(t, mask) for name, t in trusts.items()}
        rows.append(row)
    return rows


def summary(rows: list[LesionRow], reference: str) -> list[tuple[str, str, int, float, float, float, float, float,
                                                                  int, float]]:
    """Per method: n, slope / intercept / r² against ``reference``, mean and SD of the % error, # negative and
    the two-sided sign-test p value (is the error's sign systematic?)."""
    out = []
    ref = np.array([r.means[reference] for r in rows])
    for method in (*METHODS, "routine"):
        if method == reference:
            continue
        values = np.array([r.means[method] for r in rows])
        error = 100 * (values - ref) / ref
        fit = regression(values, ref) if len(rows) >= 3 else None
        out.append((method, reference, len(rows), fit.slope if fit else float("nan"),
                    fit.intercept if fit else float("nan"), fit.r2 if fit else float("nan"), float(error.mean()),
                    float(error.std(ddof=1)) if len(rows) > 1 else float("nan"), int((error < 0).sum()),
                    float(stats.binomtest(int((error < 0).sum()), len(rows)).pvalue)))
    return out


def markdown(kind: MapKind, rows: list[LesionRow], scores: list[dict]) -> str:
    unit = kind.unit
    lines = [f"### {kind.value} ({unit})", "",
             "| subject | lesion | kind | set | voxels | truth | routine | bicubic | DL | DL+DC | DL+DC½ | "
             "DL err vs routine (%) | DL+DC err vs routine (%) | DL consistency (%) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m = r.means
        lines.append(
            f"| {r.subject} | {r.label} | {r.kind} | {r.group} | {r.voxels} | "
            f"{m['truth']:.1f} | {m['routine']:.1f} | {m['bicubic']:.1f} | {m['DL']:.1f} | {m['DL+DC']:.1f} | "
            f"{m['DL+DC½']:.1f} | "
            f"{100 * (m['DL'] / m['routine'] - 1):+.2f} | {100 * (m['DL+DC'] / m['routine'] - 1):+.2f} | "
            f"{r.consistency['DL']:+.2f} |")
    lines += ["", "| patients | method | vs | n lesions | slope | intercept | r² | mean error (%) | SD (%) | "
              "# negative | sign test p |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    held = [r for r in rows if r.group != "training"]
    for label, subset in (*((g, [r for r in rows if r.group == g]) for g in GROUPS),
                          ("held-out + novel", held), ("all", rows)):
        if not subset:
            continue
        for reference in ("routine", "truth"):
            for method, ref, n, slope, intercept, r2, mean, sd, negative, p_sign in summary(subset, reference):
                lines.append(f"| {label} | {method} | {ref} | {n} | {slope:.3f} | {intercept:.1f} | {r2:.3f} | "
                             f"{mean:+.2f} | {sd:.2f} | {negative} | {p_sign:.2f} |")
    lines += ["", "| patients | method | n maps | PSNR (dB) | SSIM | PSNR head (dB) | SSIM head | "
              "median |deviation| in head (%) |", "|---|---|---|---|---|---|---|---|"]
    for label in GROUPS:
        for method in METHODS:
            chosen = [s for s in scores if s["group"] == label and s["method"] == method and s["map"] == kind.value]
            if chosen:
                avg = {k: float(np.mean([s[k] for s in chosen])) for k in
                       ("psnr", "ssim", "psnr_head", "ssim_head", "median_dev")}
                lines.append(f"| {label} | {method} | {len(chosen)} | {avg['psnr']:.2f} | {avg['ssim']:.4f} | "
                             f"{avg['psnr_head']:.2f} | {avg['ssim_head']:.4f} | {avg['median_dev']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", type=Path, default=Path("/work/cohort40"))
    parser.add_argument("--models", type=Path, default=ROOT / "Resources" / "Models")
    parser.add_argument("--maps", nargs="+", default=["T2"], choices=["T1", "T2", "PD"])
    parser.add_argument("--subjects", nargs="+", default=[*HELD_OUT, *TRAINING])
    parser.add_argument("--erosion", type=int, default=2, help="in-plane erosion of each lesion (routine pixels)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/quantsr_lesion_cache"))
    parser.add_argument("--novel", type=int, default=0, help="simulate N patients with unseen lesion kinds")
    parser.add_argument("--new-patients", type=int, default=0,
                        help="simulate N more held-out patients with the training lesion kinds")
    args = parser.parse_args(argv)
    plan = [(args.cohort, s, "held-out" if s in HELD_OUT else "training", s) for s in args.subjects]
    if args.new_patients:
        new = args.cache / "new_patients_cohort"
        print(f"simulating {args.new_patients} new held-out patients in {new}", file=sys.stderr)
        simulate_cohort(new, 0, args.new_patients, NEW_PATIENTS_SEED, SimulationConfig())
        plan += [(new, f"sub-{i + 1:03d}", "held-out", f"new-{i + 1:03d}") for i in range(args.new_patients)]
    if args.novel:
        novel = args.cache / "novel_cohort"
        print(f"simulating {args.novel} novel-lesion patients in {novel}", file=sys.stderr)
        simulate_cohort(novel, 0, args.novel, NOVEL_SEED, SimulationConfig(lesion_kinds=NOVEL_KINDS))
        plan += [(novel, f"sub-{i + 1:03d}", "novel", f"novel-{i + 1:03d}") for i in range(args.novel)]
    print(f"Lesion ROIs: label ≥ 0.5 lesion fraction, eroded in-plane by {args.erosion} routine pixels; "
          f"held-out patients: {', '.join(s for s in args.subjects if s in HELD_OUT)} + {args.new_patients} new; "
          f"novel: {args.novel}; models: {args.models}.\n")
    for name in args.maps:
        kind = MapKind.parse(name)
        resolver = SuperResolver.from_file(args.models / f"quantsr_{name.lower()}.safetensors")
        rows: list[LesionRow] = []
        scores: list[dict] = []
        for cohort, subject, group, label in plan:
            print(f"{name} {cohort.name}/{subject}", file=sys.stderr)
            rows += study_subject(cohort, subject, kind, resolver, args.cache, args.erosion, scores, group, label)
        print(markdown(kind, rows, scores))
    return 0


if __name__ == "__main__":
    sys.exit(main())
