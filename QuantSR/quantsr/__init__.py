"""QuantSR core: super-resolution of synthetic-MRI quantitative maps (T1, T2, PD).

Importable without Slicer; used by the Slicer module, the ``quantsr`` command and QuantSRTraining.
"""

from .errors import CancelledError, InputError, ModelError, OutputError, QuantSRError
from .mapkinds import MapKind
from .volume import QuantMap


def _installed_version() -> str:
    """setuptools-scm writes ``_version.py`` from the git tag when the package is installed (pyproject.toml);
    a source tree used without installing (the Slicer module) has none and says so."""
    try:
        from ._version import version
    except ImportError:
        return "0+unknown"
    return version


__version__ = _installed_version()

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
