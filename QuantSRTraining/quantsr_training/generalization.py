"""The generalization protocol's measurements (issue 16, docs/generalization.md): how DL, bicubic, the fast
scan and the routine scan compare with the phantom truth and with each other on simulated subjects whose
anatomy and lesions the models never saw.

Per subject and map it measures, on the routine grid:
- tissue means: pure GM, pure WM and *cortex next to CSF* (pure GM within 1 mm in-plane of CSF), lesions
  excluded; the paper's 10 GM regions (AAL2 warped with the subject's pose);
- brain image quality: PSNR / SSIM against routine inside the brain (L = the map's normalisation constant,
  SSIM in the paper's convention: Gaussian σ 1.5, no sample-covariance correction), RMSE against the truth;
- every lesion (whole outline: voxels ≥ 50 % lesion), with its kind, place and size class, and the trust
  map's consistency of DL with the fast scan over it.

"fast" is the fast map itself on the routine grid (nearest neighbour: the values a reader's ROI on the fast
scan returns); "bicubic" is the fast map's cubic-spline upsampling, the non-DL baseline.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage, stats
from skimage.metrics import structural_similarity

from quantsr.baselines import upsample
from quantsr.engine import SuperResolver
from quantsr.io.images import read_image, write_image
from quantsr.io.loader import load_maps
from quantsr.mapkinds import MapKind
from quantsr.regions import PAPER_REGIONS
from quantsr.reliability import DEFAULT_MIN_SAMPLES, DEFAULT_PRECISION_PCT, RoiReliability, roi_reliability
from quantsr.roi import values_on_grid
from quantsr.simulate.atlas import cohort_regions
from quantsr.stats import regression
from quantsr.trust import DEFAULT_THRESHOLD_PCT, deviation
from quantsr.volume import QuantMap

METHODS = ("DL", "bicubic", "fast", "routine")
TISSUES = ("GM", "WM", "cortex_csf")
#: Lesion size classes by mean design radius (mm): the smallest is near the routine scan's 5 mm slices.
SIZE_CLASSES = ((0.0, 3.5, "r ≤ 3.5 mm"), (3.5, 6.0, "3.5–6 mm"), (6.0, 10.0, "6–10 mm"), (10.0, 99.0, "> 10 mm"))
CORTEX_CSF_MM = 1.0


@dataclass
class Roi:
    """One measured region of one subject and map: its mean under each method, the routine scan and truth."""

    subject: str
    map: str
    family: str  # "tissue", "region" or "lesion"
    name: str  # GM / WM / cortex_csf, a region name, or the lesion's kind
    voxels: int
    means: dict[str, float]  # METHODS + "truth"
    anatomy: str = ""
    size_class: str = ""
    location: str = ""
    consistency: float = float("nan")  # trust map: signed mean % deviation of DL from the fast scan
    precision: float = float("nan")  # the fast scan's standard error of the ROI mean, % (quantsr.reliability)
    samples: float = float("nan")  # independent fast-scan samples in the ROI (quantsr.reliability)

    def error_pct(self, method: str, reference: str) -> float:
        return 100.0 * (self.means[method] - self.means[reference]) / self.means[reference]


@dataclass
class ImageRow:
    subject: str
    map: str
    anatomy: str
    psnr_brain: dict[str, float] = field(default_factory=dict)  # DL / bicubic vs routine
    ssim_brain: dict[str, float] = field(default_factory=dict)
    rmse_truth: dict[str, float] = field(default_factory=dict)  # all METHODS vs truth


def size_class(radii_mm: str) -> str:
    radius = float(np.mean([float(v) for v in radii_mm.split()]))
    return next(name for low, high, name in SIZE_CLASSES if low <= radius < high)


def cortex_next_to_csf(gm: np.ndarray, csf: np.ndarray, spacing_xy: float) -> np.ndarray:
    """Pure-GM voxels within :data:`CORTEX_CSF_MM` in-plane of a voxel that is mostly CSF (sulci, surface)."""
    mask = np.zeros(gm.shape, bool)
    for k in range(gm.shape[0]):
        csf_k = csf[k] >= 0.5
        if csf_k.any():
            mask[k] = ndimage.distance_transform_edt(~csf_k, sampling=spacing_xy) <= CORTEX_CSF_MM
    return mask & (gm >= 0.9)


def masked_psnr_ssim(test: np.ndarray, reference: np.ndarray, mask: np.ndarray,
                     data_range: float) -> tuple[float, float]:
    """PSNR and mean SSIM over ``mask`` (SSIM per slice in the paper's MATLAB convention)."""
    mse = float(np.mean((test[mask] - reference[mask]) ** 2))
    psnr = 10 * math.log10(data_range**2 / mse) if mse > 0 else float("inf")
    values, weights = [], []
    for k in range(reference.shape[0]):
        if mask[k].any():
            _, full = structural_similarity(reference[k], test[k], data_range=data_range, full=True,
                                            gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
            values.append(float(full[mask[k]].mean()))
            weights.append(int(mask[k].sum()))
    return psnr, float(np.average(values, weights=weights))


def fast_guides(folder: Path, resolver: SuperResolver) -> dict[MapKind, QuantMap]:
    """The subject's fast maps that ``resolver``'s model reads as guides (none for a single-map model)."""
    return {kind: load_maps(folder / "dicom" / "fast" / kind.value, kind=kind)[0]
            for kind in resolver.info.guide_kinds}


def cached_dl(resolver: SuperResolver, fast: QuantMap, cache: Path | None, key: str,
              guides: dict[MapKind, QuantMap] | None = None) -> QuantMap:
    """DL output of ``fast`` (with the study's ``guides``), read from / written to ``cache`` (one file per model,
    subject and map)."""
    if cache is None:
        return resolver.run(fast, guides=guides)
    path = cache / f"{key}_{(resolver.info.weights_sha256 or 'untrained')[:12]}.nrrd"
    if path.exists():
        return read_image(path, kind=fast.kind)
    result = resolver.run(fast, guides=guides)
    cache.mkdir(parents=True, exist_ok=True)
    write_image(result, path)
    return result


@dataclass
class SubjectMaps:
    """One subject's map of one kind under every method, on the routine grid, with its truth and lesion labels."""

    subject: str
    kind: MapKind
    fast: QuantMap  # on its own grid
    routine: QuantMap
    dl: QuantMap
    outputs: dict[str, np.ndarray]  # METHODS on the routine grid
    truth: np.ndarray
    labels: np.ndarray  # 0 healthy, else the lesion's label value
    anatomy: str


def load_subject(cohort: Path, subject: str, kind: MapKind, resolver: SuperResolver, cache: Path | None = None,
                 postprocess: Callable[[QuantMap, QuantMap], QuantMap] | None = None) -> SubjectMaps:
    """Read one subject's fast / routine / truth maps and run (or read from ``cache``) DL; ``postprocess(dl,
    fast)``, when given, is applied to the (cached, raw) network output — e.g. the fast-scan consistency step."""
    folder = cohort / subject
    (fast,) = load_maps(folder / "dicom" / "fast" / kind.value, kind=kind)
    (routine,) = load_maps(folder / "dicom" / "routine" / kind.value, kind=kind)
    truth = read_image(folder / "truth" / f"{kind.value}.nrrd", kind=kind).array
    labels = np.rint(read_image(folder / "truth" / "labels.nrrd").array).astype(int)
    dl = cached_dl(resolver, fast, cache, f"{cohort.name}_{subject}_{kind.value}", fast_guides(folder, resolver))
    if postprocess is not None:
        dl = postprocess(dl, fast)
    if not dl.same_geometry(routine):
        raise ValueError(f"{subject}: the DL grid is not the routine grid")
    outputs = {"DL": dl.array, "bicubic": upsample(fast, 2, "bicubic").array,
               "fast": values_on_grid(fast, routine, sitk.sitkNearestNeighbor), "routine": routine.array}
    return SubjectMaps(subject, kind, fast, routine, dl, outputs, truth, labels, _anatomy(folder))


def lesion_rois(cohort: Path, maps: SubjectMaps) -> list[Roi]:
    """Every lesion of the subject (whole outline) with its kind, size class, place and trust-flag measures."""
    trust = deviation(maps.dl, maps.fast)
    lesions = _lesion_table(cohort / maps.subject)
    rois = []
    for value in sorted(int(v) for v in np.unique(maps.labels) if v > 0):
        mask = maps.labels == value
        info = lesions.get(value, {})
        roi = _roi(maps.subject, maps.kind, "lesion", info.get("kind", "?"), mask, maps.outputs, maps.truth,
                   maps.anatomy)
        roi.size_class = size_class(info["radii_mm"]) if "radii_mm" in info else ""
        roi.location = info.get("location", "deep") or "deep"
        reliability = roi_reliability(trust, mask, maps.dl.array)
        roi.consistency, roi.precision = reliability.consistency_pct, reliability.precision_pct
        roi.samples = reliability.samples
        rois.append(roi)
    return rois


def measure_subject(cohort: Path, subject: str, kind: MapKind, resolver: SuperResolver,
                    cache: Path | None = None,
                    postprocess: Callable[[QuantMap, QuantMap], QuantMap] | None = None) -> tuple[list[Roi], ImageRow]:
    """Every ROI of one subject and map, for DL / bicubic / fast / routine / truth (``postprocess`` as in
    :func:`load_subject`)."""
    maps = load_subject(cohort, subject, kind, resolver, cache, postprocess)
    folder = cohort / subject
    gm, wm, csf = (read_image(folder / "truth" / f"{name}.nrrd").array for name in ("GM", "WM", "CSF"))
    healthy = maps.labels == 0
    masks = {"GM": (gm >= 0.9) & healthy, "WM": (wm >= 0.95) & healthy,
             "cortex_csf": cortex_next_to_csf(gm, csf, maps.routine.spacing[0]) & healthy}
    rois = [_roi(subject, kind, "tissue", name, mask, maps.outputs, maps.truth, maps.anatomy)
            for name, mask in masks.items()]
    regions = np.rint(cohort_regions(cohort, subject).array).astype(int)
    for value, name in PAPER_REGIONS.items():  # label value → region name
        mask = (regions == value) & (gm >= 0.5) & healthy
        if mask.sum() >= 50:
            rois.append(_roi(subject, kind, "region", name, mask, maps.outputs, maps.truth, maps.anatomy))
    rois += lesion_rois(cohort, maps)
    brain = (gm + wm) > 0.5
    image = ImageRow(subject, kind.value, maps.anatomy)
    for name in ("DL", "bicubic"):
        image.psnr_brain[name], image.ssim_brain[name] = masked_psnr_ssim(maps.outputs[name], maps.routine.array,
                                                                          brain, kind.norm_physical)
    for name, array in maps.outputs.items():
        image.rmse_truth[name] = float(np.sqrt(np.mean((array[brain] - maps.truth[brain]) ** 2)))
    return rois, image


def _roi(subject: str, kind: MapKind, family: str, name: str, mask: np.ndarray, outputs: dict[str, np.ndarray],
         truth: np.ndarray, anatomy: str) -> Roi:
    means = {method: float(array[mask].mean()) for method, array in outputs.items()}
    means["truth"] = float(truth[mask].mean())
    return Roi(subject, kind.value, family, name, int(mask.sum()), means, anatomy)


def _anatomy(folder: Path) -> str:
    info = folder / "subject.json"
    value = json.loads(info.read_text()).get("anatomy", "mni") if info.is_file() else "mni"
    return "folded" if isinstance(value, dict) else str(value)


def _lesion_table(folder: Path) -> dict[int, dict[str, str]]:
    path = folder / "lesions.csv"
    if not path.is_file():
        return {}
    with open(path, newline="") as handle:
        return {int(row["label"]): row for row in csv.DictReader(handle)}


# -- summaries -----------------------------------------------------------------------------------------


def sign_test_p(errors: list[float]) -> float:
    """Two-sided sign test: is the error's sign systematic? (1.0 for fewer than one non-zero error)."""
    nonzero = [e for e in errors if e != 0]
    if not nonzero:
        return 1.0
    return float(stats.binomtest(sum(e < 0 for e in nonzero), len(nonzero), 0.5).pvalue)


def tissue_summary(rois: list[Roi]) -> list[dict]:
    """Per map, anatomy and tissue: mean bias vs routine and vs truth of each method (%)."""
    rows = []
    for (kind, anatomy, name), group in _groups(rois, "tissue", lambda r: (r.map, r.anatomy, r.name)).items():
        row = {"map": kind, "anatomy": anatomy, "tissue": name, "n": len(group)}
        for method in ("DL", "bicubic", "fast"):
            row[f"{method}_vs_routine"] = float(np.mean([r.error_pct(method, "routine") for r in group]))
        for method in METHODS:
            row[f"{method}_vs_truth"] = float(np.mean([r.error_pct(method, "truth") for r in group]))
        rows.append(row)
    return rows


def lesion_summary(rois: list[Roi], by: str) -> list[dict]:
    """Per map and lesion kind (``by="name"``) or size class (``by="size_class"``): mean error vs routine and
    truth, worst |DL − routine|, sign test, and the share of lesions where DL is no worse than bicubic against
    the truth by more than 1 percentage point."""
    rows = []
    for (kind, key), group in _groups(rois, "lesion", lambda r: (r.map, getattr(r, by))).items():
        dl_routine = [r.error_pct("DL", "routine") for r in group]
        row = {"map": kind, by: key, "n": len(group)}
        for method in ("DL", "bicubic", "fast"):
            row[f"{method}_vs_routine"] = float(np.mean([r.error_pct(method, "routine") for r in group]))
        for method in METHODS:
            row[f"{method}_vs_truth"] = float(np.mean([r.error_pct(method, "truth") for r in group]))
        row["worst_DL_vs_routine"] = float(max(dl_routine, key=abs))
        row["negative"] = sum(e < 0 for e in dl_routine)
        row["sign_p"] = sign_test_p(dl_routine)
        row["DL_not_worse_than_bicubic"] = float(np.mean([_dl_not_worse(r) for r in group]))
        rows.append(row)
    return rows


def _dl_not_worse(roi: Roi, margin_pp: float = 1.0) -> bool:
    return abs(roi.error_pct("DL", "truth")) <= abs(roi.error_pct("bicubic", "truth")) + margin_pp


def agreement(rois: list[Roi]) -> list[dict]:
    """Per map: DL ~ routine over every ROI (slope, R²), and over tissue + region means the slopes of DL and
    of the fast scan against routine (DL must close at least half of the fast scan's gap to 1)."""
    rows = []
    for kind in dict.fromkeys(r.map for r in rois):
        mine = [r for r in rois if r.map == kind]
        every = regression(*_pairs(mine, "DL"))
        means = [r for r in mine if r.family in ("tissue", "region")]
        dl, fast = regression(*_pairs(means, "DL")), regression(*_pairs(means, "fast"))
        bicubic = regression(*_pairs(means, "bicubic"))
        rows.append({"map": kind, "n_all": len(mine), "slope_all": every.slope, "r2_all": every.r2,
                     "n_means": len(means), "slope_means_DL": dl.slope, "slope_means_fast": fast.slope,
                     "slope_means_bicubic": bicubic.slope, "r2_means_DL": dl.r2,
                     "closes_half_gap": abs(dl.slope - 1) <= abs(fast.slope - 1) / 2})
    return rows


def _pairs(rois: list[Roi], method: str) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([r.means[method] for r in rois]), np.array([r.means["routine"] for r in rois]))


def image_summary(images: list[ImageRow]) -> list[dict]:
    rows = []
    keys = dict.fromkeys((i.map, i.anatomy) for i in images)
    for kind, anatomy in keys:
        group = [i for i in images if (i.map, i.anatomy) == (kind, anatomy)]
        row = {"map": kind, "anatomy": anatomy, "n": len(group)}
        for name in ("DL", "bicubic"):
            row[f"psnr_{name}"] = float(np.mean([i.psnr_brain[name] for i in group]))
            row[f"ssim_{name}"] = float(np.mean([i.ssim_brain[name] for i in group]))
        for name in METHODS:
            row[f"rmse_{name}"] = float(np.mean([i.rmse_truth[name] for i in group]))
        rows.append(row)
    return rows


def trust_sweep(rois: list[Roi], thresholds: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0),
                error_pct: float = 5.0) -> list[dict]:
    """Trust flag (|consistency| > threshold) against lesions whose |DL − routine| exceeds ``error_pct``:
    sensitivity and false-flag rate per threshold."""
    lesions = [r for r in rois if r.family == "lesion" and np.isfinite(r.consistency)]
    bad = [abs(r.error_pct("DL", "routine")) > error_pct for r in lesions]
    rows = []
    for threshold in thresholds:
        flagged = [abs(r.consistency) > threshold for r in lesions]
        hits = sum(f and b for f, b in zip(flagged, bad, strict=True))
        false = sum(f and not b for f, b in zip(flagged, bad, strict=True))
        n_bad = sum(bad)
        rows.append({"threshold_pct": threshold, "lesions": len(lesions), "bad": n_bad,
                     "sensitivity": hits / n_bad if n_bad else float("nan"),
                     "false_flag_rate": false / (len(lesions) - n_bad) if len(lesions) > n_bad else float("nan")})
    return rows


