"""One simulated patient shared by the simulator tests (a subject takes ~30 s on 2 cores)."""

from __future__ import annotations

import pytest

from quantsr.simulate.subject import SimulatedSubject, simulate_subject
from quantsr.simulate.writer import write_subject


@pytest.fixture(scope="session")
def patient() -> SimulatedSubject:
    return simulate_subject("sub-001", seed=7, n_lesions=3)


@pytest.fixture(scope="session")
def patient_dir(patient, tmp_path_factory):
    cohort = tmp_path_factory.mktemp("cohort")
    rows = write_subject(patient, cohort, "patient")
    return cohort, rows
