"""NRRD / NIfTI / MHA maps through SimpleITK, with the map kind kept in the file's metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..envelope import WARNING_KEY
from ..errors import InputError, OutputError
from ..kinddetect import kind_from_values, kind_from_words
from ..mapkinds import MapKind
from ..volume import QuantMap
from .atomic import atomic_path
from .outputs import image_suffix

KIND_KEY = "quantsr_kind"
METHOD_KEY = "quantsr_method"


def read_image(path: str | Path, kind: MapKind | None = None) -> QuantMap:
    """Read a map in physical units; the kind is ``kind`` if given, else the file's ``quantsr_kind``
    entry, a T1/T2/PD word in its name, or its value range.

    Args:
        path: an NRRD, NIfTI or MHA file (2-D or 3-D, scalar).
        kind: the map kind; None: from the file as above.

    Returns:
        float32 (slices, rows, columns) as stored (QuantSR writes ms / %), geometry converted to LPS by
        SimpleITK.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path)
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
        raise InputError(f"not a readable NRRD/NIfTI/MHA image ({reason})", path) from None
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            f"has {image.GetNumberOfComponentsPerPixel()} components per voxel (colour or vector image); "
            "a quantitative map has one",
            path,
        )
    if image.GetDimension() not in (2, 3):
        raise InputError(f"is a {image.GetDimension()}-D image; QuantSR reads 2-D or 3-D maps", path)
    qmap = QuantMap.from_sitk(image, metadata={"source_path": str(path)})
    bad = ~np.isfinite(qmap.array)
    if bad.any():
        raise InputError(f"contains {int(bad.sum())} NaN/Inf voxels; a map must be finite", path)
    negative = int((qmap.array < 0).sum())
    if negative:
        qmap.metadata["negative_voxels"] = negative
    stored = image.GetMetaData(KIND_KEY) if image.HasMetaDataKey(KIND_KEY) else ""
    if image.HasMetaDataKey(METHOD_KEY):
        qmap.metadata["method"] = image.GetMetaData(METHOD_KEY)
    if image.HasMetaDataKey(WARNING_KEY):
        qmap.metadata["source_" + WARNING_KEY] = image.GetMetaData(WARNING_KEY)
    qmap.kind = kind or _detect(stored, path, qmap.array)
    return qmap


def _detect(stored: str, path: Path, array: np.ndarray) -> MapKind:
    if stored:
        try:
            return MapKind.parse(stored)
        except ValueError:
            pass
    name = path.name[: -len(image_suffix(path) or "")] if image_suffix(path) else path.stem
    return kind_from_words(name) or kind_from_values(array) or MapKind.UNKNOWN


def write_image(qmap: QuantMap, path: str | Path) -> Path:
    """Write ``qmap`` (float32, physical units) atomically; the kind goes into the header.

    Args:
        qmap: the map; its kind, method, model and envelope warning are written as header entries.
        path: ``.nrrd``, ``.nii.gz``, ``.nii`` or ``.mha`` (the format follows the suffix).

    Returns:
        ``path``.
    """
    path = Path(path)
    suffix = image_suffix(path)
    if suffix is None:
        raise OutputError("unknown image format: use .nrrd, .nii.gz, .nii or .mha", path)
    image = qmap.to_sitk()
    image.SetMetaData(KIND_KEY, qmap.kind.value)
    if "method" in qmap.metadata:
        image.SetMetaData(METHOD_KEY, str(qmap.metadata["method"]))
    if qmap.metadata.get(WARNING_KEY):  # outside the model's training envelope: say so in the file
        image.SetMetaData(WARNING_KEY, str(qmap.metadata[WARNING_KEY]))
    with atomic_path(path, suffix=suffix) as tmp:
        try:
            sitk.WriteImage(image, str(tmp), useCompression=True)
        except RuntimeError as exc:
            raise OutputError(f"cannot write image ({str(exc).strip().splitlines()[-1]})", path) from None
    return path
