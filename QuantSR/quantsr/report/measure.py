"""Everything the report measures on one subject: tissue, region and lesion means per method, image
quality against routine, NIQE, and (simulated subjects) how well the tissue classification matches truth.

All masks are defined once on the routine grid and carried to every volume by physical position
(:func:`quantsr.roi.labels_on_grid`), so fast (256²), bicubic, DL and routine are measured on the same
anatomy."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from ..baselines import upsample
from ..geometry import upsampled_like
from ..io.images import read_image
from ..io.loader import load_maps
from ..mapkinds import QUANT_KINDS, MapKind
from ..methods import method_label
from ..niqe import PristineModel, niqe, to_grey
from ..quality import DEFAULT_SSIM_CONVENTION, image_scores
from ..reliability import roi_reliability
from ..roi import box_mask, labels_on_grid, read_roi_boxes, values_on_grid
from ..segment import TISSUE_LABELS, dice, tissue_fractions, tissue_masks
from ..trust import deviation
from ..volume import QuantMap
from .cohort import SubjectFiles

#: Methods in table order. "fast" is measured on its own 256² grid (and pixel-replicated for PSNR/SSIM).
METHODS = ("fast", "bicubic", "DL", "routine")
#: Slices whose routine head fraction is below this are left out of NIQE (mostly background).
NIQE_MIN_HEAD_FRACTION = 0.15

Maps = dict[MapKind, QuantMap]
#: ``SuperResolver.run``: called as ``run(fast_map, guides=the_study's_fast_maps)`` (guide-map models read those)
SuperResolve = Callable[..., QuantMap]


@dataclass
class SubjectVolumes:
    """The loaded and computed volumes of one subject, by method then map kind."""

    methods: dict[str, Maps] = field(default_factory=dict)
    tissue_labels: QuantMap | None = None  # 1 CSF, 2 GM, 3 WM (pure-tissue masks), routine grid
    lesion_labels: QuantMap | None = None
    region_labels: QuantMap | None = None


def load_volumes(files: SubjectFiles, super_resolve: dict[MapKind, SuperResolve] | None) -> SubjectVolumes:
    """fast / routine / truth from disk; bicubic from fast; DL from disk (protocol "dl") or the model."""
    volumes = SubjectVolumes()
    for protocol in ("fast", "routine", "truth", "dl"):
        paths = files.maps.get(protocol, {})
        if len(paths) == 3:
            name = method_label(protocol)
            volumes.methods[name] = {kind: load_maps(paths[kind], kind=kind)[0] for kind in QUANT_KINDS}
    fast = volumes.methods["fast"]
    volumes.methods["bicubic"] = {kind: upsample(fast[kind], 2, "bicubic") for kind in QUANT_KINDS}
    if "DL" not in volumes.methods and super_resolve:
        volumes.methods["DL"] = {kind: super_resolve[kind](fast[kind], guides=fast) for kind in QUANT_KINDS}
    return volumes


def replicate_pixels(fast: QuantMap, scale: int = 2) -> QuantMap:
    """The fast map as a viewer shows it on the routine grid: each pixel repeated (no interpolation)."""
    array = ndimage.zoom(fast.array, (1, scale, scale), order=0, grid_mode=True, mode="nearest")
    return upsampled_like(fast, array.astype(np.float32), scale, metadata=dict(fast.metadata))


def _read_lesion_kinds(path: Path | None) -> dict[int, str]:
    if path is None or not path.is_file():
        return {}
    with open(path, newline="") as handle:
        return {int(row["label"]): row.get("kind", "") for row in csv.DictReader(handle)}


def lesion_rois(files: SubjectFiles, reference: QuantMap) -> tuple[QuantMap | None, dict[int, tuple[str, str]]]:
    """One label map of every lesion ROI on the routine grid — the ``LABELS`` map's labels, then the
    ``ROIS`` boxes — with each label's (ROI name, kind)."""
    names: dict[int, tuple[str, str]] = {}
    labels = np.zeros(reference.shape, np.int32)
    if "LABELS" in files.extras:
        label_map = read_image(files.extras["LABELS"])
        labels = labels_on_grid(label_map, reference)
        kinds = _read_lesion_kinds(files.extras.get("LESIONS"))
        values = sorted(int(v) for v in np.unique(labels) if v > 0)
        names = {v: (f"{files.subject} #{v}", kinds.get(v, "")) for v in values}
    if "ROIS" in files.extras:
        for box in read_roi_boxes(files.extras["ROIS"]):
            value = max(names, default=0) + 1
            labels[box_mask(reference, box["centre"], box["size"])] = value
            names[value] = (f"{files.subject} {box['roi']}", box["kind"])
    if not names:
        return None, {}
    return reference.with_array(labels.astype(np.float32), kind=MapKind.UNKNOWN), names


