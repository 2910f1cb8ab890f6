"""Training end to end on a tiny paired dataset: the loss falls, resume equals an uninterrupted run, the
split never leaks a subject, export feeds the core's engine, and the config is overridable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from quantsr.engine import EngineOptions, SuperResolver
from quantsr.errors import InputError
from quantsr.io.images import read_image
from quantsr.mapkinds import MapKind
from quantsr.normalisation import normalise
from quantsr_training.cli import main as train_main
from quantsr_training.config import load_config
from quantsr_training.export import export_checkpoint
from quantsr_training.split import make_split
from quantsr_training.trainer import Trainer


def _metrics(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_l1_training_lowers_the_loss(tiny_config) -> None:
    tiny_config.set("optim.max_iterations", 40)
    tiny_config.set("optim.warmup_iterations", 40)  # L1 only
    tiny_config.set("optim.batch_size", 4)
    Trainer(tiny_config).fit()
    l1 = [row["loss_l1"] for row in _metrics(Path(tiny_config.run.output))]
    assert len(l1) == 40
    assert np.mean(l1[-5:]) < 0.7 * np.mean(l1[:5])


def test_resume_continues_exactly(tiny_config, tmp_path) -> None:
    straight = Path(tiny_config.run.output)
    Trainer(tiny_config).fit()  # 8 iterations: 3 L1-only, then adversarial

    tiny_config.set("run.output", str(tmp_path / "interrupted"))
    tiny_config.set("optim.max_iterations", 4)
    Trainer(tiny_config).fit()
    tiny_config.set("optim.max_iterations", 8)
    Trainer(tiny_config).fit(resume=True)

    a, b = _metrics(straight), _metrics(tmp_path / "interrupted")
    assert [r["iteration"] for r in b] == list(range(1, 9))
    for row_a, row_b in zip(a, b, strict=True):
        for key in ("loss_l1", "loss_adv", "loss_d", "lr"):
            assert row_a[key] == pytest.approx(row_b[key], rel=1e-6, abs=1e-9), (row_a["iteration"], key)
    wa = torch.load(straight / "checkpoints" / "last.pt", weights_only=True)["generator"]
    wb = torch.load(tmp_path / "interrupted" / "checkpoints" / "last.pt", weights_only=True)["generator"]
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key])


def test_time_limit_checkpoints_and_stops_then_resume_finishes(tiny_config) -> None:
    run = Path(tiny_config.run.output)
    tiny_config.set("optim.max_minutes", 1e-6)  # past after the first iteration
    tiny_config.set("run.log_every", 5)  # not on the stopping iteration's schedule: logged all the same
    Trainer(tiny_config).fit()
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["iteration"] == 1
    assert [row["iteration"] for row in _metrics(run)] == [1]  # the last iteration is logged too
    tiny_config.set("optim.max_minutes", 0)  # no limit: the run goes on to its 8 iterations
    Trainer(tiny_config).fit(resume=True)
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["iteration"] == 8
    tiny_config.set("optim.max_minutes", -1)
    with pytest.raises(InputError, match="optim.max_minutes must be ≥ 0"):
        Trainer(tiny_config)


def test_split_is_by_subject_seeded_and_keeps_groups() -> None:
    subjects = [f"s{i:02d}" for i in range(40)]
    groups = ["patient" if i % 4 == 0 else "healthy" for i in range(40)]
    split = make_split(subjects, groups, 0.8, seed=3)
    assert set(split["train"]).isdisjoint(split["test"]) and set(split["train"]) | set(split["test"]) == set(subjects)
    assert len(split["train"]) == 32 and len(split["test"]) == 8
    assert {groups[subjects.index(s)] for s in split["test"]} == {"patient", "healthy"}
    assert make_split(subjects, groups, 0.8, seed=3) == split


def test_training_reads_only_train_subjects(tiny_config) -> None:
    Trainer(tiny_config).fit()
    split = json.loads((Path(tiny_config.run.output) / "split.json").read_text())
    cached = {p.name.split("_")[0] for p in Path(tiny_config.data.cache_dir).glob("*_lr.npy")}
    assert cached == set(split["train"]) and cached.isdisjoint(split["test"])


def test_export_then_core_inference_matches_the_trained_generator(tiny_config, tiny_manifest, tmp_path) -> None:
    last = Trainer(tiny_config).fit()
    model_path = export_checkpoint(last, tmp_path / "t1.safetensors")
    raw = EngineOptions(device="cpu", fast_consistency_mm=0.0)  # the generator as trained, no consistency step
    resolver = SuperResolver.from_file(model_path, raw)
    assert resolver.info.map_kind is MapKind.T1 and resolver.info.training["iteration"] == 8
    fast = read_image(tiny_manifest.parent / "s01" / "fast_T1.nrrd")
    result = resolver.run(fast)
    trainer = Trainer(tiny_config)
    trainer.load_checkpoint(Path(tiny_config.run.output) / "checkpoints" / "last.pt")
    trainer.generator.eval()
    with torch.inference_mode():
        norm = MapKind.T1.norm_physical
        direct = trainer.generator(torch.from_numpy(normalise(np.clip(fast.array, 0, norm), norm))[:, None])
    expected = np.clip((direct[:, 0].numpy() + 1) / 2 * norm, 0, norm)
    np.testing.assert_allclose(result.array, expected, atol=1e-2)


def test_config_overrides_and_errors(tmp_path, capsys) -> None:
    config_file = tmp_path / "c.toml"
    config_file.write_text('[optim]\nlr = 2e-4\n[data]\nmap = "PD"\n')
    config = load_config(config_file, ["optim.batch_size=4", "loss.adversarial=0"])
    assert (config.optim.lr, config.data.map, config.optim.batch_size, config.loss.adversarial) == (2e-4, "PD", 4, 0)
    assert config.optim.lr_step == 1000 and config.loss.vgg == 2e-6  # the paper's defaults stay
    with pytest.raises(InputError, match="unknown setting 'optim.lrr'"):
        load_config(None, ["optim.lrr=1"])
    assert train_main(["fit", str(config_file), "--set", "optim.batch_size=many"]) == 1
    assert "optim.batch_size = 'many' is not a int" in capsys.readouterr().err
