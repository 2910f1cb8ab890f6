"""External tools the tests need: required in CI (a missing tool fails there), skipped elsewhere."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(name: str) -> str:
    """Path of an executable; in CI its absence is a failure, on a developer machine a skip."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (apt-get install dicom3tools / chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path
