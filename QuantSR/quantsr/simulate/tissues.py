"""Tissue relaxation and PD values at 3T, drawn per subject around the paper's routine means.

GM / WM means and between-subject SDs are Liu et al. 2026 Table 1 (routine); CSF, scalp fat and bone
come from the synthetic-MRI literature (see ``docs`` and the reference notes)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TISSUES = ("GM", "WM", "CSF", "BONE", "FAT")


@dataclass(frozen=True)
class TissueValues:
    t1_ms: float
    t2_ms: float
    pd_pct: float
    t1_sd: float = 0.0  # between-subject SD of the subject mean
    t2_sd: float = 0.0
    pd_sd: float = 0.0


#: Population values; GM and WM are the paper's routine means (SD) from Table 1.
POPULATION: dict[str, TissueValues] = {
    "GM": TissueValues(1232.65, 93.33, 80.11, 34.98, 3.50, 1.23),
    "WM": TissueValues(837.86, 79.92, 68.21, 35.88, 2.05, 1.29),
    "CSF": TissueValues(4100.0, 1300.0, 100.0, 100.0, 80.0, 0.5),
    "BONE": TissueValues(600.0, 25.0, 8.0, 40.0, 3.0, 1.0),
    "FAT": TissueValues(380.0, 110.0, 95.0, 15.0, 6.0, 2.0),
}

#: Within-subject texture: coefficient of variation of a smooth random field, per parameter.
TEXTURE_CV = {"t1": 0.03, "t2": 0.02, "pd": 0.015}


def draw_subject_values(rng: np.random.Generator) -> dict[str, TissueValues]:
    """Each tissue's mean values for one subject (population mean + between-subject variation)."""
    drawn = {}
    for name, pop in POPULATION.items():
        drawn[name] = TissueValues(
            float(rng.normal(pop.t1_ms, pop.t1_sd)),
            float(rng.normal(pop.t2_ms, pop.t2_sd)),
            float(rng.normal(pop.pd_pct, pop.pd_sd)),
        )
    return drawn
