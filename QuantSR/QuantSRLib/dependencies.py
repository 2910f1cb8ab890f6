"""First-run set-up inside Slicer: torch through SlicerPyTorch's PyTorchUtils (CUDA build chosen for the
user's driver), the other packages with pip — never torch from PyPI by a transitive requirement."""

from __future__ import annotations

import importlib.util

#: import name → pip requirement (torch deliberately absent: PyTorchUtils installs it).
REQUIREMENTS = {
    "safetensors": "safetensors>=0.4",
    "pydicom": "pydicom>=2.4",
    "skimage": "scikit-image>=0.21",
    "tqdm": "tqdm>=4.60",
    "scipy": "scipy>=1.10",
    "pylibjpeg": "pylibjpeg>=2.0",  # compressed DICOM
    "libjpeg": "pylibjpeg-libjpeg>=2.1",
    "openjpeg": "pylibjpeg-openjpeg>=2.0",
}
TORCH_REQUIREMENT = ">=2.2"


class DependencyError(RuntimeError):
    """Set-up could not finish; the message says what the user should do."""


def missing_packages() -> list[str]:
    return [req for module, req in REQUIREMENTS.items() if importlib.util.find_spec(module) is None]


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def ensure_dependencies(ask_confirmation: bool = True) -> list[str]:
    """Install what is missing; returns notes for the user (e.g. that a restart is needed)."""
    import slicer

    notes: list[str] = []
    if not torch_available():
        try:
            import PyTorchUtils
        except ModuleNotFoundError:
            raise DependencyError("QuantSR needs the PyTorch extension: install 'PyTorch' from the Extensions "
                                  "Manager, restart Slicer, and open QuantSR again.") from None
        torch_logic = PyTorchUtils.PyTorchUtilsLogic()
        if not torch_logic.torchInstalled():
            torch = torch_logic.installTorch(askConfirmation=ask_confirmation,
                                             torchVersionRequirement=TORCH_REQUIREMENT)
            if torch is None:
                raise DependencyError("PyTorch was not installed; QuantSR cannot run deep-learning "
                                      "super-resolution without it (bicubic still works).")
            notes.append("PyTorch installed; if Slicer reports a DLL / library lock, restart Slicer.")
    missing = missing_packages()
    if missing:
        if ask_confirmation and not slicer.util.confirmOkCancelDisplay(
            "QuantSR needs these Python packages: " + ", ".join(missing) + ". Install them now?"
        ):
            raise DependencyError("the required Python packages were not installed")
        if hasattr(slicer, "packaging") and hasattr(slicer.packaging, "pip_ensure"):  # Slicer ≥ 5.12
            slicer.packaging.pip_ensure(missing)
        else:
            slicer.util.pip_install(" ".join(f'"{req}"' for req in missing))
        notes.append("Installed " + ", ".join(missing) + ".")
    return notes
