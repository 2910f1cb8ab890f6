"""First-run set-up inside Slicer, from one list of requirements: torch through SlicerPyTorch's PyTorchUtils
(the CUDA build that matches the driver; never a transitive torch from PyPI), the few other packages the
module imports with pip. One confirmation, versions checked (not only presence), every failure reported as
a :class:`DependencyError` the panel shows as a message."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from quantsr.errors import QuantSRError


@dataclass(frozen=True)
class Requirement:
    module: str  # import name
    distribution: str  # pip name
    minimum: str  # lowest supported version
    purpose: str  # "dl" (Deep-learning Apply), "dicom" (reading DICOM folders), "sr" (any Apply)

    @property
    def spec(self) -> str:
        return f"{self.distribution}>={self.minimum}"


#: Everything the module imports that Slicer may lack. Slicer already bundles numpy, scipy, SimpleITK and
#: pydicom (2.4.4 in 5.10, 3.0.2 in 5.12); they are listed so an outdated one is reported, not reinstalled.
TORCH = Requirement("torch", "torch", "2.2", "dl")
REQUIREMENTS: tuple[Requirement, ...] = (
    TORCH,
    Requirement("safetensors", "safetensors", "0.4", "dl"),
    Requirement("scipy", "scipy", "1.10", "sr"),
    Requirement("SimpleITK", "SimpleITK", "2.3", "dicom"),
    Requirement("pydicom", "pydicom", "2.4", "dicom"),
    Requirement("pylibjpeg", "pylibjpeg", "2.0", "dicom"),  # compressed DICOM (JPEG, JPEG-LS, JPEG 2000)
    Requirement("libjpeg", "pylibjpeg-libjpeg", "2.1", "dicom"),
    Requirement("openjpeg", "pylibjpeg-openjpeg", "2.0", "dicom"),
)
#: What Apply needs per method: bicubic / linear work before set-up (no torch).
APPLY_PURPOSES = {"dl": ("sr", "dl"), "bicubic": ("sr",), "linear": ("sr",)}


class DependencyError(QuantSRError):
    """Set-up could not finish, or Apply lacks a requirement; the message says what the user should do."""


@dataclass(frozen=True)
class Unmet:
    requirement: Requirement
    found: str | None  # installed version, None when missing

    def describe(self) -> str:
        state = "missing" if self.found is None else f"found {self.found}"
        return f"{self.requirement.spec} ({state})"


def version_tuple(text: str) -> tuple[int, ...]:
    """Leading numeric release of a version string: "2.4.1+cu121" → (2, 4, 1)."""
    match = re.match(r"\d+(?:\.\d+)*", text.strip())
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def installed_version(requirement: Requirement) -> str | None:
    """The installed version, or None when the module cannot be imported."""
    if importlib.util.find_spec(requirement.module) is None:
        return None
    try:
        return importlib.metadata.version(requirement.distribution)
    except importlib.metadata.PackageNotFoundError:  # importable without metadata (e.g. built into Slicer)
        module = sys.modules.get(requirement.module)
        return getattr(module, "__version__", "0") if module is not None else "0"


def unmet(purposes: Sequence[str] | None = None,
          version_of: Callable[[Requirement], str | None] = installed_version) -> list[Unmet]:
    """Requirements (of ``purposes``, default all) that are missing or older than their minimum."""
    result = []
    for requirement in REQUIREMENTS:
        if purposes is not None and requirement.purpose not in purposes:
            continue
        found = version_of(requirement)
        if found is None or version_tuple(found) < version_tuple(requirement.minimum):
            result.append(Unmet(requirement, found))
    return result


def check_requirements(method: str, version_of: Callable[[Requirement], str | None] = installed_version) -> None:
    """Before Apply: raise a DependencyError naming what ``method`` lacks (torch only for deep learning)."""
    problems = unmet(APPLY_PURPOSES.get(method, ("sr", "dl")), version_of)
    if problems:
        names = ", ".join(problem.describe() for problem in problems)
        hint = " or choose bicubic / linear, which work without it" if method == "dl" else ""
        raise DependencyError(f"{method} super-resolution needs {names}. Press 'Install / check requirements' "
                              f"in the Set-up section{hint}.")


def confirmation_text(problems: Sequence[Unmet]) -> str:
    lines = [f"  • {p.describe()}" + (" — through the PyTorch extension (CUDA build for your GPU)"
                                      if p.requirement is TORCH else "") for p in problems]
    return "QuantSR will install:\n" + "\n".join(lines) + "\n\nThis may take several minutes. Continue?"


@dataclass
class Installer:
    """How set-up talks to Slicer (replaced by fakes in tests)."""

    confirm: Callable[[str], bool]
    install_torch: Callable[[str], object]  # requirement ">=2.2" → torch module, or None when declined
    pip_install: Callable[[list[str]], None]


def slicer_installer() -> Installer:
    """The real thing: Slicer's dialogs, PyTorchUtils and Slicer's pip (``slicer.packaging`` on ≥ 5.12)."""
    import slicer

    def install_torch(requirement: str) -> object:
        try:
            import PyTorchUtils
        except ModuleNotFoundError:
            raise DependencyError("QuantSR needs the PyTorch extension for deep learning: install 'PyTorch' from "
                                  "the Extensions Manager, restart Slicer, and open QuantSR again.") from None
        return PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False,
                                                            torchVersionRequirement=requirement)

    def pip_install(specs: list[str]) -> None:
        try:
            import slicer.packaging as packaging  # Slicer ≥ 5.12; imported, not assumed already loaded
        except ImportError:
            packaging = None
        if packaging is not None and hasattr(packaging, "pip_ensure"):
            packaging.pip_ensure(specs, prompt_install=False, requester="QuantSR")
        else:
            slicer.util.pip_install(specs)

    return Installer(slicer.util.confirmOkCancelDisplay, install_torch, pip_install)


def ensure_dependencies(ask_confirmation: bool = True, installer: Installer | None = None,
                        version_of: Callable[[Requirement], str | None] = installed_version) -> list[str]:
    """Install what is missing or too old after one confirmation; returns notes for the user (e.g. that a
    restart is needed). Raises DependencyError when declined or when an installation fails."""
    problems = unmet(version_of=version_of)
    if not problems:
        return ["All requirements are installed."]
    installer = installer or slicer_installer()
    if ask_confirmation and not installer.confirm(confirmation_text(problems)):
        raise DependencyError("Set-up cancelled: nothing was installed. Bicubic and linear still work.")
    notes: list[str] = []
    torch_was_loaded = "torch" in sys.modules
    if any(p.requirement is TORCH for p in problems):
        try:
            torch = installer.install_torch(f">={TORCH.minimum}")
        except DependencyError:
            raise
        except Exception as exc:  # light-the-torch / pip failures arrive as assorted exceptions
            raise DependencyError(f"PyTorch could not be installed: {exc}. Check the network connection (or "
                                  "proxy), restart Slicer and try again.") from None
        if torch is None:
            raise DependencyError("PyTorch was not installed: deep-learning super-resolution needs it "
                                  "(bicubic and linear still work).")
        notes.append("PyTorch installed.")
    specs = [p.requirement.spec for p in problems if p.requirement is not TORCH]
    if specs:
        try:
            installer.pip_install(specs)
        except Exception as exc:
            raise DependencyError(f"pip could not install {', '.join(specs)}: {exc}. Check the network "
                                  "connection (or proxy), restart Slicer and try again.") from None
        notes.append("Installed " + ", ".join(specs) + ".")
    importlib.invalidate_caches()
    still = unmet(version_of=version_of)
    if still:
        restart = torch_was_loaded or any(p.requirement.module in sys.modules for p in still)
        raise DependencyError("Still not satisfied after installing: " + ", ".join(p.describe() for p in still)
                              + (". Restart Slicer (an older version is loaded) and press Install again."
                                 if restart else "."))
    if torch_was_loaded:
        notes.append("Restart Slicer to use the new PyTorch.")
    return notes
