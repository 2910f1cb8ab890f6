"""`quantsr report` end to end on a small paired cohort written as a user would (manifest + NRRD files),
with every reported number checked against an independent computation, and the page opened in headless
Chromium."""

from __future__ import annotations

import csv
import json
import subprocess

import numpy as np
import pytest
from helpers.tools import require_tool
from scipy import stats as scipy_stats
from skimage.metrics import peak_signal_noise_ratio
from statsmodels.stats.weightstats import ttost_paired

from quantsr.baselines import upsample
from quantsr.cli import main
from quantsr.io.images import read_image, write_image
from quantsr.mapkinds import QUANT_KINDS, MapKind
from quantsr.report.html import SECTIONS
from quantsr.roi import labels_on_grid
from quantsr.simulate.subject import simulate_subject

KEEP = 6  # six slices through the lesions keep the test short
SUBJECTS = {"sub-a": ("patient", 1.00), "sub-b": ("healthy", 1.03), "sub-c": ("healthy", 0.97)}


def _crop(qmap, first: int, scale: float = 1.0):
    """KEEP slices of ``qmap`` from ``first`` (origin moved with them), values optionally scaled."""
    origin = np.asarray(qmap.origin) + first * qmap.spacing[2] * qmap.direction[:, 2]
    array = qmap.array[first: first + KEEP] * scale
    return qmap.with_array(array.astype(np.float32), origin=tuple(origin))


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """Three subjects derived from one simulated patient (values scaled per subject, as biological
    variation), as NRRD files with a hand-written manifest — the layout a user's own data would have."""
    subject = simulate_subject("sub-a", seed=11, n_lesions=3)
    root = tmp_path_factory.mktemp("paired")
    per_slice = (subject.labels.array > 0).sum(axis=(1, 2))
    first = int(np.clip(np.argmax(np.convolve(per_slice, np.ones(KEEP), "valid")), 0, len(per_slice) - KEEP))
    rows = []
    middle = _crop(subject.maps["routine"][MapKind.T1], first)
    box_centre = (0.0, 10.0, float(middle.index_to_physical(np.array([[0, 0, KEEP // 2]]))[0, 2]))  # LPS mm
    for name, (group, scale) in SUBJECTS.items():
        folder = root / name
        for protocol in ("fast", "routine"):
            for kind in QUANT_KINDS:
                qmap = _crop(subject.maps[protocol][kind], first, scale)
                path = write_image(qmap, folder / f"{protocol}_{kind.value}.nrrd")
                rows.append([name, group, kind.value, protocol, "nrrd", path.relative_to(root)])
        for kind in QUANT_KINDS:
            path = write_image(_crop(subject.truth[kind], first, scale), folder / f"truth_{kind.value}.nrrd")
            rows.append([name, group, kind.value, "truth", "nrrd", path.relative_to(root)])
        for tissue, qmap in subject.fractions.items():
            path = write_image(_crop(qmap, first), folder / f"{tissue}.nrrd")
            rows.append([name, group, tissue, "truth", "nrrd", path.relative_to(root)])
        labels = write_image(_crop(subject.labels, first), folder / "lesions.nrrd")
        rows.append([name, group, "LABELS", "truth", "nrrd", labels.relative_to(root)])
        with open(folder / "lesions.csv", "w") as handle:
            handle.write("label,kind\n" + "".join(f"{i},{lesion.kind}\n" for i, lesion in
                                                   enumerate(subject.lesions, start=1)))
        rows.append([name, group, "LESIONS", "truth", "csv", f"{name}/lesions.csv"])
        # A user's own region map: left / right hemisphere of the routine grid, with a names file.
        routine = _crop(subject.maps["routine"][MapKind.T1], first)
        halves = np.zeros(routine.shape, np.float32)
        halves[..., : routine.shape[2] // 2] = 1
        halves[..., routine.shape[2] // 2:] = 2
        regions = write_image(routine.with_array(halves, kind=MapKind.UNKNOWN), folder / "regions.nrrd")
        rows.append([name, group, "REGIONS", "labels", "nrrd", regions.relative_to(root)])
        (folder / "regions.csv").write_text("index,name\n1,Right hemisphere\n2,Left hemisphere\n")
        rows.append([name, group, "REGION_NAMES", "labels", "csv", f"{name}/regions.csv"])
    # sub-a brings its own tissue labels (1 CSF, 2 GM, 3 WM: the truth's largest fraction); sub-c adds a box ROI.
    truth = np.stack([_crop(subject.fractions[t], first).array for t in ("CSF", "GM", "WM")])
    tissues = np.where(truth.sum(axis=0) > 0.5, truth.argmax(axis=0) + 1, 0).astype(np.float32)
    path = write_image(routine.with_array(tissues, kind=MapKind.UNKNOWN), root / "sub-a" / "tissues.nrrd")
    rows.append(["sub-a", "patient", "TISSUES", "labels", "nrrd", path.relative_to(root)])
    (root / "sub-c" / "boxes.csv").write_text(f"roi,kind,x_mm,y_mm,z_mm,size_x_mm,size_y_mm,size_z_mm\n"
                                              f"centre box,reference,{','.join(map(str, box_centre))},20,30,5\n")
    rows.append(["sub-c", "healthy", "ROIS", "labels", "csv", "sub-c/boxes.csv"])
    with open(root / "manifest.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["subject", "group", "map", "protocol", "format", "path"])
        writer.writerows(rows)
    return root


@pytest.fixture(scope="module")
def report(cohort, tmp_path_factory):
    output = tmp_path_factory.mktemp("report") / "out"
    assert main(["report", "--cohort", str(cohort), "-o", str(output)]) == 0
    return output, json.loads((output / "results.json").read_text())


def _maps(cohort, subject: str, protocol: str) -> dict:
    return {kind: read_image(cohort / subject / f"{protocol}_{kind.value}.nrrd", kind) for kind in QUANT_KINDS}


def test_lesion_roi_means_match_a_direct_computation(cohort, report) -> None:
    _, results = report
    rois = [r for r in results["tables"]["table3"]["rois"] if r["subject"] == "sub-b"]
    assert len(rois) >= 2
    labels = read_image(cohort / "sub-b" / "lesions.nrrd")
    fast, routine = _maps(cohort, "sub-b", "fast"), _maps(cohort, "sub-b", "routine")
    for roi in rois:
        for kind in QUANT_KINDS:
            on_routine = np.rint(labels.array) == roi["label"]
            assert roi["values"]["routine"][kind.value] == pytest.approx(routine[kind].array[on_routine].mean(), 1e-5)
            on_fast = labels_on_grid(labels, fast[kind]) == roi["label"]  # same ROI, carried to the 256² grid
            assert roi["values"]["fast"][kind.value] == pytest.approx(fast[kind].array[on_fast].mean(), 1e-5)
    t2 = [(r["values"]["DL"]["T2"], r["values"]["routine"]["T2"]) for r in results["tables"]["table3"]["rois"]]
    expected_p = scipy_stats.ttest_rel(*np.array(t2).T).pvalue
    summary = next(s for s in results["tables"]["table3"]["summary"]
                   if s["map"] == "T2" and s["method"] == "DL" and s["reference"] == "routine")
    assert summary["p"] == pytest.approx(expected_p)


def test_table1_and_tost_agree_with_scipy_and_statsmodels(report) -> None:
    _, results = report
    assert results["tables"]["table1_subjects"] == "2 healthy subjects"
    healthy = [s for s in results["subjects"] if s["group"] == "healthy"]
    row = next(r for r in results["tables"]["table1"] if r["tissue"] == "GM" and r["map"] == "T1")
    dl = np.array([s["tissue"]["GM"]["DL"]["T1"] for s in healthy])
    routine = np.array([s["tissue"]["GM"]["routine"]["T1"] for s in healthy])
    assert row["means"]["routine"]["mean"] == pytest.approx(routine.mean())
    assert row["means"]["routine"]["sd"] == pytest.approx(routine.std(ddof=1))
    assert row["p"]["DL vs routine"] == pytest.approx(scipy_stats.ttest_rel(dl, routine).pvalue)
    tost = next(r for r in results["tables"]["equivalence"]
                if r["tissue"] == "GM" and r["map"] == "T1" and r["method"] == "DL")
    margin = 0.05 * routine.mean()
    assert tost["margin"] == pytest.approx(margin)
    assert tost["p"] == pytest.approx(ttost_paired(dl, routine, -margin, margin)[0])
    # The subjects differ by ±3 % in every value: routine GM T1 must show it.
    assert routine[0] / routine[1] == pytest.approx(1.03 / 0.97, rel=0.01)


def test_tissue_classification_and_regions(report) -> None:
    _, results = report
    dice = results["tables"]["classification_dice"]
    assert all(dice[t]["min"] >= 0.8 for t in ("GM", "WM", "CSF")), dice
    regions = {r["region"] for r in results["tables"]["table2"]}
    assert regions == {"Right hemisphere", "Left hemisphere"}
    row = next(r for r in results["tables"]["table2"] if r["region"] == "Left hemisphere")
    # Table 2, like Table 1, is over the healthy subjects (the paper's regional analysis).
    values = [s["regions"]["Left hemisphere"]["routine"]["PD"] for s in results["subjects"] if s["group"] == "healthy"]
    assert len(values) == 2
    assert row["intra_cv"]["PD"]["routine"] == pytest.approx(100 * np.std(values, ddof=1) / np.mean(values))


def test_image_quality_and_niqe(cohort, report) -> None:
    _, results = report
    fast, routine = _maps(cohort, "sub-c", "fast"), _maps(cohort, "sub-c", "routine")
    bicubic = upsample(fast[MapKind.T2], 2, "bicubic")
    expected = peak_signal_noise_ratio(routine[MapKind.T2].array * 10, bicubic.array * 10, data_range=65535)
    subject = next(s for s in results["subjects"] if s["subject"] == "sub-c")
    assert subject["quality"]["bicubic"]["T2"]["psnr"] == pytest.approx(expected, rel=1e-6)
    # every table says which SSIM (the paper's MATLAB convention by default) and which NIQE model
    output, _ = report
    assert results["data"]["ssim_convention"].startswith("SSIM convention 'matlab': MATLAB ssim")
    page = (output / "report.html").read_text()
    assert "SSIM convention &#x27;matlab&#x27;" in page or "SSIM convention 'matlab'" in page
    assert "not comparable with published NIQE" in results["data"]["niqe_model"]
    for key in ("T1", "T2", "PD"):
        table4 = {r["method"]: r for r in results["tables"]["table4"] if r["map"] == key}
        assert table4["DL"]["psnr"]["mean"] > table4["fast"]["psnr"]["mean"]  # the model beats the raw fast scan
        niqe = next(r for r in results["tables"]["table5"] if r["map"] == key)
        assert niqe["fast"]["mean"] > niqe["routine"]["mean"]  # blurred, noisy fast maps look less natural


def test_agreement_figures_and_json(report) -> None:
    output, results = report
    dl = {r["map"]: r for r in results["tables"]["agreement"] if r["method"] == "DL" and r["reference"] == "routine"}
    assert set(dl) == {"T1", "T2", "PD"}
    healthy = [s for s in results["subjects"] if s["group"] == "healthy"]  # Figures 3–4 pool Table 1's subjects
    for key, row in dl.items():
        # the scatter plot's points gathered here from the per-subject results (GM, WM and region means), and the
        # line fitted with numpy: an independent value for the slope, not a range it may fall in
        pairs = [(entry["DL"][key], entry["routine"][key]) for s in healthy for section in ("tissue", "regions")
                 for name, entry in s[section].items() if section == "regions" or name in ("GM", "WM")
                 if entry.get("DL", {}).get(key) is not None and entry.get("routine", {}).get(key) is not None]
        method, reference = np.array(pairs).T
        slope, intercept = np.polyfit(reference, method, 1)
        assert row["n"] == len(pairs) >= 6
        assert (row["regression"]["slope"], row["regression"]["intercept"]) == pytest.approx((slope, intercept),
                                                                                              rel=1e-9, abs=1e-9)
        assert row["regression"]["r2"] == pytest.approx(np.corrcoef(reference, method)[0, 1] ** 2, rel=1e-9)
        assert row["bland_altman"]["bias_pct"] == pytest.approx(np.mean(200 * (method - reference) /
                                                                        (method + reference)), rel=1e-9)
    for name in ("agreement_DL_vs_routine", "agreement_DL_vs_fast", "agreement_bicubic_vs_routine", "examples"):
        assert (output / results["figures"][name]).stat().st_size > 20_000
    json.loads((output / "results.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))


def test_report_opens_in_headless_chromium(report, tmp_path) -> None:
    chromium = require_tool("chromium")
    output, _ = report
    url = (output / "report.html").resolve().as_uri()
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"]
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True).stdout
    for key, title in SECTIONS.items():
        assert f'id="{key}"' in dom and title.split(" — ")[0] in dom
    assert dom.count("<img") >= 5 and "Traceback" not in dom
    shot = tmp_path / "report.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1280,2400", url], capture_output=True,
                   timeout=120, check=True)
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (2400, 1280) and pixels[..., :3].std() > 0.05  # rendered content, not a blank page


def test_rerun_keeps_measured_subjects(cohort, report, capsys) -> None:
    output, results = report
    assert main(["report", "--cohort", str(cohort), "-o", str(output)]) == 0
    assert capsys.readouterr().out.count("measured earlier, kept") == 3
    again = json.loads((output / "results.json").read_text())
    assert again["tables"] == results["tables"]


def test_report_errors_name_the_problem(cohort, tmp_path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["report", "--cohort", str(tmp_path / "empty"), "-o", str(tmp_path / "r")]) == 1
    assert "manifest.csv" in capsys.readouterr().err
    assert main(["report", "--cohort", str(cohort), "-o", str(cohort / "inside")]) == 1
    assert "outside the cohort" in capsys.readouterr().err
    assert main(["report", "--cohort", str(cohort), "-o", str(tmp_path / "r"), "--subjects", "sub-x"]) == 1
    assert "sub-x" in capsys.readouterr().err


def test_user_tissue_labels_and_box_rois(cohort, report) -> None:
    from quantsr.roi import box_mask

    _, results = report
    sub_a = next(s for s in results["subjects"] if s["subject"] == "sub-a")
    assert sub_a["tissue_source"] == "user labels" and sub_a["classification_dice"] is None
    labels = read_image(cohort / "sub-a" / "tissues.nrrd").array
    lesions = read_image(cohort / "sub-a" / "lesions.nrrd").array
    routine = _maps(cohort, "sub-a", "routine")
    gm = (labels == 2) & (lesions == 0)  # lesion voxels are never tissue
    assert lesions[labels == 2].any()
    assert sub_a["tissue"]["GM"]["routine"]["T1"] == pytest.approx(routine[MapKind.T1].array[gm].mean(), 1e-5)
    box = next(r for r in results["tables"]["table3"]["rois"] if r["roi"] == "sub-c centre box")
    assert box["kind"] == "reference"
    routine_c = _maps(cohort, "sub-c", "routine")[MapKind.T2]
    with open(cohort / "sub-c" / "boxes.csv") as handle:
        row = next(csv.DictReader(handle))
    centre = np.array([float(row[c]) for c in ("x_mm", "y_mm", "z_mm")])
    inside = box_mask(routine_c, centre, np.array([20.0, 30.0, 5.0]))
    assert box["voxels"] == inside.sum() > 1000
    assert box["values"]["routine"]["T2"] == pytest.approx(routine_c.array[inside].mean(), 1e-5)


def test_lesion_rois_carry_dl_consistency(report) -> None:
    output, results = report
    rois = [r for r in results["tables"]["table3"]["rois"] if r["kind"] != "reference"]
    values = [v for r in rois for v in r["dl_consistency_pct"].values()]
    assert len(values) == 3 * len(rois) and all(abs(v) < 20 for v in values)
    errors = [v for r in rois for v in r["fast_se_pct"].values()]
    assert len(errors) == 3 * len(rois) and all(0 < v < 20 for v in errors)  # a standard error, in % of the mean
    samples = [v for r in rois for v in r["fast_samples"].values()]  # acquired samples ≈ 0.094 per 512² voxel
    assert samples == pytest.approx([0.09375 * r["voxels"] for r in rois for _ in range(3)], rel=0.05)
    page = (output / "report.html").read_text()
    assert "DL consistency" in page and "fast SE T1/T2/PD %" in page
