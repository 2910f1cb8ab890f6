"""Child process of :class:`QuantSRLib.runner.SRTask`: ``python worker.py job.json``. Reads the input maps,
super-resolves them (torch is imported only for DL), writes the outputs, progress and a result file. A
QuantSRError becomes the message the panel shows; anything else also leaves its traceback in the log."""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the module folder: quantsr and QuantSRLib


def _write_json(path: Path, data: dict) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data))
    os.replace(temporary, path)  # the panel never reads half a file


def main(job_path: str) -> int:
    job = json.loads(Path(job_path).read_text())
    folder = Path(job["folder"])
    try:
        from quantsr.mapkinds import MapKind
        from quantsr.methods import DL
        from quantsr.srjob import SRJob, super_resolve_maps
        from QuantSRLib.runner import load_map, save_map

        maps = [load_map(Path(path)) for path in job["inputs"]]
        guides = {guide.kind: guide for guide in (load_map(Path(path)) for path in job.get("guides", []))}
        options = None
        if job["method"] == DL:
            from quantsr.engine import EngineOptions

            options = EngineOptions(device=job["device"], runtime=job["runtime"])
        models = {MapKind.parse(kind): Path(path) for kind, path in job["models"].items()} or None
        progress_file = folder / "progress.json"

        def progress(done: int, total: int) -> None:
            _write_json(progress_file, {"done": done, "total": total})

        results = super_resolve_maps(maps, SRJob(job["method"], models, options, guides=guides), progress)
        for index, result in enumerate(results):
            save_map(result, folder / f"out{index}.npz")
    except Exception as exc:
        known = "QuantSRError" in {cls.__name__ for cls in type(exc).__mro__}
        if not known:
            traceback.print_exc()
        _write_json(folder / "result.json", {"status": "failed",
                                             "error": str(exc) if known else f"unexpected error: {exc!r}"})
        return 1 if known else 2
    _write_json(folder / "result.json", {"status": "done"})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
