"""``make_report``: measure every subject (resumable: finished subjects are kept as JSON), run the
statistics, draw the figures and write report.html + results.json atomically."""

from __future__ import annotations

import datetime
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..engine import EngineOptions, SuperResolver, consistency_forward, consistency_sigma
from ..errors import InputError
from ..io.atomic import atomic_path
from ..io.images import read_image
from ..io.loader import load_maps
from ..mapkinds import QUANT_KINDS, MapKind
from ..niqe import PristineModel, fit_pristine_model, to_grey
from ..quality import DEFAULT_SSIM_CONVENTION, SSIM_CONVENTIONS
from ..volume import QuantMap
from . import html, plots
from .cohort import SubjectFiles, read_cohort, select_subjects
from .measure import NIQE_MIN_HEAD_FRACTION, SubjectVolumes, load_volumes, measure_subject
from .tables import COMPARISONS, all_tables

log = logging.getLogger("quantsr.report")
NIQE_FIT_SUBJECTS = 6
#: Part of the cached pristine models' key: a change in how they are fitted must refit them.
NIQE_FIT_VERSION = "mittal2013-matlab-features"

CONVENTIONS = [
    "Values in physical units (T1, T2 in ms; PD in %); fast is measured on its own 256² grid, every other "
    "method on the routine 512² grid; masks are carried between grids by physical position.",
    "Tissue masks: partial-volume classification of the routine T1/T2/PD maps (pure-tissue voxels); lesion "
    "voxels excluded.",
    "Paired t-tests (scipy), TOST with margins ±5 % of the routine mean and 90 % CI (statsmodels "
    "ttost_paired), least-squares regression, Bland–Altman of percentage differences (bias ± 1.96 SD).",
    "Intra-group CV = SD / mean over subjects; inter-group CV = mean over subjects of the CV of the "
    "(method, routine) pair.",
    "bicubic = cubic-spline interpolation of the fast map (the non-DL baseline the paper lacked).",
]


@dataclass
class ReportOptions:
    """What ``quantsr report`` compares and how: DL (``use_dl``; ``models`` per kind, bundled otherwise), the
    ``subjects`` to report (None: all), the NIQE pristine model (``niqe_model`` .mat / .npz; None: fitted on
    routine maps), the SSIM convention, and the inference ``engine`` options."""

    use_dl: bool = True
    models: dict[MapKind, Path] = field(default_factory=dict)  # per kind; missing kinds → bundled model
    subjects: list[str] | None = None
    niqe_model: Path | None = None
    ssim_convention: str = DEFAULT_SSIM_CONVENTION  # quality.SSIM_CONVENTIONS
    engine: EngineOptions = field(default_factory=EngineOptions)


def report_config(resolvers: dict[MapKind, SuperResolver], niqe_note: str, ssim_note: str,
                  engine: EngineOptions) -> dict:
    """What a cached subject measurement must have been made with to be reused (``subjects/<subject>.json``)."""
    return {"models": _model_descriptions(resolvers), "niqe": niqe_note, "ssim": ssim_note,
            "quantsr_version": __version__,
            # the consistency step changes every DL value: a subject measured with other settings is stale
            "fast_consistency": {kind.value: [consistency_sigma(engine.fast_consistency_mm, resolver.info),
                                              engine.fast_consistency_eps,
                                              consistency_forward(engine.fast_consistency_forward, resolver.info)]
                                 for kind, resolver in resolvers.items()} or None}


def _model_descriptions(resolvers: dict[MapKind, SuperResolver]) -> dict[str, str]:
    out = {}
    for kind, resolver in resolvers.items():
        info = resolver.info
        out[kind.value] = (f"{info.name} (sha256 {info.weights_sha256[:12]}…)"
                           + (f", trained on: {info.trained_on}" if info.trained_on else ""))
    return out


def _regions(files: SubjectFiles, cohort: Path) -> tuple[QuantMap, dict[int, str]] | None:
    """The subject's region labels: a REGIONS row of the manifest, or the atlas warped like the phantom."""
    if "REGIONS" in files.extras:
        from ..regions import read_label_names

        labels = read_image(files.extras["REGIONS"])
        names_path = files.extras.get("REGION_NAMES")
        values = sorted(int(v) for v in np.unique(np.rint(labels.array)) if v > 0)
        names = read_label_names(names_path) if names_path else {v: f"region {v}" for v in values}
        return labels, names
    if files.seed is not None and files.simulated:
        from ..regions import PAPER_REGIONS
        from ..simulate.atlas import cohort_regions

        return cohort_regions(cohort, files.subject), dict(PAPER_REGIONS)
    return None


