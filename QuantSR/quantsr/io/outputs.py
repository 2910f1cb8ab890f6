"""Where SR outputs go: one file per map (NRRD / NIfTI / MHA) or one DICOM series folder per map."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import OutputError
from ..methods import method_label
from ..volume import QuantMap

IMAGE_SUFFIXES = (".nrrd", ".nhdr", ".nii.gz", ".nii", ".mha", ".mhd")
FORMATS = ("nrrd", "nifti", "dicom")
_FORMAT_SUFFIX = {"nrrd": ".nrrd", "nifti": ".nii.gz"}


def image_suffix(path: Path) -> str | None:
    """The image-file suffix of ``path`` (".nrrd", ".nii.gz", ...), None for anything else (a DICOM folder)."""
    name = path.name.lower()
    return next((s for s in IMAGE_SUFFIXES if name.endswith(s)), None)


def plan_outputs(output: Path, maps: Sequence[QuantMap], method: str, fmt: str | None) -> list[Path]:
    """One target per map: a file, or (DICOM / folder output) a sub-folder or file inside ``output``."""
    suffix = image_suffix(output)
    if fmt is None:
        fmt = "nifti" if suffix and suffix.startswith(".nii") else "nrrd"
    if fmt not in FORMATS:
        raise OutputError(f"unknown output format {fmt!r}: expected one of {', '.join(FORMATS)}")
    tag = method_label(method)  # T1_DL.nrrd, T1_bicubic/
    if fmt == "dicom":
        if suffix:
            raise OutputError("DICOM output needs a folder, not a file name", output)
        return [output / f"{m.kind.value}_{tag}" for m in maps]
    if suffix:
        if len(maps) == 1:
            return [output]
        stem = output.name[: -len(suffix)]
        return [output.with_name(f"{stem}_{m.kind.value}{suffix}") for m in maps]
    return [output / f"{m.kind.value}_{tag}{_FORMAT_SUFFIX[fmt]}" for m in maps]


def check_not_inside_inputs(targets: Sequence[Path], inputs: Sequence[Path]) -> None:
    """Refuse to write into (or over) an input: inputs are never modified."""
    for target in targets:
        resolved = target.resolve()
        for source in inputs:
            src = source.resolve()
            if resolved == src or (src.is_dir() and src in resolved.parents):
                raise OutputError(f"output would be written inside the input {source}; choose another place", target)
