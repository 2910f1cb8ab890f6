"""Super-resolution in a child Python process (as SlicerTotalSegmentator does): the panel polls it from a
timer, so Slicer's GUI thread never runs the model, a crash or an out-of-memory cannot take Slicer down, and
Cancel simply ends the process. No threads: the child reports progress through a small JSON file."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import slicer

if TYPE_CHECKING:
    from quantsr.mapkinds import MapKind

    from .logic import QuantSRSceneLogic

WORKER = Path(__file__).with_name("worker.py")


@dataclass
class TaskState:
    done: int = 0
    total: int = 0
    status: str = "running"  # running, done, failed, cancelled
    message: str = ""

    @property
    def finished(self) -> bool:
        return self.status != "running"


def python_executable() -> str:
    """Slicer's own Python launcher (PythonSlicer) inside Slicer; this interpreter elsewhere (tests)."""
    return shutil.which("PythonSlicer") or sys.executable


def save_map(qmap, path: Path) -> None:
    """A QuantMap as an uncompressed .npz: exact voxels and geometry, no SimpleITK round trip."""
    np.savez(path, array=qmap.array, origin=np.asarray(qmap.origin, float), spacing=np.asarray(qmap.spacing, float),
             direction=np.asarray(qmap.direction, float), kind=np.array(qmap.kind.value))


def load_map(path: Path):
    from quantsr.mapkinds import MapKind
    from quantsr.volume import QuantMap

    with np.load(path) as data:
        return QuantMap(data["array"], origin=tuple(data["origin"]), spacing=tuple(data["spacing"]),
                        direction=data["direction"], kind=MapKind.parse(str(data["kind"])))


class SRTask:
    """One Apply: inputs written to a temporary folder, the worker started, polled, then outputs added to the
    scene only when every map succeeded (a failure or cancel leaves the scene as it was)."""

    def __init__(self, logic: QuantSRSceneLogic, slots: Mapping[MapKind, slicer.vtkMRMLScalarVolumeNode],
                 method: str = "dl", model_paths: Mapping[MapKind, Path] | None = None, device: str = "auto",
                 runtime: str = "torch", python: str | None = None,
                 guide_slots: Mapping[MapKind, slicer.vtkMRMLScalarVolumeNode] | None = None) -> None:
        self.logic = logic
        self.kinds = list(slots)
        self.nodes = list(slots.values())
        self.guide_slots = dict(guide_slots or {})  # the study's other fast maps, read by guide-map models only
        self.method, self.device, self.runtime = method, device, runtime
        self.model_paths = {k.value: str(v) for k, v in (model_paths or {}).items()}
        self.python = python or python_executable()
        self.folder: Path | None = None
        self.process: subprocess.Popen | None = None
        self.state = TaskState()
        self._log = None

    def start(self) -> None:
        from .nodes import map_from_volume_node

        self.folder = Path(tempfile.mkdtemp(prefix="quantsr-"))
        inputs = []
        for index, (kind, node) in enumerate(zip(self.kinds, self.nodes, strict=True)):
            path = self.folder / f"in{index}.npz"
            save_map(map_from_volume_node(node, kind), path)
            inputs.append(str(path))
        guides = []
        for kind, node in self.guide_slots.items():
            path = self.folder / f"guide_{kind.value}.npz"
            save_map(map_from_volume_node(node, kind), path)
            guides.append(str(path))
        job = {"inputs": inputs, "guides": guides, "method": self.method, "device": self.device,
               "runtime": self.runtime, "models": self.model_paths, "folder": str(self.folder)}
        (self.folder / "job.json").write_text(json.dumps(job))
        self.state = TaskState(total=sum(node.GetImageData().GetDimensions()[2] for node in self.nodes))
        self._log = open(self.folder / "log.txt", "w")  # noqa: SIM115 - closed in _cleanup
        flags = getattr(subprocess, "CREATE_NO_WINDOW", 0) if os.name == "nt" else 0  # no console on Windows
        self.process = subprocess.Popen([self.python, str(WORKER), str(self.folder / "job.json")],
                                        stdout=self._log, stderr=subprocess.STDOUT, creationflags=flags)

    def poll(self) -> TaskState:
        """Progress so far; once the process has ended, whether it succeeded (outputs not yet added)."""
        if self.state.finished or self.process is None or self.folder is None:
            return self.state
        progress = self.folder / "progress.json"
        if progress.exists():
            with contextlib.suppress(ValueError, KeyError, OSError):  # caught mid-replace: next poll
                self.state.done = int(json.loads(progress.read_text())["done"])
        code = self.process.poll()
        if code is None:
            return self.state
        result = self.folder / "result.json"
        outcome = json.loads(result.read_text()) if result.exists() else {}
        if code == 0 and outcome.get("status") == "done":
            self.state.status, self.state.done = "done", self.state.total
        else:
            self.state.status = "failed"
            self.state.message = outcome.get("error") or self._log_tail() or f"the worker ended with code {code}"
        return self.state

    def cancel(self) -> TaskState:
        """End the worker; nothing is added to the scene. A cancel is a state, not an error."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.state.status, self.state.message = "cancelled", "Super-resolution cancelled."
        self._cleanup()
        return self.state

    def finish(self) -> list[slicer.vtkMRMLScalarVolumeNode]:
        """Add the outputs of a finished task to the scene; raises the worker's error after a failure."""
        from quantsr.errors import QuantSRError

        try:
            if self.state.status == "failed":
                raise QuantSRError(self.state.message)
            if self.state.status != "done":
                raise QuantSRError(f"super-resolution is {self.state.status}, not finished")
            results = [load_map(self.folder / f"out{index}.npz") for index in range(len(self.nodes))]
            return self.logic.add_outputs(self.nodes, results, self.method)
        finally:
            self._cleanup()

    def run(self, interval_s: float = 0.05) -> list[slicer.vtkMRMLScalarVolumeNode]:
        """Blocking: start (if needed), wait, finish (Python console and tests)."""
        import time

        if self.process is None:
            self.start()
        while not self.poll().finished:
            time.sleep(interval_s)
        return self.finish()

    def _log_tail(self, chars: int = 2000) -> str:
        try:
            return (self.folder / "log.txt").read_text(errors="replace")[-chars:].strip()
        except OSError:
            return ""

    def _cleanup(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