def _niqe_models(cohort_subjects: list[SubjectFiles], chosen: list[SubjectFiles], options: ReportOptions,
                 output: Path) -> tuple[dict[MapKind, PristineModel], str]:
    if options.niqe_model:
        model = PristineModel.load(options.niqe_model)
        return {kind: model for kind in QUANT_KINDS}, f"NIQE pristine model from {options.niqe_model}."
    names = {s.subject for s in chosen}
    others = [s for s in cohort_subjects if s.subject not in names][:NIQE_FIT_SUBJECTS]
    source = others or chosen[:NIQE_FIT_SUBJECTS]
    description = (f"NIQE pristine model fitted per map on the routine maps of {len(source)} subject(s) not in "
                   "this report" if others else
                   f"NIQE pristine model fitted per map on the routine maps of {len(source)} of the reported "
                   "subjects (no others in the cohort): routine NIQE is then optimistic")
    models = {}
    for kind in QUANT_KINDS:
        cached = output / "niqe" / f"pristine_{kind.value}.npz"
        key = NIQE_FIT_VERSION + ":" + ",".join(s.subject for s in source)
        if cached.is_file():
            model = PristineModel.load(cached)
            if model.source == key:
                models[kind] = model
                continue
        slices = []
        for files in source:
            routine = load_maps(files.maps["routine"][kind], kind=kind)[0].array
            head = (routine > 0).mean(axis=(1, 2)) >= NIQE_MIN_HEAD_FRACTION
            slices += [to_grey(s, kind.norm_physical) for s in routine[head]]
        models[kind] = fit_pristine_model(slices, key)
        with atomic_path(cached, suffix=".npz") as tmp:
            models[kind].save(tmp)
    names_list = ", ".join(s.subject for s in source)
    return models, (f"{description} ({names_list}); Mittal et al. 2013 features, 96² patches. A routine-map "
                    "model, not the standard natural-image parameters: not comparable with published NIQE.")


@dataclass
class _SubjectMeasurer:
    """Measures one subject for the report, or reuses its earlier measurement: ``subjects/<subject>.json`` under
    the report folder, kept while the report's ``config`` (models, NIQE model, SSIM convention, version) is the
    same."""

    cohort: Path
    output: Path
    config: dict
    resolvers: dict[MapKind, SuperResolver]
    niqe_models: dict[MapKind, PristineModel]
    ssim_convention: str

    def cache_path(self, files: SubjectFiles) -> Path:
        return self.output / "subjects" / f"{files.subject}.json"

    def earlier(self, files: SubjectFiles) -> dict | None:
        """The subject's cached measurement when it was made with this configuration."""
        cached = self.cache_path(files)
        if not cached.is_file():
            return None
        stored = json.loads(cached.read_text())
        return stored if stored.get("config") == self.config else None

    def measure(self, files: SubjectFiles, example_png: Path | None) -> dict:
        """Load (and super-resolve) the subject's maps, measure them, cache the result; with ``example_png``
        draw the report's example figure from the same volumes."""
        volumes = load_volumes(files, {k: r.run for k, r in self.resolvers.items()} or None)
        measured = measure_subject(files, volumes, self.niqe_models, _regions(files, self.cohort),
                                   self.ssim_convention)
        measured["config"] = self.config
        with atomic_path(self.cache_path(files)) as tmp:
            tmp.write_text(to_json(measured))
        if example_png is not None:
            _example_figure(files, volumes, example_png)
        return measured


def _measure_subjects(chosen: list[SubjectFiles], measurer: _SubjectMeasurer, example: SubjectFiles,
                      example_png: Path, progress: Callable[[str], None]) -> list[dict]:
    """Every chosen subject's measurement, earlier ones kept (unless the example figure is still to draw)."""
    per_subject = []
    for index, files in enumerate(chosen, start=1):
        started = time.perf_counter()
        is_example = files is example
        stored = None if is_example and not example_png.is_file() else measurer.earlier(files)
        if stored is not None:
            per_subject.append(stored)
            progress(f"[{index}/{len(chosen)}] {files.subject}: measured earlier, kept")
            continue
        per_subject.append(measurer.measure(files, example_png if is_example else None))
        progress(f"[{index}/{len(chosen)}] {files.subject}: {time.perf_counter() - started:.0f} s")
    return per_subject