def lesion_reliability(lesions: QuantMap, values: list[int], measured: dict[str, Maps]
                       ) -> dict[int, dict[str, dict[str, float]]]:
    """Per lesion and map, the trust flag's measures (quantsr.reliability): {"consistency": the signed mean %
    deviation of DL from the fast scan, "precision": the fast scan's standard error of the lesion mean, %,
    "samples": the independent fast-scan samples the lesion holds}."""
    if "DL" not in measured:
        return {}
    out: dict[int, dict[str, dict[str, float]]] = {}
    for kind in QUANT_KINDS:
        dl = measured["DL"][kind]
        trust = deviation(dl, measured["fast"][kind])
        grid = labels_on_grid(lesions, dl)
        for value in values:
            found = roi_reliability(trust, grid == value, dl.array)
            out.setdefault(value, {})[kind.value] = {"consistency": found.consistency_pct,
                                                     "precision": found.precision_pct, "samples": found.samples}
    return out


def _trust_fields(per_map: dict[str, dict[str, float]] | None) -> dict:
    if per_map is None:
        return {}
    return {"dl_consistency_pct": {key: value["consistency"] for key, value in per_map.items()},
            "fast_se_pct": {key: value["precision"] for key, value in per_map.items()},
            "fast_samples": {key: value["samples"] for key, value in per_map.items()}}


def label_means(labels: QuantMap, names: dict[int, str], volumes: dict[str, Maps]) -> dict[str, dict]:
    """{name: {method: {map: mean}}} for every label value in ``names`` present in ``labels``."""
    out: dict[str, dict] = {}
    for method, maps in volumes.items():
        for kind, qmap in maps.items():
            grid = labels_on_grid(labels, qmap)
            for value, name in names.items():
                inside = grid == value
                if inside.any():
                    mean = float(qmap.array[inside].mean(dtype=np.float64))
                    out.setdefault(name, {}).setdefault(method, {})[kind.value] = mean
    return out


def tissue_label_map(routine: Maps, lesions: QuantMap | None, user_labels: QuantMap | None = None
                     ) -> tuple[QuantMap, dict[str, QuantMap] | None]:
    """Pure-tissue masks (1 CSF, 2 GM, 3 WM) classified on the routine maps — or the user's own tissue label
    map (same values, any grid) — with lesion voxels left out. Fractions are None for user labels."""
    reference = routine[MapKind.T1]
    fractions = None
    if user_labels is not None:
        labels = labels_on_grid(user_labels, reference).astype(np.int16)
        labels[~np.isin(labels, list(TISSUE_LABELS))] = 0
    else:
        fractions = tissue_fractions(routine[MapKind.T1], routine[MapKind.T2], routine[MapKind.PD])
        masks = tissue_masks(fractions)
        labels = np.zeros(reference.shape, np.int16)
        for value, name in TISSUE_LABELS.items():
            labels[masks[name]] = value
    if lesions is not None:
        labels[labels_on_grid(lesions, reference) > 0] = 0
    return reference.with_array(labels.astype(np.float32), kind=MapKind.UNKNOWN), fractions


def hard_labels(fractions: dict[str, np.ndarray]) -> np.ndarray:
    """1 CSF, 2 GM, 3 WM by the largest fraction where the three add to more than half a voxel."""
    stacked = np.stack([fractions[name] for name in TISSUE_LABELS.values()])
    return np.where(stacked.sum(axis=0) > 0.5, stacked.argmax(axis=0) + 1, 0)


def classification_dice(fractions: dict[str, QuantMap], files: SubjectFiles,
                        lesions: QuantMap | None = None) -> dict[str, float] | None:
    """Dice of the map-based classification against the phantom's truth (argmax of the true fractions),
    outside lesions: a lesion is none of CSF / GM / WM, whatever tissue it replaced in the phantom."""
    if not all(name in files.extras for name in TISSUE_LABELS.values()):
        return None
    reference = next(iter(fractions.values()))
    truth = {name: values_on_grid(read_image(files.extras[name]), reference) for name in TISSUE_LABELS.values()}
    found = hard_labels({name: qmap.array for name, qmap in fractions.items()})
    expected = hard_labels(truth)
    if lesions is not None:
        outside = labels_on_grid(lesions, reference) == 0
        found, expected = np.where(outside, found, 0), np.where(outside, expected, 0)
    return {name: dice(found == value, expected == value) for value, name in TISSUE_LABELS.items()}


