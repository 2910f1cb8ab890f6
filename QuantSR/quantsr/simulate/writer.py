"""Write simulated subjects as a cohort folder: scanner-style DICOM per map and protocol, the truth and
lesion labels as NRRD, and a manifest describing every file.

Layout (paths in the manifest are relative to the cohort folder)::

    cohort.json                     how the cohort was made (seed, counts, protocols, version)
    manifest.csv                    subject, group, map, protocol, format, path
    sub-001/dicom/{fast,routine}/{T1,T2,PD}/IM0001.dcm ...
    sub-001/truth/{T1,T2,PD,B1,GM,WM,CSF,labels}.nrrd
    sub-001/lesions.csv             label, kind, centre, radii and true values of every lesion
    sub-001/subject.json            this subject's manifest rows (a subject folder appears complete or not at all)
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import OutputError
from ..io.atomic import atomic_directory, atomic_path
from ..io.dicom_write import AcquisitionInfo, StudyContext, write_series
from ..io.images import write_image
from ..mapkinds import QUANT_KINDS
from ..protocols import PROTOCOLS
from .lesions import Lesion
from .subject import SimulatedSubject

MANIFEST_FIELDS = ("subject", "group", "map", "protocol", "format", "path")
SERIES_NUMBERS = {"fast": 100, "routine": 200}


@dataclass
class ManifestRow:
    """One line of a cohort's ``manifest.csv``: a map (T1 / T2 / PD, or LABELS, LESIONS, ...) of one subject
    and protocol, its format (dicom, nrrd, csv) and its path relative to the cohort folder."""

    subject: str
    group: str
    map: str
    protocol: str
    format: str
    path: str


def write_subject(subject: SimulatedSubject, cohort_dir: Path, group: str) -> list[ManifestRow]:
    """Write one subject folder atomically; returns its manifest rows."""
    target = Path(cohort_dir) / subject.subject_id
    context = StudyContext.new(
        patient_id=f"QSR-SIM-{subject.seed}",
        patient_name=f"Simulated^{subject.subject_id}",
        seed=f"{subject.seed}",
        study_description="Synthetic MRI (QuantSR simulation)",
        patient_sex="O",
    )
    rows: list[ManifestRow] = []
    with atomic_directory(target) as tmp:
        for protocol_name, maps in subject.maps.items():
            protocol = PROTOCOLS[protocol_name]
            for offset, kind in enumerate(QUANT_KINDS, start=1):
                folder = tmp / "dicom" / protocol_name / kind.value
                write_series(
                    maps[kind], folder, context,
                    series_description=f"MAGiC {kind.value} map ({protocol_name})",
                    series_number=SERIES_NUMBERS.get(protocol_name, 300) + offset,
                    protocol=protocol_name,
                    acquisition=AcquisitionInfo(acquisition_matrix=protocol.acquisition_matrix,
                                                acceleration=protocol.acceleration,
                                                protocol_name=f"MDME {protocol_name} {protocol.scan_time}"),
                    seed=f"{subject.seed}-{protocol_name}",
                )
                rows.append(_row(subject, group, kind.value, protocol_name, "dicom", folder, tmp))
        truth_dir = tmp / "truth"
        for kind, qmap in subject.truth.items():
            rows.append(_row(subject, group, kind.value, "truth", "nrrd",
                             write_image(qmap, truth_dir / f"{kind.value}.nrrd"), tmp))
        extras = {"B1": subject.b1, **subject.fractions, "LABELS": subject.labels}
        for name, qmap in extras.items():
            path = write_image(qmap, truth_dir / f"{name if name != 'LABELS' else 'labels'}.nrrd")
            rows.append(_row(subject, group, name, "truth", "nrrd", path, tmp))
        write_lesion_table(subject.lesions, tmp / "lesions.csv")
        rows.append(_row(subject, group, "LESIONS", "truth", "csv", tmp / "lesions.csv", tmp))
        (tmp / "subject.json").write_text(json.dumps({
            "subject": subject.subject_id, "group": group, "seed": subject.seed,
            "anatomy": subject.folding.as_dict() if subject.folding else "mni",
            "lesions": [lesion.as_row() for lesion in subject.lesions],
            "rows": [row.__dict__ for row in rows],
        }, indent=1))
    return rows


def _row(subject: SimulatedSubject, group: str, map_name: str, protocol: str, fmt: str, path: Path,
         root: Path) -> ManifestRow:
    return ManifestRow(subject.subject_id, group, map_name, protocol, fmt,
                       str(Path(subject.subject_id) / Path(path).relative_to(root)))


def write_lesion_table(lesions: list[Lesion], path: Path) -> Path:
    """``lesions.csv``: label, kind, centre and radii (mm, LPS), T1 / T2 (ms), PD (%), seed and location."""
    fields = ["label", "kind", "centre_mm", "radii_mm", "t1_ms", "t2_ms", "pd_pct", "seed", "location"]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for lesion in lesions:
            row = lesion.as_row()
            writer.writerow({k: (f"{row[k]:.2f}" if isinstance(row[k], float) else row[k]) for k in fields})
    return path


def read_subject_rows(subject_dir: Path, seed: int) -> list[ManifestRow] | None:
    """The rows of a finished subject folder, or ``None`` if it is missing; a folder simulated from
    another seed is an error (it would silently mix two cohorts)."""
    info = subject_dir / "subject.json"
    if not info.is_file():
        return None
    data = json.loads(info.read_text())
    if data.get("seed") != seed:
        raise OutputError(f"was simulated with seed {data.get('seed')}, not {seed}: use an empty output folder",
                          subject_dir)
    return [ManifestRow(**row) for row in data["rows"]]


def write_manifest(rows: list[ManifestRow], cohort_dir: Path, description: dict) -> Path:
    """``manifest.csv`` (the rows) and ``cohort.json`` (``description`` and the QuantSR version), atomically;
    returns the manifest's path."""
    cohort_dir = Path(cohort_dir)
    with atomic_path(cohort_dir / "manifest.csv") as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow(row.__dict__)
    with atomic_path(cohort_dir / "cohort.json") as tmp:
        tmp.write_text(json.dumps({"quantsr_version": __version__, **description}, indent=1, default=_plain))
    return cohort_dir / "manifest.csv"


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