def flag_sweep(rois: list[Roi], precision_thresholds: tuple[float, ...] = (1.5, 1.75, 2.0, 2.5, 3.0),
               min_samples: tuple[float, ...] = (0.0, 5.0, 10.0, 15.0, 20.0),
               consistency_threshold: float = DEFAULT_THRESHOLD_PCT, error_pct: float = 5.0) -> list[dict]:
    """The whole trust flag (quantsr.reliability: inconsistent beyond ``consistency_threshold``, imprecise beyond
    each precision threshold, too small below each sample count) against lesions whose |DL − routine| exceeds
    ``error_pct``: one row per (precision threshold, minimum samples)."""
    lesions = [r for r in rois if r.family == "lesion" and np.isfinite(r.consistency)]
    bad = [abs(r.error_pct("DL", "routine")) > error_pct for r in lesions]
    n_bad = sum(bad)
    rows = []
    for threshold in precision_thresholds:
        for smallest in min_samples:
            flagged = [RoiReliability(r.consistency, r.precision, r.samples).flagged(consistency_threshold,
                                                                                     threshold, smallest)
                       for r in lesions]
            hits = sum(f and b for f, b in zip(flagged, bad, strict=True))
            false = sum(f and not b for f, b in zip(flagged, bad, strict=True))
            rows.append({"consistency_threshold_pct": consistency_threshold, "precision_threshold_pct": threshold,
                         "min_samples": smallest, "lesions": len(lesions), "bad": n_bad, "caught": hits,
                         "flagged": sum(flagged), "sensitivity": hits / n_bad if n_bad else float("nan"),
                         "false_flag_rate": false / (len(lesions) - n_bad) if len(lesions) > n_bad else float("nan")})
    return rows