def quality_scores(volumes: dict[str, Maps], ssim_convention: str = DEFAULT_SSIM_CONVENTION) -> dict[str, dict]:
    """PSNR / SSIM (whole image, L = 65535; head, L = norm) of fast (pixel-replicated), bicubic and DL;
    SSIM in ``ssim_convention`` (:data:`quantsr.quality.SSIM_CONVENTIONS`)."""
    out: dict[str, dict] = {}
    routine = volumes["routine"]
    for method in ("fast", "bicubic", "DL"):
        if method not in volumes:
            continue
        for kind in QUANT_KINDS:
            test = volumes[method][kind]
            if method == "fast":
                test = replicate_pixels(test)
            if not test.same_geometry(routine[kind]):
                continue  # user data on another grid: image scores need voxel-wise pairs
            scores = image_scores(test.array, routine[kind].array, kind.norm_physical, ssim_convention)
            out.setdefault(method, {})[kind.value] = dict(scores.__dict__)
    return out


def niqe_scores(volumes: dict[str, Maps], models: dict[MapKind, PristineModel]) -> dict[str, dict]:
    """Mean NIQE over the slices that hold head, per method at its own resolution (fast at 256²)."""
    out: dict[str, dict] = {}
    for kind in QUANT_KINDS:
        head_fraction = (volumes["routine"][kind].array > 0).mean(axis=(1, 2))
        slices = np.flatnonzero(head_fraction >= NIQE_MIN_HEAD_FRACTION)
        for method in METHODS:
            if method not in volumes:
                continue
            array = volumes[method][kind].array
            values = [niqe(to_grey(array[k], kind.norm_physical), models[kind]) for k in slices]
            out.setdefault(method, {})[kind.value] = float(np.mean(values)) if values else float("nan")
    return out


def measure_subject(
    files: SubjectFiles,
    volumes: SubjectVolumes,
    niqe_models: dict[MapKind, PristineModel],
    regions: tuple[QuantMap, dict[int, str]] | None,
    ssim_convention: str = DEFAULT_SSIM_CONVENTION,
) -> dict:
    """The JSON-ready measurements of one subject (see the module docstring)."""
    measured = {m: volumes.methods[m] for m in (*METHODS, "truth") if m in volumes.methods}
    routine = measured["routine"]
    lesions, lesion_names = lesion_rois(files, routine[MapKind.T1])
    user_tissues = read_image(files.extras["TISSUES"]) if "TISSUES" in files.extras else None
    tissue_labels, fractions = tissue_label_map(routine, lesions, user_tissues)
    volumes.tissue_labels, volumes.lesion_labels = tissue_labels, lesions
    result: dict = {"subject": files.subject, "group": files.group, "methods": sorted(measured),
                    "tissue_source": "user labels" if user_tissues is not None else "classified (routine maps)"}
    result["tissue"] = label_means(tissue_labels, TISSUE_LABELS, measured)
    result["tissue_voxels"] = {name: int((tissue_labels.array == value).sum()) for value, name in TISSUE_LABELS.items()}
    result["classification_dice"] = classification_dice(fractions, files, lesions) if fractions else None
    if regions is not None:
        region_map, names = regions
        # Regions are measured in parenchyma only (classified GM or WM, no lesion): an atlas region's CSF
        # and partial-volume edge would otherwise dominate T1 / T2 means.
        parenchyma = np.isin(labels_on_grid(tissue_labels, region_map), (2, 3))
        region_labels = region_map.with_array(np.where(parenchyma, region_map.array, 0).astype(np.float32))
        volumes.region_labels = region_labels
        result["regions"] = label_means(region_labels, names, measured)
    if lesions is not None:
        names = {v: name for v, (name, _kind) in lesion_names.items()}
        means = label_means(lesions, names, measured)
        voxels = {v: int((np.rint(lesions.array) == v).sum()) for v in names}
        reliability = lesion_reliability(lesions, list(names), measured)
        result["lesions"] = [
            {"roi": names[v], "subject": files.subject, "label": v, "kind": lesion_names[v][1], "voxels": voxels[v],
             "values": means[names[v]], **_trust_fields(reliability.get(v))}
            for v in names if names[v] in means
        ]
    result["quality"] = quality_scores(measured, ssim_convention)
    result["niqe"] = niqe_scores(measured, niqe_models)
    return result
