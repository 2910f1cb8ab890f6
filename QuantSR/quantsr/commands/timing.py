"""Wall-clock phases of one command (imports, read, model set-up, compute, write): shown with ``--verbose`` and,
when ``QUANTSR_TIMINGS`` names a file, written there as JSON for ``Testing/Benchmarks/bench_cli.py``."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("quantsr.timing")

#: Environment variable naming the JSON file the phases are written to (benchmarks; unset in normal use).
TIMINGS_ENV = "QUANTSR_TIMINGS"


class PhaseTimer:
    """Wall-clock and CPU seconds (all threads of the process) per named phase; ``started`` / ``finished`` are
    epoch times, comparable with another process's clock on the same machine (the benchmark's, taken before it
    started this process). CPU seconds tell a phase's cost when other work shares the cores."""

    def __init__(self) -> None:
        self.started = time.time()
        self.cpu_started = time.process_time()
        self.phases: dict[str, float] = {}
        self.cpu_phases: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str, cpu: bool = True) -> Iterator[None]:
        """Time a phase; ``cpu=False`` for one that runs beside others (a writer thread): wall clock only."""
        begun, cpu_begun = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - begun, time.process_time() - cpu_begun if cpu else None)

    def add(self, name: str, seconds: float, cpu_seconds: float | None = None) -> None:
        self.phases[name] = self.phases.get(name, 0.0) + seconds
        if cpu_seconds is not None:
            self.cpu_phases[name] = self.cpu_phases.get(name, 0.0) + cpu_seconds

    def finish(self) -> None:
        """Log the phases and, for a benchmark, write them with the handler's start and end times."""
        finished = time.time()
        log.debug("timing: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in self.phases.items())
                  + f"; handler {finished - self.started:.2f} s")
        target = os.environ.get(TIMINGS_ENV)
        if target:
            with open(target, "w") as handle:
                json.dump({"handler_started": self.started, "handler_finished": finished, "phases": self.phases,
                           "cpu_started": self.cpu_started, "cpu_finished": time.process_time(),
                           "cpu_phases": self.cpu_phases}, handle)
