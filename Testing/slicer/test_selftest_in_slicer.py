"""Runs the module's own self-test (QuantSRTest) inside a real Slicer when SLICER_EXECUTABLE is set."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_quantsr_selftest_inside_slicer(tmp_path) -> None:
    slicer_exe = os.environ.get("SLICER_EXECUTABLE")
    if not slicer_exe:
        pytest.skip("SLICER_EXECUTABLE is not set: the self-test needs a Slicer installation")
    script = tmp_path / "run_selftest.py"
    script.write_text(
        "import slicer, sys\n"
        "try:\n"
        "    slicer.util.selectModule('QuantSR')\n"
        "    tester = slicer.util.getModuleLogic('QuantSR')\n"
        "    import QuantSR\n"
        "    QuantSR.QuantSRTest().runTest()\n"
        "except Exception as exc:\n"
        "    print('SELFTEST FAILED', exc)\n"
        "    slicer.util.exit(1)\n"
        "else:\n"
        "    slicer.util.exit(0)\n"
    )
    result = subprocess.run(
        [slicer_exe, "--no-splash", "--testing", "--additional-module-paths", str(ROOT / "QuantSR"),
         "--python-script", str(script)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
