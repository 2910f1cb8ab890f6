"""One saved label map (lesions drawn once, in physical space) measured on several studies: the per-ROI
statistics of every protocol's maps in one CSV, a failing study reported and skipped (the Slicer module's
``batch_measure`` for the Python console)."""

from __future__ import annotations

import logging
from pathlib import Path

from .batch import StudyResult, summary_table
from .errors import QuantSRError
from .io.images import read_image
from .io.loader import load_maps
from .mapkinds import MapKind
from .roi import RoiStats, measure_labels, write_stats_csv

log = logging.getLogger("quantsr.roibatch")


def batch_measure(labels_path: str | Path, studies: dict[str, dict[str, str | Path]],
                  csv_path: str | Path) -> tuple[list[RoiStats], list[StudyResult]]:
    """Measure one label map on several studies.

    Args:
        labels_path: the label map (NRRD / NIfTI / .seg.nrrd labelmap; label value n is "ROI n"), carried to
            each map's grid by physical position.
        studies: per study name, {protocol: path} of its maps (DICOM folder or file, NRRD, NIfTI), e.g.
            {"patient01": {"fast": ".../fast", "DL": ".../dl", "routine": ".../routine"}}.
        csv_path: the CSV written (atomically) with every row.

    Returns:
        The rows (``description`` = the study's name; mean / SD / median in the map's unit, volume in mm³) and
        one :class:`~quantsr.batch.StudyResult` per study ("done" or "failed" with the reason).
    """
    labels = read_image(labels_path, kind=MapKind.UNKNOWN)
    results: list[StudyResult] = []
    rows: list[RoiStats] = []
    for study, protocols in studies.items():
        try:
            volumes = {protocol: load_maps(path) for protocol, path in protocols.items()}
            for row in measure_labels(labels, volumes):
                row.description = study
                rows.append(row)
            results.append(StudyResult(study, "done"))
        except QuantSRError as exc:
            results.append(StudyResult(study, "failed", str(exc)))
            log.error("%s: %s", study, exc)
    write_stats_csv(rows, csv_path)
    log.info(summary_table(results))
    return rows, results
