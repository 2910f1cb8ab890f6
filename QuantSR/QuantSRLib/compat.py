"""Supported Slicer and Python, checked when the module loads: this file must still import on an older
Python (no 3.10 syntax evaluated at run time), so an unsupported Slicer gets a message, not a traceback."""

from __future__ import annotations

import sys

#: The module and the core use ``zip(strict=True)`` and ``X | None`` at run time: Python 3.10.
MIN_PYTHON = (3, 10)
#: First Slicer release whose Python is new enough (5.10 ships Python 3.12.10 and pydicom 2.4.4; 5.12
#: ships pydicom 3.0.2; 5.8 and older ship Python 3.9.10). From Slicer's SuperBuild/External_python*.cmake.
MIN_SLICER = (5, 10)
MIN_SLICER_TEXT = f"{MIN_SLICER[0]}.{MIN_SLICER[1]}"


def python_problem(version: tuple[int, ...] | None = None) -> str | None:
    """Why this Python cannot run QuantSR, or None when it can."""
    version = tuple(sys.version_info[:3] if version is None else version)
    if version[:2] >= MIN_PYTHON:
        return None
    found = ".".join(str(part) for part in version)
    return (f"QuantSR needs 3D Slicer {MIN_SLICER_TEXT} or newer (Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]}+); "
            f"this Slicer runs Python {found}. Install a current Slicer release from download.slicer.org.")


def slicer_problem(major: int, minor: int) -> str | None:
    """Why this Slicer version is not supported, or None when it is."""
    if (int(major), int(minor)) >= MIN_SLICER:
        return None
    return (f"QuantSR needs 3D Slicer {MIN_SLICER_TEXT} or newer; this is Slicer {major}.{minor}. "
            "Install a current Slicer release from download.slicer.org.")
