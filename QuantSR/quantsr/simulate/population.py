"""The simulated population's tissue values at 3T: each tissue's mean and between-subject SD, drawn once per
subject, and the within-subject texture.

GM / WM means and between-subject SDs are Liu et al. 2026 Table 1 (routine, ``quantsr.tissues``); CSF, scalp
fat and bone come from the synthetic-MRI literature (see ``docs`` and the reference notes)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..tissues import PAPER_ROUTINE_MEAN, PAPER_ROUTINE_SD, TissueValues

#: The phantom's tissue channels, in order (``phantom.resample_tissues``).
TISSUES = ("GM", "WM", "CSF", "BONE", "FAT")


@dataclass(frozen=True)
class TissueDistribution:
    """A tissue's values across subjects: the population mean and the between-subject SD of a subject's mean."""

    mean: TissueValues
    sd: TissueValues


#: Population values per tissue channel; GM and WM are the paper's routine means (SD) from Table 1.
POPULATION: dict[str, TissueDistribution] = {
    "GM": TissueDistribution(PAPER_ROUTINE_MEAN["GM"], PAPER_ROUTINE_SD["GM"]),
    "WM": TissueDistribution(PAPER_ROUTINE_MEAN["WM"], PAPER_ROUTINE_SD["WM"]),
    "CSF": TissueDistribution(TissueValues(4100.0, 1300.0, 100.0), TissueValues(100.0, 80.0, 0.5)),
    "BONE": TissueDistribution(TissueValues(600.0, 25.0, 8.0), TissueValues(40.0, 3.0, 1.0)),
    "FAT": TissueDistribution(TissueValues(380.0, 110.0, 95.0), TissueValues(15.0, 6.0, 2.0)),
}

#: Within-subject texture: coefficient of variation of a smooth random field, per parameter.
TEXTURE_CV = {"t1": 0.03, "t2": 0.02, "pd": 0.015}


def draw_subject_values(rng: np.random.Generator) -> dict[str, TissueValues]:
    """Each tissue's mean values for one subject: the population mean plus a normal between-subject draw
    (T1, T2, PD per tissue, in :data:`POPULATION` order)."""
    drawn = {}
    for name, population in POPULATION.items():
        mean, sd = population.mean, population.sd
        drawn[name] = TissueValues(
            float(rng.normal(mean.t1_ms, sd.t1_ms)),
            float(rng.normal(mean.t2_ms, sd.t2_ms)),
            float(rng.normal(mean.pd_pct, sd.pd_pct)),
        )
    return drawn
