"""What ``quantsr view PATH`` shows: the studies in PATH and, per study, which file holds which map of which
protocol (fast, DL, routine, truth, ...). Only headers are read here; voxels are read when a study is opened.

PATH may be
- a report cohort (``manifest.csv``, as ``quantsr simulate`` writes): one study per subject;
- a ``quantsr batch`` output folder (sub-folders with ``quantsr-study.json``): one study per sub-folder,
  paired with the batch input's folder of the same name when ``inputs`` is given;
- one study folder (DICOM series and / or NRRD / NIfTI maps anywhere below it, e.g. a simulated subject, a
  ``quantsr demo`` folder, or a ``quantsr sr`` output folder with its fast study given as ``inputs``);
- a folder of study folders (the same map of the same protocol found twice): one study per sub-folder.

A map's protocol comes from the words of its series description, file name or folders below PATH (fast,
routine, DL, bicubic, linear, truth) or the ``quantsr_method`` of a QuantSR output; maps that name none are the
fast scan, or, when two unnamed grids are present, the coarser is fast and the finer routine."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError
from ..kinddetect import kind_from_words, tokens
from ..mapkinds import QUANT_KINDS, MapKind
from ..methods import METHODS, method_label
from ..volume import QuantMap

if TYPE_CHECKING:
    from ..io.dicom_read import SeriesInfo

log = logging.getLogger("quantsr.view")

#: Display order; the middle comparison view shows the first SR method present.
PROTOCOLS = ("fast", "DL", "bicubic", "linear", "routine", "truth")
SR_METHODS = tuple(method_label(m) for m in METHODS)  # "DL", "bicubic", "linear"
_WORDS = {"FAST": "fast", "ROUTINE": "routine", "TRUTH": "truth", "DL": "DL", "BICUBIC": "bicubic",
          "LINEAR": "linear"}
_METHOD_KEY = {m: method_label(m) for m in METHODS}  # a file's recorded method → its protocol
_NOT_MAPS = {"DEVIATION", "LABELS", "LABEL", "MASK", "SEG"}  # trust maps, label maps: never shown as a map
BATCH_MARKER = "quantsr-study.json"  # quantsr.batch.COMPLETE_MARKER (not imported: batch pulls in torch)


@dataclass
class MapSource:
    """One map on disk: an image file, or one DICOM series (``series`` from ``quantsr.io.dicom_read.scan``)."""

    kind: MapKind
    path: Path
    named: str | None  # the protocol its words name (None: guessed from the grid, see _assign)
    matrix: int  # in-plane rows: tells fast (coarser) from routine when no word names the protocol
    series: SeriesInfo | None = None
    protocol: str | None = None  # named, guessed, or None (not shown)

    def label(self) -> str:
        return str(self.path) if self.series is None else f"{self.path} ({self.series.label()})"

    def read(self) -> QuantMap:
        if self.series is not None:
            from ..io.dicom_read import read_series

            return read_series(self.series, self.kind)
        from ..io.images import read_image

        return read_image(self.path, self.kind)


@dataclass
class Study:
    name: str
    maps: dict[str, dict[MapKind, MapSource]] = field(default_factory=dict)  # protocol → kind → source
    notes: list[str] = field(default_factory=list)  # what was skipped or guessed, shown with the study
    boxes: Path | None = None  # a cohort's ROIS csv (ROI boxes drawn for this subject)

    @property
    def protocols(self) -> list[str]:
        return [p for p in PROTOCOLS if p in self.maps] + [p for p in self.maps if p not in PROTOCOLS]

    def read(self) -> tuple[dict[str, dict[MapKind, QuantMap]], list[str]]:
        """Every map's voxels; a map that cannot be read is left out and named in the returned problems
        (InputError only when nothing at all could be read)."""
        maps: dict[str, dict[MapKind, QuantMap]] = {}
        problems = []
        for protocol in self.protocols:
            for kind, source in self.maps[protocol].items():
                try:
                    maps.setdefault(protocol, {})[kind] = source.read()
                except InputError as exc:
                    problems.append(f"{protocol} {kind.value} not shown: {exc}")
        if not maps:
            raise InputError(f"no map of study {self.name} could be read: " + "; ".join(problems))
        return maps, problems


@dataclass
class Catalog:
    root: Path
    layout: str  # "cohort", "batch output", "study", "studies"
    studies: list[Study]


def open_catalog(path: str | Path, inputs: str | Path | None = None) -> Catalog:
    """The studies at ``path`` (see the module docstring); ``inputs`` is the fast study (or batch input
    root) a ``quantsr sr`` / ``quantsr batch`` output was made from."""
    root = Path(path)
    extra = Path(inputs) if inputs is not None else None
    if not root.exists():
        raise InputError("no such file or folder", root)
    if extra is not None and not extra.exists():
        raise InputError("no such file or folder (given with --inputs)", extra)
    if (root / "manifest.csv").is_file():
        return Catalog(root, "cohort", _cohort_studies(root))
    if root.is_dir():
        outputs = sorted(p for p in root.iterdir() if (p / BATCH_MARKER).is_file())
        if outputs:
            studies = [_study(p.name, [p, *([extra / p.name] if extra and (extra / p.name).is_dir() else [])])
                       for p in outputs]
            if extra is not None:
                for study in studies:
                    if not any(s.protocol == "fast" for m in study.maps.values() for s in m.values()):
                        study.notes.append(f"no study {study.name} under {extra}: fast scan not shown")
            return Catalog(root, "batch output", studies)
    roots = [root, *([extra] if extra is not None else [])]
    sources, notes = _collect(roots)
    study = Study(root.name or str(root), notes=notes)
    duplicates = _assign(study, sources)
    if not duplicates:
        if not study.maps:
            raise InputError("holds no T1, T2 or PD map (DICOM series or NRRD / NIfTI files)", root)
        return Catalog(root, "study", [study])
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else []
    if len(folders) < 2:
        raise InputError(f"holds several maps of the same kind and protocol ({'; '.join(duplicates)}) and no "
                         "study sub-folders to tell them apart", root)
    studies = []
    for folder in folders:
        inside = [s for s in sources if folder in s.path.parents or s.path == folder]
        if not inside:
            continue
        study = Study(folder.name, notes=[n for n in notes if str(folder) in n])
        for repeated in _assign(study, inside):
            study.notes.append(f"found twice, the first is shown: {repeated}")
        studies.append(study)
    return Catalog(root, "studies", studies)


def _cohort_studies(root: Path) -> list[Study]:
    """One study per manifest subject (the report's own reader), each map file or DICOM folder scanned for
    its source; the subject's ROIS boxes come along."""
    from ..report.cohort import read_cohort

    studies = []
    for subject in read_cohort(root):
        study = Study(subject.subject, boxes=subject.extras.get("ROIS"))
        for protocol_name, by_kind in subject.maps.items():
            protocol = _METHOD_KEY.get(protocol_name, protocol_name)
            for kind, path in by_kind.items():
                sources, notes = _collect([path])
                study.notes.extend(notes)
                chosen = next((s for s in sources if s.kind is kind), sources[0] if len(sources) == 1 else None)
                if chosen is None:
                    study.notes.append(f"{protocol} {kind.value}: no {kind.value} map at {path}")
                    continue
                chosen.kind, chosen.named, chosen.protocol = kind, protocol, protocol  # the manifest is explicit
                study.maps.setdefault(protocol, {})[kind] = chosen
        studies.append(study)
    return studies


def _study(name: str, roots: Sequence[Path]) -> Study:
    sources, notes = _collect(roots)
    study = Study(name, notes=notes)
    for repeated in _assign(study, sources):
        study.notes.append(f"found twice, the first is shown: {repeated}")
    return study


def _collect(roots: Iterable[Path]) -> tuple[list[MapSource], list[str]]:
    """Every T1 / T2 / PD map under ``roots``: DICOM series (headers only) and NRRD / NIfTI / MHA files."""
    sources: list[MapSource] = []
    notes: list[str] = []
    from ..io.outputs import image_suffix

    for root in roots:
        sources.extend(_image_sources(root))
        if not (root.is_file() and image_suffix(root)):
            sources.extend(_dicom_sources(root, notes))
    return sources, notes


def _image_sources(root: Path) -> list[MapSource]:
    from ..io.outputs import image_suffix

    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    found = []
    for file in files:
        suffix = image_suffix(file)
        if not suffix or file.name.startswith("."):
            continue
        stem = file.name[: -len(suffix)]
        if _NOT_MAPS.intersection(tokens(stem)):
            continue
        kind, method, matrix = _image_header(file)
        kind = kind or kind_from_words(stem) or MapKind.UNKNOWN
        if kind not in QUANT_KINDS:
            continue
        protocol = _METHOD_KEY.get(method or "") or _protocol_from_words(stem, *_folders(file, root))
        found.append(MapSource(kind, file, protocol, matrix))
    return found


def _image_header(path: Path) -> tuple[MapKind | None, str | None, int]:
    """(kind, QuantSR method, in-plane rows) from the file's header alone."""
    import SimpleITK as sitk

    from ..io.images import KIND_KEY, METHOD_KEY

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return None, None, 0
    keys = set(reader.GetMetaDataKeys())
    kind = None
    if KIND_KEY in keys:
        try:
            kind = MapKind.parse(reader.GetMetaData(KIND_KEY))
        except ValueError:
            kind = None
    method = reader.GetMetaData(METHOD_KEY) if METHOD_KEY in keys else None
    size = reader.GetSize()
    return kind, method, int(size[1]) if len(size) > 1 else 0


def _dicom_sources(root: Path, notes: list[str]) -> list[MapSource]:
    from ..io.dicom_read import scan

    try:
        discovery = scan(root)
    except InputError as exc:
        if "no DICOM files" not in str(exc):  # a folder of NRRD files only is fine
            notes.append(str(exc))
        return []
    for file, reason in discovery.problems:
        notes.append(f"{file}: skipped: {reason}")
    found = []
    for info in discovery.series:
        if info.problem:
            notes.append(f"{info.problem_path or root}: series {info.label()} skipped: {info.problem}")
            continue
        if not info.is_map:
            continue
        folder = info.files[0].parent
        protocol = _protocol_from_words(info.description, *_folders(info.files[0], root))
        found.append(MapSource(info.kind, folder, protocol, _dicom_rows(info.files[0]), info))
    return found


def _dicom_rows(file: Path) -> int:
    import pydicom

    try:
        return int(pydicom.dcmread(file, stop_before_pixels=True, specific_tags=["Rows"]).get("Rows", 0) or 0)
    except Exception:  # the series was readable a moment ago; a missing size only weakens the fast/routine guess
        return 0


def _folders(file: Path, root: Path) -> list[str]:
    """Folder names between ``root`` and the file, nearest first. Not ``root``'s own name: a user's folder
    called "fast_vs_routine" (or pytest's tmp folder of a test named ..._fast_...) says nothing per map."""
    names: list[str] = []
    for parent in file.parents:
        if parent == root or root not in parent.parents:
            break
        names.append(parent.name)
    return names


def _protocol_from_words(*texts: str) -> str | None:
    """The first protocol word in ``texts`` (checked in order: description or file name, then folders)."""
    for text in texts:
        for word in tokens(text):
            if word in _WORDS:
                return _WORDS[word]
    return None


def _assign(study: Study, sources: Sequence[MapSource]) -> list[str]:
    """Put each source under its protocol in ``study``; unnamed grids become fast (coarsest) and routine.
    Returns "protocol kind: A and B" for every (protocol, kind) found twice (the first is kept)."""
    for source in sources:
        source.protocol = source.named
    unnamed = [s for s in sources if s.protocol is None]
    if unnamed:
        matrices = sorted({s.matrix for s in unnamed})
        taken = {s.named for s in sources}
        guesses = ["fast", "routine"] if len(matrices) == 2 else ["fast"] if len(matrices) == 1 else []
        guesses = [g for g in guesses if g not in taken]
        for matrix, guess in zip(matrices, guesses, strict=False):
            for source in unnamed:
                if source.matrix == matrix:
                    source.protocol = guess
        for source in unnamed:
            if source.protocol is None:
                study.notes.append(f"{source.label()}: no protocol word (fast, routine, DL, ...): not shown")
            else:
                study.notes.append(f"{source.kind.value} at {source.path} taken as the {source.protocol} scan "
                                   "(no protocol in its name)")
    duplicates = []
    for source in sources:
        if source.protocol is None:
            continue
        slot = study.maps.setdefault(source.protocol, {})
        if source.kind in slot:
            duplicates.append(f"{source.protocol} {source.kind.value}: {slot[source.kind].label()} and "
                              f"{source.label()}")
            continue
        slot[source.kind] = source
    return duplicates
