"""``report.html``: one self-contained page (figures embedded as data URIs, no scripts, no external files)
laid out like the paper's results: Tables 1–5, Figures 3–4, example slices, lesion table."""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

from ..mapkinds import MapKind
from ..reliability import DEFAULT_MIN_SAMPLES, DEFAULT_PRECISION_PCT, RoiReliability
from ..trust import DEFAULT_THRESHOLD_PCT

UNITS = {k.value: k.unit for k in (MapKind.T1, MapKind.T2, MapKind.PD)}
SECTIONS = {
    "summary": "Summary",
    "data": "Data and methods",
    "table1": "Table 1 — tissue values and paired t-tests",
    "equivalence": "Equivalence (TOST, ±5 % of routine)",
    "agreement": "Figures 3–4 — regression and Bland–Altman",
    "table2": "Table 2 — regional coefficients of variation",
    "table3": "Table 3 — lesion ROIs",
    "table4": "Table 4 — PSNR and SSIM against routine",
    "table5": "Table 5 — NIQE",
    "examples": "Example slices",
    "classification": "Tissue classification",
}
STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1200px;color:#222;
line-height:1.4;padding:0 1em} h1{font-size:1.6em} h2{border-bottom:2px solid #2b6cb0;padding-bottom:.2em;
margin-top:2em;font-size:1.25em} table{border-collapse:collapse;margin:.8em 0;font-size:.88em}
th,td{border:1px solid #ccc;padding:.25em .55em;text-align:right} th{background:#edf2f7}
td.l,th.l{text-align:left} .note{color:#555;font-size:.88em} .warn{background:#fff5e6;border-left:4px solid
#dd6b20;padding:.5em 1em} img{max-width:100%;border:1px solid #ddd} nav a{margin-right:1em;font-size:.9em}
.good{color:#276749} .bad{color:#c53030}
"""


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}"


def fmt_p(p: float | None) -> str:
    """p-values as in the paper: <.001, else three decimals without the leading zero."""
    if p is None or not math.isfinite(p):
        return "–"
    return "<.001" if p < 0.001 else f"{p:.3f}".lstrip("0")


def mean_sd(entry: dict | None, digits: int = 2) -> str:
    if not entry or not entry.get("n"):
        return "–"
    return f"{fmt(entry['mean'], digits)} ({fmt(entry['sd'], digits)})"


def table(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    """An HTML table; the first ``left`` columns are left-aligned labels. Cells are escaped here."""
    def cell(tag: str, i: int, text: str) -> str:
        return f"<{tag}{' class=l' if i < left else ''}>{html.escape(str(text))}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def image(path: Path | None, alt: str) -> str:
    if path is None or not Path(path).is_file():
        return f"<p class=note>({html.escape(alt)}: not available)</p>"
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></figure>'


def section(key: str, body: str) -> str:
    return f'<section id="{key}"><h2>{html.escape(SECTIONS[key])}</h2>{body}</section>'


def _summary(results: dict) -> str:
    items = []
    for row in results["tables"]["agreement"]:
        if row["method"] == "DL" and row["reference"] == "routine":
            fit, ba = row["regression"], row["bland_altman"]
            items.append(f"<li>{row['map']}: DL vs routine slope {fit['slope']:.3f}, R² {fit['r2']:.3f}, "
                         f"bias {ba['bias_pct']:+.2f} % (95 % LoA {ba['loa_low_pct']:+.2f} to "
                         f"{ba['loa_high_pct']:+.2f} %), n = {row['n']}</li>")
    equivalent = [r for r in results["tables"]["equivalence"] if r["method"] == "DL"]
    if equivalent:
        passed = sum(r["equivalent"] for r in equivalent)
        items.append(f"<li>TOST (±5 % of routine): DL equivalent to routine in {passed} of {len(equivalent)} "
                     "tissue × map comparisons.</li>")
    warn = ""
    if results["data"].get("simulated"):
        warn = ("<p class=warn>These data are <b>simulated</b> (QuantSR's physics-based phantom), not patients. "
                "The numbers show how the method behaves on the simulator, not clinical performance.</p>")
    return warn + "<ul>" + "".join(items) + "</ul>"


def _data(results: dict) -> str:
    data = results["data"]
    models = "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in data.get("models", {}).items())
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in results.get("conventions", []))
    return (f"<p>Cohort <code>{html.escape(data['cohort'])}</code>; {len(data['subjects'])} subjects "
            f"({html.escape(', '.join(data['subjects']))}). QuantSR {html.escape(results['quantsr_version'])}, "
            f"generated {html.escape(results['generated'])}.</p><p>Models:</p><ul>{models or '<li>none</li>'}</ul>"
            f"<p>Conventions:</p><ul>{notes}</ul>")


def _table1(results: dict) -> str:
    rows_in = results["tables"]["table1"]
    if not rows_in:
        return "<p class=note>No tissue measurements.</p>"
    methods = list(rows_in[0]["means"])
    tests = list(rows_in[0]["p"])
    rows = [[r["tissue"], f"{r['map']} ({UNITS[r['map']]})", *(mean_sd(r["means"][m]) for m in methods),
             *(fmt_p(r["p"].get(t)) for t in tests)] for r in rows_in]
    header = ["tissue", "map", *(f"{m}, mean (SD)" for m in methods), *(f"p {t}" for t in tests)]
    return (f"<p class=note>{html.escape(results['tables']['table1_subjects'])}; pure-tissue masks classified on "
            "the routine maps, applied to every method in physical space; paired t-tests.</p>"
            + table(header, rows, left=2))


def _equivalence(results: dict) -> str:
    rows = [[r["tissue"], r["map"], r["method"], str(r["n"]), fmt(r["margin"]), fmt(r["ci90_low"]),
             fmt(r["ci90_high"]), fmt_p(r["p"]), "yes" if r["equivalent"] else "no"]
            for r in results["tables"]["equivalence"]]
    header = ["tissue", "map", "method", "n", "margin ±", "90 % CI low", "90 % CI high", "TOST p", "equivalent"]
    return "<p class=note>Method − routine, statsmodels ttost_paired.</p>" + table(header, rows, left=3)


def _agreement(results: dict, figures: dict[str, Path]) -> str:
    rows = [[f"{r['method']} vs {r['reference']}", r["map"], str(r["n"]), fmt(r["regression"]["slope"], 4),
             fmt(r["regression"]["intercept"]), fmt(r["regression"]["r2"], 4), fmt(r["bland_altman"]["bias_pct"]),
             fmt(r["bland_altman"]["loa_low_pct"]), fmt(r["bland_altman"]["loa_high_pct"])]
            for r in results["tables"]["agreement"]]
    header = ["comparison", "map", "points", "slope", "intercept", "R²", "bias %", "LoA low %", "LoA high %"]
    body = table(header, rows, left=2)
    for name, path in figures.items():
        if name.startswith("agreement_"):
            body += image(path, name.removeprefix("agreement_").replace("_", " "))
    return body


def _table2(results: dict) -> str:
    rows_in = results["tables"]["table2"]
    if not rows_in:
        return "<p class=note>No region label map (simulated cohorts carry the AAL atlas; give REGIONS rows).</p>"
    methods = [m for m in ("DL", "routine", "bicubic", "fast") if m in rows_in[0]["intra_cv"]["T1"]]

    def triple(values: dict, method: str) -> str:
        return "/".join(fmt(values[key].get(method)) for key in ("T1", "T2", "PD"))

    def p_triple(row: dict, method: str) -> str:
        return "/".join(fmt_p(row["p"][key].get(method)) for key in ("T1", "T2", "PD"))

    rows = [[r["region"], str(r["n"]), *(triple(r["intra_cv"], m) for m in methods),
             *(triple(r["inter_cv"], m) for m in methods if m != "routine"),
             *(p_triple(r, m) for m in methods if m != "routine")] for r in rows_in]
    header = ["region", "n", *(f"intra CV {m} (T1/T2/PD %)" for m in methods),
              *(f"inter CV {m}–routine (%)" for m in methods if m != "routine"),
              *(f"p {m} vs routine" for m in methods if m != "routine")]
    return ("<p class=note>Regions measured in classified parenchyma (GM or WM, lesions excluded); left and "
            "right merged.</p>" + table(header, rows))


def _table3(results: dict) -> str:
    lesions = results["tables"]["table3"]
    if not lesions["rois"]:
        return "<p class=note>No lesion ROIs in these subjects.</p>"
    methods = [m for m in ("fast", "bicubic", "DL", "routine", "truth")
               if any(m in r["values"] for r in lesions["rois"])]
    trust = any("dl_consistency_pct" in r for r in lesions["rois"])
    rows = []
    for roi in lesions["rois"]:
        cells = [roi["roi"], roi["kind"], str(roi["voxels"])]
        for key in ("T1", "T2", "PD"):
            cells += [fmt(roi["values"].get(m, {}).get(key)) for m in methods]
        if trust:
            cells += _trust_cells(roi)
        rows.append(cells)
    header = ["ROI", "kind", "voxels", *(f"{key} {m}" for key in ("T1", "T2", "PD") for m in methods),
              *(["DL consistency T1/T2/PD %", "fast SE T1/T2/PD %", "flag"] if trust else [])]
    summary = [[s["map"], f"{s['method']} vs {s['reference']}", str(s["n"]), fmt(s["mean_error_pct"]),
                fmt(s["sd_error_pct"]), f"{s['rois_below']}/{s['n']}", fmt_p(s["p"]),
                fmt(s.get("regression", {}).get("slope"), 3), fmt(s.get("regression", {}).get("r2"), 3)]
               for s in lesions["summary"]]
    note = (f"<p class=note>DL consistency: the trust map's signed mean deviation of DL from the fast scan in "
            f"the ROI (DL brought back to the fast acquisition's resolution); ⚑ inconsistent beyond "
            f"±{DEFAULT_THRESHOLD_PCT:g} % (read the fast value). Fast SE: the fast scan's standard error of the ROI "
            f"mean from its noise and the samples it acquired there; ⚑ imprecise above {DEFAULT_PRECISION_PCT:g} % "
            f"(too noisy an ROI for a reliable mean), ⚑ too small below {DEFAULT_MIN_SAMPLES:g} independent fast-scan "
            "samples (at the fast scan's resolution limit): neither the fast scan nor DL pins the value down."
            "</p>" if trust else "")
    return (table(header, rows, left=2) + note + "<p>Over all lesion ROIs:</p>"
            + table(["map", "comparison", "ROIs", "mean error %", "SD %", "ROIs below", "paired t p", "slope",
                     "R²"], summary, left=2))


def _trust_cells(roi: dict) -> list[str]:
    """The lesion row's consistency and fast-SE cells (T1/T2/PD) and its flag: ⚑ with the reasons, per map."""
    consistency, precision = roi.get("dl_consistency_pct", {}), roi.get("fast_se_pct", {})
    samples = roi.get("fast_samples", {})
    reasons = {key: RoiReliability(_number(consistency.get(key)), _number(precision.get(key)),
                                   _number(samples.get(key))).reasons()
               for key in ("T1", "T2", "PD")}
    flag = "; ".join(f"{key} {', '.join(found)}" for key, found in reasons.items() if found)
    return ["/".join(fmt(consistency.get(k), 1) for k in ("T1", "T2", "PD")),
            "/".join(fmt(precision.get(k), 1) for k in ("T1", "T2", "PD")) if precision else "",
            f"⚑ {flag}" if flag else ("ok" if consistency or precision else "")]


def _number(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) else float("nan")


def _table4(results: dict) -> str:
    rows = [[r["map"], r["method"], mean_sd(r["psnr"]), mean_sd(r["ssim"], 4), mean_sd(r["psnr_head"]),
             mean_sd(r["ssim_head"], 4)] for r in results["tables"]["table4"]]
    return ("<p class=note>Against routine. Whole image on the stored DICOM scale with L = 65535 (the paper's "
            "convention); head: voxels where routine > 0 with L = the map's normalisation constant (45000 / "
            "22000 / 1800 stored). fast = pixels replicated onto the routine grid. PSNR per volume, SSIM per "
            f"slice. {html.escape(results['data'].get('ssim_convention', 'SSIM convention not recorded'))}.</p>"
            + table(["map", "method", "PSNR dB", "SSIM", "PSNR head dB", "SSIM head"], rows, left=2))


def _table5(results: dict) -> str:
    methods = ("fast", "bicubic", "DL", "routine")
    rows = [[r["map"], *(mean_sd(r.get(m)) for m in methods)] for r in results["tables"]["table5"]]
    return (f"<p class=note>Lower is better. {html.escape(results['data'].get('niqe_model', ''))}</p>"
            + table(["map", *(f"{m}, mean (SD)" for m in methods)], rows))


def _classification(results: dict) -> str:
    dice = results["tables"].get("classification_dice")
    if not dice:
        return "<p class=note>No truth tissue maps: classification not checked.</p>"
    rows = [[tissue, mean_sd(entry, 3), fmt(entry["min"], 3), str(entry["n"])] for tissue, entry in dice.items()]
    return ("<p class=note>Partial-volume classification of the routine maps against the phantom's true tissue "
            "(largest fraction per voxel).</p>" + table(["tissue", "Dice, mean (SD)", "min", "subjects"], rows))


def render(results: dict, figures: dict[str, Path]) -> str:
    bodies = {
        "summary": _summary(results), "data": _data(results), "table1": _table1(results),
        "equivalence": _equivalence(results), "agreement": _agreement(results, figures),
        "table2": _table2(results), "table3": _table3(results), "table4": _table4(results),
        "table5": _table5(results), "examples": image(figures.get("examples"), "example slices"),
        "classification": _classification(results),
    }
    nav = "".join(f'<a href="#{key}">{html.escape(title.split(" — ")[0])}</a>' for key, title in SECTIONS.items())
    content = "".join(section(key, bodies[key]) for key in SECTIONS)
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>QuantSR agreement report</title>"
            f"<style>{STYLE}</style></head><body><h1>QuantSR agreement and image-quality report</h1>"
            f"<nav>{nav}</nav>{content}</body></html>")
