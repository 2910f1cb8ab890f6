"""Training a model that reads guide maps (the study's other fast maps, issue 16): configuration, pairing, the
patches' channels, and a trained model that the core runs exactly as it was trained."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_data import GUIDE_SCALE, write_tiny_cohort

from quantsr.engine import EngineOptions, SuperResolver
from quantsr.errors import InputError
from quantsr.io.images import read_image
from quantsr.mapkinds import MapKind
from quantsr.normalisation import to_network_range
from quantsr_training.config import TrainConfig, load_config
from quantsr_training.dataset import CachedSubject, PatchDataset
from quantsr_training.export import export_checkpoint
from quantsr_training.pairs import read_sources
from quantsr_training.trainer import Trainer

GUIDES = (MapKind.T2, MapKind.PD)


@pytest.fixture(scope="module")
def guided_manifest(tmp_path_factory) -> Path:
    return write_tiny_cohort(tmp_path_factory.mktemp("guided"), guide_maps=True)


def test_guide_maps_set_the_input_channels_and_bad_ones_are_named() -> None:
    config = load_config(None, ["data.map=T1", "data.guide_maps=T2, PD"])
    assert config.model.generator.in_channels == 3
    for setting, message in [("data.guide_maps=T1,PD", "must not name the trained map itself"),
                             ("data.guide_maps=T2,T2", "names a map twice"),
                             ("data.guide_maps=FLAIR", "unknown map kind"),
                             ("model.in_channels=2", r"in_channels must be 1 \+ the number of data.guide_maps \(1\)")]:
        with pytest.raises(InputError, match=message):
            load_config(None, ["data.map=T1", setting])


def test_sources_carry_each_subjects_guide_files_and_a_missing_one_is_named(guided_manifest, tmp_path) -> None:
    sources = read_sources(guided_manifest, MapKind.T1, GUIDES)
    assert [s.guides for s in sources][1] == (guided_manifest.parent / "s01" / "fast_T2.nrrd",
                                              guided_manifest.parent / "s01" / "fast_PD.nrrd")
    with open(guided_manifest, newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if not (r["subject"] == "s02" and r["map"] == "PD")]
    partial = guided_manifest.parent / "partial.csv"
    with open(partial, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(InputError, match="subject s02 lacks a fast PD map"):
        read_sources(partial, MapKind.T1, GUIDES)


def test_every_patch_channel_comes_from_the_same_place(tmp_path) -> None:
    rng = np.random.default_rng(0)
    lr = rng.uniform(-0.9, 1, (3, 24, 24)).astype(np.float32)
    paths = {}
    for name, array in {"lr": lr, "hr": rng.uniform(-1, 1, (3, 48, 48)), "g1": -lr, "g2": lr / 2}.items():
        paths[name] = tmp_path / f"{name}.npy"
        np.save(paths[name], array.astype(np.float32))
    subject = CachedSubject("s", paths["lr"], paths["hr"], (0, 1, 2), (paths["g1"], paths["g2"]))
    dataset = PatchDataset([subject], lr_patch=8, scale=2, seed=1, rare_share=0.5)
    for epoch in range(3):
        dataset.set_epoch(epoch)
        for index in range(len(dataset)):
            patch, target = dataset[index]
            assert patch.shape == (3, 8, 8) and target.shape == (1, 16, 16)
            torch.testing.assert_close(patch[1], -patch[0])
            torch.testing.assert_close(patch[2], patch[0] / 2)


def test_a_trained_guided_model_runs_in_the_core_as_trained(guided_manifest, tiny_config: TrainConfig,
                                                            tmp_path) -> None:
    config = tiny_config
    for key, value in {"data.cohort": str(guided_manifest), "data.guide_maps": "T2,PD", "model.residual": "bicubic",
                       "loss.fast_consistency": 1.0}.items():
        config.set(key, value)
    last = Trainer(config).fit()
    model_path = export_checkpoint(last, tmp_path / "t1.safetensors", fast_consistency_mm=2.0,
                                   fast_consistency_forward="acquisition")
    recorded = SuperResolver.from_file(model_path)  # the σ and forward model chosen on validation, recorded
    assert recorded.consistency_mm == 2.0 and recorded.consistency_forward == "acquisition"
    resolver = SuperResolver.from_file(model_path, EngineOptions(device="cpu", fast_consistency_mm=0.0))
    assert resolver.info.guide_kinds == GUIDES and resolver.info.config.in_channels == 3
    study = {kind: read_image(guided_manifest.parent / "s01" / f"fast_{kind.value}.nrrd", kind=kind)
             for kind in (MapKind.T1, *GUIDES)}
    result = resolver.run(study[MapKind.T1], guides=study)
    trainer = Trainer(config)
    trainer.load_checkpoint(last)
    lr = np.stack([to_network_range(study[MapKind.T1].array, 4500.0)]
                  + [to_network_range(study[k].array, k.norm_physical) for k in GUIDES], axis=1)
    with torch.inference_mode():
        direct = trainer.generator.eval()(torch.from_numpy(lr))[:, 0].numpy()
    np.testing.assert_allclose(result.array, np.clip((direct + 1) / 2 * 4500.0, 0, 4500.0), atol=1e-2)
    cache = Path(config.data.cache_dir)
    (t2_path,) = cache.glob("s00_*_guide_T2.npy")  # s00 (the patient) is in the training split
    assert len(list(cache.glob("s00_*_guide_PD.npy"))) == 1
    t1 = read_image(guided_manifest.parent / "s00" / "fast_T1.nrrd").array
    np.testing.assert_allclose(np.load(t2_path), to_network_range(t1 * GUIDE_SCALE[MapKind.T2], 2200.0), atol=1e-6)
