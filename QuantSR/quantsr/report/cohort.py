"""Which subjects a report covers and where each one's files are, from a cohort's ``manifest.csv``.

The simulator writes this manifest; users with their own paired data write one by hand. Columns:
``subject, group, map, protocol, format, path`` (paths relative to the cohort folder). Rows the report uses:

- ``map`` T1 / T2 / PD with ``protocol`` fast and routine (required), ``dl`` (optional: precomputed DL maps
  instead of running a model) and ``truth`` (simulated cohorts);
- ``LABELS`` (lesion label map, any grid) and ``LESIONS`` (csv: label, kind) — lesion ROIs; ``ROIS`` (csv of
  boxes: roi, [kind,] x_mm, y_mm, z_mm, size_x_mm, size_y_mm, size_z_mm in DICOM patient coordinates, LPS) —
  more lesion ROIs, drawn as boxes;
- ``TISSUES`` (a tissue label map: 1 CSF, 2 GM, 3 WM, e.g. from SPM or FreeSurfer) — used instead of the
  classification of the routine maps;
- ``REGIONS`` (a region label map in the subject's space) with optional ``REGION_NAMES`` (csv: index, name);
- ``GM`` / ``WM`` / ``CSF`` (truth tissue fractions: used to check the tissue classification)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..mapkinds import QUANT_KINDS, MapKind

REQUIRED_COLUMNS = ("subject", "map", "protocol", "path")


@dataclass
class SubjectFiles:
    subject: str
    group: str
    maps: dict[str, dict[MapKind, Path]] = field(default_factory=dict)  # protocol → kind → path
    extras: dict[str, Path] = field(default_factory=dict)  # LABELS, LESIONS, REGIONS, GM, ...
    seed: int | None = None  # simulated subjects: lets the atlas be warped without re-simulating

    @property
    def simulated(self) -> bool:
        return MapKind.T1 in self.maps.get("truth", {})


def read_cohort(cohort: str | Path) -> list[SubjectFiles]:
    """Every subject of ``cohort`` that has fast and routine T1, T2 and PD maps, in manifest order."""
    cohort = Path(cohort)
    manifest = cohort / "manifest.csv"
    if not manifest.is_file():
        raise InputError("has no manifest.csv (write one with columns subject, group, map, protocol, path)", cohort)
    with open(manifest, newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = [c for c in REQUIRED_COLUMNS if rows and c not in rows[0]]
    if not rows or missing:
        raise InputError(f"needs the columns {', '.join(REQUIRED_COLUMNS)}" + (f" (missing {missing})" if missing
                                                                                 else " and at least one row"),
                         manifest)
    subjects: dict[str, SubjectFiles] = {}
    for row in rows:
        name = row["subject"].strip()
        entry = subjects.setdefault(name, SubjectFiles(name, (row.get("group") or "").strip()))
        path = cohort / row["path"].strip()
        map_name, protocol = row["map"].strip(), row["protocol"].strip().lower()
        try:
            kind = MapKind.parse(map_name)
        except ValueError:
            kind = MapKind.UNKNOWN
        if kind in QUANT_KINDS:
            entry.maps.setdefault(protocol, {})[kind] = path
        else:
            entry.extras[map_name.upper()] = path
    for entry in subjects.values():
        info = cohort / entry.subject / "subject.json"
        if info.is_file():
            entry.seed = json.loads(info.read_text()).get("seed")
    usable = [s for s in subjects.values() if all(len(s.maps.get(p, {})) == 3 for p in ("fast", "routine"))]
    if not usable:
        raise InputError("lists no subject with fast and routine T1, T2 and PD maps", manifest)
    return usable


def select_subjects(subjects: list[SubjectFiles], names: list[str] | None) -> list[SubjectFiles]:
    if not names:
        return subjects
    by_name = {s.subject: s for s in subjects}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise InputError(f"the cohort has no subject(s) {', '.join(unknown)} with fast and routine maps")
    return [by_name[n] for n in names]
