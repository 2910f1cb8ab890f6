"""Write one map to its target: an image file (NRRD/NIfTI/MHA) or a DICOM series folder."""

from __future__ import annotations

from pathlib import Path

from .. import __version__
from ..envelope import WARNING_KEY
from ..methods import DL, method_label
from ..volume import QuantMap
from .outputs import image_suffix


def write_map(qmap: QuantMap, target: Path, derived_from: QuantMap | None = None, layout: str = "same") -> Path:
    """Write one (super-resolved) map to ``target``, atomically.

    Args:
        qmap: the map in physical units; its metadata's method, model and envelope warning are recorded.
        target: an image file (the suffix picks NRRD / NIfTI / MHA) or else a DICOM series folder.
        derived_from: the map it was computed from (DICOM: its study, frame of reference and source images are
            referenced).
        layout: DICOM only: "classic" (a file per slice), "enhanced" (one Enhanced MR object) or "same" (the
            source's layout).

    Returns:
        ``target``.
    """
    if image_suffix(target):
        from .images import write_image

        write_image(qmap, target)
        return target
    from .dicom_write import StudyContext, write_series

    source_meta = (derived_from or qmap).metadata
    if layout == "same":
        layout = str(source_meta.get("dicom_layout", "classic"))
    warning = str(qmap.metadata.get(WARNING_KEY, "") or "")
    method = qmap.metadata.get("method", DL)
    model = qmap.metadata.get("model", method)
    write_series(
        qmap,
        target,
        context=StudyContext.from_metadata(source_meta),
        series_description=f"QuantSR {qmap.kind.value} map ({method_label(method)})",
        series_number=int(source_meta.get("series_number", 0) or 0) + 900,
        protocol=method,
        derived_from=derived_from,
        derivation_description=f"QuantSR {__version__} ×2 super-resolution, {model}"
        + (f". WARNING: {warning}" if warning else ""),
        comments=warning,
        enhanced=layout == "enhanced",
    )
    return target
