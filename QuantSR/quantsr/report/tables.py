"""The paper's tables from per-subject measurements, with the non-DL baselines the paper lacked.

All statistics come from :mod:`quantsr.stats` (scipy / statsmodels). Conventions, stated in the report:
Table 1 uses healthy subjects when the cohort has at least two (lesion voxels are excluded everywhere);
agreement plots pool per-subject tissue and region means; inter-group CV of a region is the mean over
subjects of the CV of the (method, routine) pair."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .. import stats
from ..mapkinds import QUANT_KINDS

TISSUES = ("GM", "WM")
#: (method, reference) pairs shown as regression + Bland–Altman figures: paper Fig. 3, Fig. 4, baselines.
COMPARISONS = (("DL", "routine"), ("DL", "fast"), ("bicubic", "routine"), ("fast", "routine"))
#: Paired t-tests of Table 1: the paper's two columns, then the baselines.
TABLE1_TESTS = (("DL", "fast"), ("DL", "routine"), ("bicubic", "routine"), ("fast", "routine"))
MAP_KEYS = tuple(kind.value for kind in QUANT_KINDS)


def mean_sd(values: Iterable[float]) -> dict[str, float]:
    array = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if array.size == 0:
        return {"mean": float("nan"), "sd": float("nan"), "n": 0}
    sd = float(array.std(ddof=1)) if array.size > 1 else 0.0
    return {"mean": float(array.mean()), "sd": sd, "n": int(array.size)}


def _values(subjects: list[dict], section: str, name: str, method: str, key: str) -> dict[str, float]:
    """{subject: value} of one measurement, for the subjects that have it."""
    out = {}
    for subject in subjects:
        value = subject.get(section, {}).get(name, {}).get(method, {}).get(key)
        if value is not None and math.isfinite(value):
            out[subject["subject"]] = value
    return out


def _pairs(a: dict[str, float], b: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    common = [s for s in a if s in b]
    return np.array([a[s] for s in common]), np.array([b[s] for s in common])


def _p(a: dict[str, float], b: dict[str, float]) -> float | None:
    x, y = _pairs(a, b)
    if x.size < 2 or np.allclose(x, y):
        return None
    return stats.paired_t_test(x, y).p


def table_subjects(subjects: list[dict]) -> tuple[list[dict], str]:
    healthy = [s for s in subjects if s.get("group") == "healthy"]
    if len(healthy) >= 2:
        return healthy, f"{len(healthy)} healthy subjects"
    return subjects, f"all {len(subjects)} subjects"


def methods_present(subjects: list[dict]) -> list[str]:
    present = {m for s in subjects for m in s.get("methods", [])}
    return [m for m in ("fast", "bicubic", "DL", "routine", "truth") if m in present]


def table1(subjects: list[dict]) -> list[dict]:
    """Tissue means (SD) per method and paired t-test p-values (paper Table 1)."""
    methods = methods_present(subjects)
    rows = []
    for tissue in TISSUES:
        for key in MAP_KEYS:
            values = {m: _values(subjects, "tissue", tissue, m, key) for m in methods}
            row = {"tissue": tissue, "map": key, "means": {m: mean_sd(values[m].values()) for m in methods},
                   "p": {f"{a} vs {b}": _p(values[a], values[b]) for a, b in TABLE1_TESTS
                         if a in values and b in values}}
            rows.append(row)
    return rows


def equivalence(subjects: list[dict], margin_fraction: float = 0.05) -> list[dict]:
    """TOST of each method against routine with margins ±5 % of the routine mean, 90 % CI."""
    rows = []
    for tissue in TISSUES:
        for key in MAP_KEYS:
            reference = _values(subjects, "tissue", tissue, "routine", key)
            for method in ("fast", "bicubic", "DL"):
                x, y = _pairs(_values(subjects, "tissue", tissue, method, key), reference)
                if x.size < 2:
                    continue
                result = stats.tost(x, y, margin_fraction)
                rows.append({"tissue": tissue, "map": key, "method": method, "n": int(x.size),
                             **result.__dict__})
    return rows


def agreement_points(subjects: list[dict], method: str, reference: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-subject tissue (GM, WM) and region means, paired: the points of one scatter / Bland–Altman plot."""
    xs, ys = [], []
    for subject in subjects:
        for section in ("tissue", "regions"):
            for name, entry in subject.get(section, {}).items():
                if section == "tissue" and name not in TISSUES:
                    continue
                a, b = entry.get(method, {}).get(key), entry.get(reference, {}).get(key)
                if a is not None and b is not None:
                    xs.append(a)
                    ys.append(b)
    return np.asarray(xs), np.asarray(ys)


