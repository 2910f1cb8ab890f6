"""QuantSR core: super-resolution of synthetic-MRI quantitative maps (T1, T2, PD).

Importable without Slicer; used by the Slicer module, the ``quantsr`` command and QuantSRTraining.
"""

from .errors import CancelledError, InputError, ModelError, OutputError, QuantSRError
from .mapkinds import MapKind
from .volume import QuantMap

__version__ = "0.1.0"

__all__ = [
    "CancelledError",
    "InputError",
    "MapKind",
    "ModelError",
    "OutputError",
    "QuantMap",
    "QuantSRError",
    "__version__",
]
