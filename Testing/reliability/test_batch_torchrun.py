"""`quantsr batch` under torchrun: two CPU ranks (gloo) share the studies, each study is done exactly once, and a
re-run after a crash redoes only the unfinished study."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.dicom_factory import brain_like, write_dicom_series

from quantsr.batch import COMPLETE_MARKER, Shard
from quantsr.cli import main
from quantsr.errors import InputError

STUDIES = 7  # odd: the two ranks get 4 and 3


def _torchrun_batch(root: Path, out: Path, models: Path, ranks: int = 2) -> subprocess.CompletedProcess:
    env = dict(os.environ, QUANTSR_MODEL_DIR=str(models), OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
               "--nproc-per-node", str(ranks), "-m", "quantsr.cli", "batch", str(root), "-o", str(out),
               "--format", "nrrd", "--device", "cpu"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_two_gloo_ranks_do_each_study_exactly_once(tmp_path, tiny_model) -> None:
    root, out, models = tmp_path / "studies", tmp_path / "out", tmp_path / "models"
    models.mkdir()
    shutil.copy(tiny_model, models / "quantsr_t1.safetensors")  # the "bundled" T1 model for this run
    for index in range(STUDIES):
        write_dicom_series(root / f"study{index}" / "T1", brain_like("T1", shape=(2, 16, 16), seed=index))

    first = _torchrun_batch(root, out, models)
    assert first.returncode == 0, first.stderr[-3000:]
    # rank 0 gathers both ranks' results: one summary, every study once (a study done by both ranks would count twice)
    assert first.stdout.count("studies:") == 1
    assert f"{STUDIES} studies: {STUDIES} done, 0 already complete, 0 failed" in first.stdout
    for index in range(STUDIES):
        marker = json.loads((out / f"study{index}" / COMPLETE_MARKER).read_text())
        assert (marker["rank"], marker["world"]) == (index % 2, 2)  # study i belongs to rank i mod 2
        assert marker["outputs"] == ["T1_DL.nrrd"]

    # a crash mid-study left study3 without its marker: the re-run redoes it alone, on its owner rank
    (out / "study3" / COMPLETE_MARKER).unlink()
    finished = (out / "study0" / "T1_DL.nrrd").stat().st_mtime_ns
    second = _torchrun_batch(root, out, models)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"{STUDIES} studies: 1 done, {STUDIES - 1} already complete, 0 failed" in second.stdout
    assert json.loads((out / "study3" / COMPLETE_MARKER).read_text())["rank"] == 1
    assert (out / "study0" / "T1_DL.nrrd").stat().st_mtime_ns == finished  # finished studies untouched

    # any number of ranks can resume: a single process finds everything done
    os.environ["QUANTSR_MODEL_DIR"] = str(models)
    try:
        assert main(["batch", str(root), "-o", str(out), "--format", "nrrd", "--device", "cpu"]) == 0
    finally:
        del os.environ["QUANTSR_MODEL_DIR"]


def test_shard_takes_every_world_th_study_and_checks_the_environment(monkeypatch) -> None:
    studies = [Path(f"s{i}") for i in range(5)]
    assert Shard(1, 2).mine(studies) == [Path("s1"), Path("s3")]
    assert Shard().mine(studies) == studies
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert Shard.from_environment() == Shard(2, 3, 0)
    monkeypatch.setenv("RANK", "3")
    with pytest.raises(InputError, match="RANK 3 is not within WORLD_SIZE 3"):
        Shard.from_environment()
