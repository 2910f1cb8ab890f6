"""Training for lesion-faithful maps (issue 9): rare-value patch oversampling, the residual-over-bicubic
generator end to end, extra training-only cohorts, and randomised simulated lesions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_data import write_tiny_cohort

from quantsr.cli import main as quantsr_main
from quantsr.engine import EngineOptions, SuperResolver
from quantsr.simulate.lesions import RANDOMISED, draw_lesions
from quantsr_training.cli import main as train_main
from quantsr_training.dataset import CachedSubject, PatchDataset
from quantsr_training.export import export_checkpoint
from quantsr_training.trainer import Trainer


def _subjects_with_one_small_lesion(tmp_path: Path, n_subjects: int = 3, slices: int = 6) -> list[CachedSubject]:
    """Normalised stacks: a head of value 0 over most of the field, one 4×4 LR-pixel lesion (value 0.8) in
    one slice of the first subject — well under 0.1 % of the head."""
    subjects = []
    for index in range(n_subjects):
        lr = np.full((slices, 64, 64), -1.0, np.float32)
        lr[:, 4:60, 4:60] = 0.0
        if index == 0:
            lr[2, 40:44, 20:24] = 0.8
        hr = np.kron(lr, np.ones((1, 2, 2), np.float32))
        paths = tmp_path / f"s{index}_lr.npy", tmp_path / f"s{index}_hr.npy"
        np.save(paths[0], lr)
        np.save(paths[1], hr)
        subjects.append(CachedSubject(f"s{index}", *paths, tuple(range(slices))))
    return subjects


def _lesion_share(dataset: PatchDataset, epochs: int = 4) -> float:
    hits = total = 0
    for epoch in range(epochs):
        dataset.set_epoch(epoch)
        for i in range(len(dataset)):
            _lr, hr = dataset[i]
            hits += bool((hr > 0.5).any())
            total += 1
    return hits / total


def test_rare_value_patches_show_the_lesion_as_often_as_asked(tmp_path) -> None:
    subjects = _subjects_with_one_small_lesion(tmp_path)
    uniform = PatchDataset(subjects, 16, 2, seed=1)
    oversampled = PatchDataset(subjects, 16, 2, seed=1, rare_share=0.5, rare_power=1.0)
    assert _lesion_share(uniform) < 0.1
    # power 1: the two occupied value bins (head, lesion) are drawn equally → ≈ 0.5 × 0.5 + uniform share
    assert 0.18 < _lesion_share(oversampled) < 0.4
    assert oversampled.rare.voxel_share[oversampled.rare.bin_probability.argmin()] < 0.01


def test_rare_value_patches_are_aligned_deterministic_and_off_by_default(tmp_path) -> None:
    subjects = _subjects_with_one_small_lesion(tmp_path)
    a = PatchDataset(subjects, 16, 2, seed=4, rare_share=1.0)
    b = PatchDataset(subjects, 16, 2, seed=4, rare_share=1.0)
    for i in (0, 5, 11):
        lr_a, hr_a = a[i]
        lr_b, hr_b = b[i]
        assert np.array_equal(lr_a.numpy(), lr_b.numpy()) and np.array_equal(hr_a.numpy(), hr_b.numpy())
        assert lr_a.shape == (1, 16, 16) and hr_a.shape == (1, 32, 32)
        assert np.array_equal(np.kron(lr_a.numpy()[0], np.ones((2, 2))), hr_a.numpy()[0])  # LR and HR aligned
    plain, zero = PatchDataset(subjects, 16, 2, seed=4), PatchDataset(subjects, 16, 2, seed=4, rare_share=0.0)
    assert all(np.array_equal(plain[i][0].numpy(), zero[i][0].numpy()) for i in range(len(plain)))
    with pytest.raises(ValueError, match="share"):
        PatchDataset(subjects, 16, 2, seed=4, rare_share=1.5)


def test_residual_model_with_rare_patches_and_an_extra_cohort_trains_and_exports(tiny_config, tmp_path) -> None:
    extra = write_tiny_cohort(tmp_path / "extra_lesions", subjects=2, seed=9).parent
    tiny_config.set("model.residual", "bicubic")
    tiny_config.set("data.rare_value_patches", 0.5)
    tiny_config.set("data.extra_train_cohorts", str(extra / "pairs.csv"))
    tiny_config.set("optim.warmup_iterations", 8)
    last = Trainer(tiny_config).fit()
    description = json.loads((Path(tiny_config.run.output) / "split.json").read_text())
    state_data = torch.load(last, weights_only=True)["data"]
    assert {"extra_lesions/s00", "extra_lesions/s01"} <= set(state_data["train_subjects"])  # extra: training only
    assert not {"extra_lesions/s00", "extra_lesions/s01"} & set(description["test"])
    model = export_checkpoint(last, tmp_path / "t1.safetensors")
    resolver = SuperResolver.from_file(model, EngineOptions(device="cpu"))
    assert resolver.info.config.residual == "bicubic"


def test_randomised_lesions_span_the_pathological_range() -> None:
    rng = np.random.default_rng(0)
    wm = np.zeros((20, 40, 40), np.float32)
    wm[2:18, 5:35, 5:35] = 1.0
    lesions = draw_lesions(rng, wm, lambda index: np.asarray(index, float) * 4.0, 40, [RANDOMISED])
    t2 = np.array([lesion.t2_ms for lesion in lesions])
    assert {lesion.kind for lesion in lesions} == {"randomised"}
    assert RANDOMISED.t2_ms[0] <= t2.min() and t2.max() <= RANDOMISED.t2_ms[1]
    assert np.ptp(t2) > 0.7 * (RANDOMISED.t2_ms[1] - RANDOMISED.t2_ms[0])  # cysts' 500–900 ms included
    assert all(RANDOMISED.t1_ms[0] <= lesion.t1_ms <= RANDOMISED.t1_ms[1] for lesion in lesions)


def test_simulate_refuses_an_unknown_lesion_kind(tmp_path, capsys) -> None:
    assert quantsr_main(["simulate", "-o", str(tmp_path / "c"), "--patients", "1", "--lesion-kinds", "glioma"]) == 2
    error = capsys.readouterr().err
    assert "glioma" in error and "randomised" in error and not (tmp_path / "c").exists()


def test_out_of_range_lesion_settings_are_refused_before_any_data_is_read(tmp_path, capsys) -> None:
    output = tmp_path / "run"
    assert train_main(["fit", "--set", "model.residual=nearest", "--set", "data.rare_value_patches=2",
                       "--set", "loss.local_mean_size=0", "--set", f"run.output={output}"]) == 1
    error = capsys.readouterr().err
    assert "model.residual must be one of none, bicubic" in error and "rare_value_patches must lie in [0, 1]" in error
    assert "local_mean_size must be ≥ 1" in error and "Traceback" not in error and not output.exists()
