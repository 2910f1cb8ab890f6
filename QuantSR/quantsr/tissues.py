"""Pure-tissue relaxation values — T1 (ms), T2 (ms), PD (%) — and the paper's routine GM / WM values: what the
tissue classification (``segment.py``) starts from and what the simulator draws its subjects around
(``simulate/population.py``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TissueValues:
    """One tissue's T1 (ms), T2 (ms) and PD (%): a pure tissue's values, or their spread (an SD) across people."""

    t1_ms: float
    t2_ms: float
    pd_pct: float

    def signature(self) -> np.ndarray:
        """(PD, PD·R1, PD·R2) of the pure tissue (R = 1/T, per ms): its column of the partial-volume mixing matrix.

        A voxel holding fractions f_t of pure tissues has PD = Σ f_t·PD_t and PD·R = Σ f_t·PD_t·R_t, so these
        three quantities are linear in the fractions (``segment.py`` unmixes them, the simulator mixes them).
        """
        return np.array([self.pd_pct, self.pd_pct / self.t1_ms, self.pd_pct / self.t2_ms])

    @classmethod
    def from_signature(cls, sig: np.ndarray) -> "TissueValues":
        """The values whose :meth:`signature` is ``sig`` (3,)."""
        return cls(float(sig[0] / sig[1]), float(sig[0] / sig[2]), float(sig[0]))


#: Liu et al. 2026 Table 1, routine scans (3T MDME): GM and WM means over subjects ...
PAPER_ROUTINE_MEAN: dict[str, TissueValues] = {
    "GM": TissueValues(1232.65, 93.33, 80.11),
    "WM": TissueValues(837.86, 79.92, 68.21),
}
#: ... and their between-subject SDs.
PAPER_ROUTINE_SD: dict[str, TissueValues] = {
    "GM": TissueValues(34.98, 3.50, 1.23),
    "WM": TissueValues(35.88, 2.05, 1.29),
}