def _groups(rois: list[Roi], family: str, key) -> dict:
    groups: dict = {}
    for roi in rois:
        if roi.family == family:
            groups.setdefault(key(roi), []).append(roi)
    return groups


def criteria(summary: dict) -> list[dict]:
    """The issue's acceptance bars, each with its measured value and pass / fail."""
    out = []

    def check(name: str, value: str, passed: bool) -> None:
        out.append({"criterion": name, "value": value, "passed": bool(passed)})

    for row in summary["tissues"]:
        if row["anatomy"] == "folded":
            bias = row["DL_vs_routine"]
            check(f"{row['map']} {row['tissue']} bias vs routine within ±1 % (folded)", f"{bias:+.2f} %",
                  abs(bias) <= 1)
    for row in summary["images"]:
        if row["anatomy"] == "folded":
            gain = row["psnr_DL"] - row["psnr_bicubic"]
            ssim_gain = row["ssim_DL"] - row["ssim_bicubic"]
            check(f"{row['map']} brain PSNR gain ≥ 1 dB (folded)", f"{gain:+.2f} dB", gain >= 1)
            check(f"{row['map']} brain SSIM gain ≥ 0.01 (folded)", f"{ssim_gain:+.4f}", ssim_gain >= 0.01)
            check(f"{row['map']} brain RMSE vs truth DL ≤ routine (folded)",
                  f"{row['rmse_DL']:.1f} vs {row['rmse_routine']:.1f}", row["rmse_DL"] <= row["rmse_routine"])
    for by in ("kinds", "sizes"):
        for row in summary[by]:
            key = row.get("name", row.get("size_class"))
            check(f"{row['map']} lesions {key}: mean DL vs routine within ±3 %", f"{row['DL_vs_routine']:+.2f} %",
                  abs(row["DL_vs_routine"]) <= 3)
    for row in summary["lesions_overall"]:
        check(f"{row['map']} lesions: DL no worse than bicubic (+1 pp) on ≥ 90 %",
              f"{100 * row['DL_not_worse_than_bicubic']:.0f} %", row["DL_not_worse_than_bicubic"] >= 0.9)
        check(f"{row['map']} lesions: no systematic sign (p ≥ 0.05)", f"p = {row['sign_p']:.3f}", row["sign_p"] >= 0.05)
    for row in summary["agreement"]:
        check(f"{row['map']} DL ~ routine slope 0.97–1.03, all ROIs", f"{row['slope_all']:.3f}",
              0.97 <= row["slope_all"] <= 1.03)
        check(f"{row['map']} DL ~ routine R² ≥ 0.99, all ROIs", f"{row['r2_all']:.4f}", row["r2_all"] >= 0.99)
        check(f"{row['map']} tissue/region slope closes ≥ half the fast scan's gap",
              f"DL {row['slope_means_DL']:.3f} vs fast {row['slope_means_fast']:.3f}", row["closes_half_gap"])
    shipped = summary.get("flag")
    if shipped and shipped["bad"]:
        check("trust flag (default thresholds) catches ≥ 90 % of lesions with DL > 5 % off routine",
              f"{shipped['caught']} / {shipped['bad']}, false flags {100 * shipped['false_flag_rate']:.1f} %",
              shipped["sensitivity"] >= 0.9)
    return out


def summarise(rois: list[Roi], images: list[ImageRow]) -> dict:
    lesions = [r for r in rois if r.family == "lesion"]
    overall = [dict(row, name="all") for row in lesion_summary([_as_all(r) for r in lesions], "name")]
    summary = {"tissues": tissue_summary(rois), "images": image_summary(images),
               "kinds": lesion_summary(rois, "name"), "sizes": lesion_summary(rois, "size_class"),
               "locations": lesion_summary(rois, "location"), "lesions_overall": overall,
               "agreement": agreement(rois), "trust": trust_sweep(rois), "flag_sweep": flag_sweep(rois),
               "flag": flag_sweep(rois, (DEFAULT_PRECISION_PCT,), (DEFAULT_MIN_SAMPLES,))[0]}
    summary["criteria"] = criteria(summary)
    return summary


def _as_all(roi: Roi) -> Roi:
    return Roi(**{**asdict(roi), "name": "all"})


def write_json(path: Path, rois: list[Roi], images: list[ImageRow], summary: dict) -> None:
    path.write_text(json.dumps({"rois": [asdict(r) for r in rois], "images": [asdict(i) for i in images],
                                "summary": summary}, indent=1, default=float))
