"""scripts/gpu_train.sh, the one command a session lent a GPU runs: its smoke mode goes through every step the device
runs — simulate the training cohort, train every variant × map through scripts/train_bundled.sh, export, report —
on a one-patient cohort for 4 iterations on the CPU, so the script cannot rot between the rare GPU sessions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from quantsr.mapkinds import MapKind
from quantsr.modelfile import read_model_info

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_smoke_run_exports_every_variant_with_its_recipe(tmp_path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "SMOKE": "1", "PYTHON": sys.executable, "OUT": str(out), "WORK": str(tmp_path / "work"),
           "MAPS": "T1"}
    done = subprocess.run(["bash", "scripts/gpu_train.sh", "run"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = (out / "gpu_train.md").read_text()
    assert "simulated the training cohorts: exit 0" in report and "budget: 540 s" in report
    for variant, adversarial_from in (("wide16", 15000), ("wide16adv", 5000)):
        assert f"| {variant} | T1 | 4 |" in report  # the smoke run's 4 iterations reached
        info = read_model_info(out / "models" / variant / "quantsr_t1.safetensors")
        # the bundled T1 recipe (guides, acquisition consistency step) with the variant's settings on top
        assert info.map_kind is MapKind.T1 and info.config.residual_blocks == 16
        assert info.guide_kinds == (MapKind.T2, MapKind.PD)
        assert info.fast_consistency_mm == 1.0 and info.fast_consistency_forward == "acquisition"
        assert f"GPU candidate {variant}" in info.description
        assert f"optim.warmup_iterations={adversarial_from}" in info.description
        assert (out / "runs" / variant / "T1" / "metrics.csv").is_file()
    assert not (out / "models" / "wide16" / "quantsr_t2.safetensors").exists()  # MAPS=T1 only