def make_report(cohort: str | Path, output: str | Path, options: ReportOptions | None = None,
                progress: Callable[[str], None] = print) -> dict:
    """The paper's analysis of a paired cohort as one report.

    Args:
        cohort: a simulator cohort folder or a ``manifest.csv`` (``subject, group, map, protocol, format,
            path``; fast and routine T1 / T2 / PD per subject, optional DL maps, lesion labels, ROI boxes,
            tissue and region labels).
        output: the report folder: ``report.html``, ``results.json`` (every number), ``figures/*.png``,
            ``subjects/*.json`` (per-subject measurements, reused on a re-run with the same configuration)
            and ``niqe/`` (fitted pristine models).
        options: methods, subjects, NIQE and SSIM conventions, inference settings (:class:`ReportOptions`).
        progress: called with one line per subject.

    Returns:
        The results written to ``results.json``: per-subject tissue / region / lesion means (ms, ms, %), PSNR
        (dB), SSIM and NIQE per method, Tables 1–5 (means (SD), paired t and TOST, regression, Bland–Altman
        of % differences, CVs), and the figures' paths relative to ``output``.

    Raises:
        InputError: fewer than two subjects (paired statistics), or an unreadable cohort or map.
    """
    options = options or ReportOptions()
    cohort, output = Path(cohort), Path(output)
    everyone = read_cohort(cohort)
    chosen = select_subjects(everyone, options.subjects)
    if len(chosen) < 2:
        raise InputError("a report needs at least two subjects (paired statistics)", cohort)
    resolvers: dict[MapKind, SuperResolver] = {}
    if options.use_dl:
        resolvers = {kind: SuperResolver.for_kind(kind, options.models.get(kind), options.engine)
                     for kind in QUANT_KINDS}
    niqe_models, niqe_note = _niqe_models(everyone, chosen, options, output)
    ssim_note = f"SSIM convention '{options.ssim_convention}': {SSIM_CONVENTIONS[options.ssim_convention]}"
    config = report_config(resolvers, niqe_note, ssim_note, options.engine)
    example = next((s for s in chosen if s.group == "patient" and "LABELS" in s.extras), chosen[0])
    example_png = output / "figures" / "examples.png"
    measurer = _SubjectMeasurer(cohort, output, config, resolvers, niqe_models, options.ssim_convention)
    per_subject = _measure_subjects(chosen, measurer, example, example_png, progress)
    figures: dict[str, Path] = {}
    if example_png.is_file():
        figures["examples"] = example_png
    results: dict[str, Any] = {
        "quantsr_version": __version__,
        "generated": datetime.datetime.now().isoformat(timespec="seconds"),
        "data": {"cohort": str(cohort), "subjects": [s.subject for s in chosen],
                 "simulated": all(s.simulated for s in chosen), "models": config["models"],
                 "niqe_model": niqe_note, "ssim_convention": ssim_note},
        "conventions": CONVENTIONS,
        "tables": all_tables(per_subject),
        "subjects": per_subject,
    }
    for method, reference in COMPARISONS:
        path = plots.agreement_figure(per_subject, results["tables"]["agreement"], method, reference,
                                      output / "figures" / f"agreement_{method}_vs_{reference}.png")
        if path:
            figures[f"agreement_{method}_vs_{reference}"] = path
    results["figures"] = {name: str(path.relative_to(output)) for name, path in figures.items()}
    with atomic_path(output / "results.json") as tmp:
        tmp.write_text(to_json(results))
    with atomic_path(output / "report.html") as tmp:
        tmp.write_text(html.render(results, figures), encoding="utf-8")
    return results


def _example_figure(files: SubjectFiles, volumes: SubjectVolumes, path: Path) -> None:
    shown: dict[str, dict[MapKind, QuantMap]] = {
        m: volumes.methods[m] for m in ("fast", "bicubic", "DL", "routine") if m in volumes.methods}
    plots.example_figure(shown, volumes.lesion_labels, f"{files.subject} ({files.group or 'subject'}): "
                         "fast | bicubic | DL | routine, and DL − routine", path)


def to_json(value: object) -> str:
    """Strict JSON: NaN / ±inf (a measurement that does not exist) become null."""
    return json.dumps(_finite(value), indent=1, allow_nan=False)


def _finite(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value