def agreement(subjects: list[dict]) -> list[dict]:
    """Regression (method = slope × reference + intercept) and Bland–Altman % per comparison and map."""
    rows = []
    for method, reference in COMPARISONS:
        for key in MAP_KEYS:
            x, y = agreement_points(subjects, method, reference, key)
            if x.size < 3:
                continue
            rows.append({"method": method, "reference": reference, "map": key, "n": int(x.size),
                         "regression": stats.regression(x, y).__dict__,
                         "bland_altman": stats.bland_altman_percent(x, y).__dict__})
    return rows


def _inter_cv(a: dict[str, float], b: dict[str, float]) -> float | None:
    x, y = _pairs(a, b)
    if x.size == 0:
        return None
    pair = np.stack([x, y])
    return float(np.mean(100 * pair.std(axis=0, ddof=1) / pair.mean(axis=0)))


def table2(subjects: list[dict]) -> list[dict]:
    """Per region: intra-group CV per method, inter-group CV against routine, paired t p (DL vs routine)."""
    names = list(dict.fromkeys(n for s in subjects for n in s.get("regions", {})))
    methods = [m for m in methods_present(subjects) if m != "truth"]
    rows = []
    for name in names:
        row: dict = {"region": name, "intra_cv": {}, "inter_cv": {}, "p": {}, "n": 0}
        for key in MAP_KEYS:
            values = {m: _values(subjects, "regions", name, m, key) for m in methods}
            row["n"] = max(row["n"], len(values.get("routine", {})))
            row["intra_cv"][key] = {m: (stats.coefficient_of_variation(list(v.values())) if len(v) > 1 else None)
                                    for m, v in values.items()}
            row["inter_cv"][key] = {m: _inter_cv(values[m], values["routine"]) for m in methods if m != "routine"}
            row["p"][key] = {m: _p(values[m], values["routine"]) for m in methods if m != "routine"}
        rows.append(row)
    return rows


def table3(subjects: list[dict]) -> dict:
    """Lesion ROI values per method, and paired tests / regression / mean error over the ROIs."""
    rois = [roi for s in subjects for roi in s.get("lesions", [])]
    summary = []
    for key in MAP_KEYS:
        for method in ("fast", "bicubic", "DL"):
            for reference in ("routine", "truth"):
                pairs = [(r["values"].get(method, {}).get(key), r["values"].get(reference, {}).get(key))
                         for r in rois]
                pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
                if len(pairs) < 2:
                    continue
                x, y = np.array(pairs).T
                error = 100 * (x - y) / y
                entry: dict[str, Any] = {"map": key, "method": method, "reference": reference, "n": len(pairs),
                         "mean_error_pct": float(error.mean()), "sd_error_pct": float(error.std(ddof=1)),
                         "rois_below": int((error < 0).sum()), "p": stats.paired_t_test(x, y).p}
                if len(pairs) >= 3:
                    entry["regression"] = stats.regression(x, y).__dict__
                summary.append(entry)
    return {"rois": rois, "summary": summary}


def table4(subjects: list[dict]) -> list[dict]:
    """PSNR / SSIM against routine, mean (SD) over subjects, whole image and head."""
    rows = []
    for key in MAP_KEYS:
        for method in ("fast", "bicubic", "DL"):
            scores = [s["quality"][method][key] for s in subjects if key in s.get("quality", {}).get(method, {})]
            if scores:
                rows.append({"map": key, "method": method,
                             **{metric: mean_sd(score[metric] for score in scores)
                                for metric in ("psnr", "ssim", "psnr_head", "ssim_head")}})
    return rows


def table5(subjects: list[dict]) -> list[dict]:
    """NIQE per map and method, mean (SD) over subjects (lower is better)."""
    rows = []
    for key in MAP_KEYS:
        row: dict[str, Any] = {"map": key}
        for method in ("fast", "bicubic", "DL", "routine"):
            values = [s["niqe"][method][key] for s in subjects if key in s.get("niqe", {}).get(method, {})]
            if values:
                row[method] = mean_sd(values)
        rows.append(row)
    return rows


def classification(subjects: list[dict]) -> dict | None:
    scores = [s["classification_dice"] for s in subjects if s.get("classification_dice")]
    if not scores:
        return None
    return {tissue: {**mean_sd(d[tissue] for d in scores), "min": float(min(d[tissue] for d in scores))}
            for tissue in scores[0]}


def all_tables(subjects: list[dict]) -> dict:
    chosen, description = table_subjects(subjects)
    return {
        "table1_subjects": description,
        "table1": table1(chosen),
        "equivalence": equivalence(chosen),
        "agreement": agreement(chosen),
        "table2": table2(chosen),
        "table3": table3(subjects),
        "table4": table4(subjects),
        "table5": table5(subjects),
        "classification_dice": classification(subjects),
    }
