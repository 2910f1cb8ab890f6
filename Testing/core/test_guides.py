"""Guide maps (issue 16): a model that also reads the study's other fast maps as input channels — the channels it
is fed, guides on another grid, missing or foreign guides, the engine's paths, the model file and the SR job."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers.generators import trained_looking

from quantsr.engine import EngineOptions, SuperResolver
from quantsr.errors import ModelError
from quantsr.guides import guides_needed, network_input, on_grid_of
from quantsr.mapkinds import MapKind
from quantsr.model import Generator, GeneratorConfig
from quantsr.modelfile import ModelInfo, load_model, read_model_info, save_model
from quantsr.normalisation import to_network_range
from quantsr.srjob import SRJob, super_resolve_maps
from quantsr.volume import QuantMap

GUIDES = (MapKind.T2, MapKind.PD)


def _study(shape=(4, 24, 20)) -> dict[MapKind, QuantMap]:
    """T1, T2 and PD maps of one elliptic head on one grid; slice 3 is empty."""
    k, h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    head = ((yy - h / 2) / (0.35 * h)) ** 2 + ((xx - w / 2) / (0.35 * w)) ** 2 < 1
    rng = np.random.default_rng(3)
    maps = {}
    for kind, (low, high) in {MapKind.T1: (700, 4000), MapKind.T2: (60, 2000), MapKind.PD: (60, 100)}.items():
        values = np.where(head, rng.uniform(low, high, shape), 0.0).astype(np.float32)
        values[3] = 0.0
        maps[kind] = QuantMap(values, origin=(-10, 4, 2), spacing=(0.9, 0.9, 5.0), kind=kind)
    return maps


def _guided_resolver(**options) -> SuperResolver:
    generator = trained_looking(GeneratorConfig(channels=8, residual_blocks=2, in_channels=3, residual="bicubic"))
    info = ModelInfo(MapKind.T1, MapKind.T1.norm_physical, guide_kinds=GUIDES)
    return SuperResolver(generator, info, EngineOptions(device="cpu", **options))


def test_network_input_stacks_the_map_then_each_guide_normalised_by_its_own_constant() -> None:
    study = _study()
    lr = network_input(study[MapKind.T1], MapKind.T1.norm_physical, GUIDES, study)
    assert lr.shape == (4, 3, 24, 20) and lr.dtype == np.float32
    np.testing.assert_array_equal(lr[:, 0], to_network_range(study[MapKind.T1].array, 4500.0))
    np.testing.assert_array_equal(lr[:, 1], to_network_range(study[MapKind.T2].array, 2200.0))
    np.testing.assert_array_equal(lr[:, 2], to_network_range(study[MapKind.PD].array, 180.0))
    assert network_input(study[MapKind.T1], 4500.0).shape == (4, 1, 24, 20)  # a single-map model


def test_a_missing_guide_is_named() -> None:
    study = _study()
    with pytest.raises(ModelError, match=r"also reads the study's fast T2, PD maps; PD not given"):
        network_input(study[MapKind.T1], 4500.0, GUIDES, {MapKind.T2: study[MapKind.T2]})


def test_a_guide_on_another_grid_is_resampled_in_physical_space() -> None:
    reference = _study()[MapKind.T1]
    # a T2 map on a finer, shifted grid over the same field whose value is linear in physical x: linear
    # interpolation reproduces it exactly at the reference's voxel centres
    fine = QuantMap(np.zeros((4, 60, 52), np.float32), origin=(-11, 3, 2), spacing=(0.45, 0.45, 5.0),
                    kind=MapKind.T2)
    x = fine.index_to_physical(np.stack(np.meshgrid(np.arange(52), np.arange(60), np.arange(4), indexing="xy"),
                                        -1).reshape(-1, 3))[:, 0]
    fine = fine.with_array((100 + 3 * x).reshape(60, 52, 4).transpose(2, 0, 1).astype(np.float32))
    moved = on_grid_of(reference, fine)
    assert moved.same_geometry(reference) and moved.kind is MapKind.T2
    centres = reference.index_to_physical(np.array([[5, 7, 1], [12, 20, 2]]))
    assert moved.array[1, 7, 5] == pytest.approx(100 + 3 * centres[0, 0], abs=1e-3)
    assert moved.array[2, 20, 12] == pytest.approx(100 + 3 * centres[1, 0], abs=1e-3)


def test_a_guide_from_another_slab_is_refused() -> None:
    study = _study()
    elsewhere = study[MapKind.T2].with_array(study[MapKind.T2].array, origin=(-10, 4, 200))
    with pytest.raises(ModelError, match="covers only 0% of the T1 map's head"):
        on_grid_of(study[MapKind.T1], elsewhere)


def test_guided_model_reads_its_guides_on_both_engine_paths() -> None:
    study = _study()
    optimized = _guided_resolver().run(study[MapKind.T1], guides=study)
    naive = _guided_resolver(optimized=False).run(study[MapKind.T1], guides=study)
    assert optimized.shape == (4, 48, 40) and optimized.kind is MapKind.T1
    head = study[MapKind.T1].array.repeat(2, 1).repeat(2, 2) > 0
    np.testing.assert_allclose(optimized.array[head], naive.array[head], atol=1e-3)  # ms
    darker = dict(study, **{MapKind.T2: study[MapKind.T2].with_array(study[MapKind.T2].array * 0.5)})
    changed = _guided_resolver().run(study[MapKind.T1], guides=darker)
    assert np.abs(changed.array - optimized.array)[head].mean() > 1.0  # the T2 channel is read


def test_guided_model_without_guides_says_what_to_load() -> None:
    study = _study()
    with pytest.raises(ModelError, match="T2 and PD not given: load the study's other maps too"):
        _guided_resolver().run(study[MapKind.T1])


def test_bicubic_skip_takes_the_map_channel_only() -> None:
    generator = Generator(GeneratorConfig(channels=4, residual_blocks=1, in_channels=3, residual="bicubic")).eval()
    torch.nn.init.zeros_(generator.tail.weight)
    torch.nn.init.zeros_(generator.tail.bias)
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    expected = torch.nn.functional.interpolate(x[:, :1], scale_factor=2, mode="bicubic", align_corners=False)
    with torch.inference_mode():
        torch.testing.assert_close(generator(x), expected)


def test_model_file_records_guides_and_refuses_inconsistent_ones(tmp_path) -> None:
    generator = Generator(GeneratorConfig(channels=4, residual_blocks=1, in_channels=3))
    path = save_model(generator, ModelInfo(MapKind.T1, 4500.0, guide_kinds=GUIDES), tmp_path / "t1.safetensors")
    info = read_model_info(path)
    assert info.guide_kinds == GUIDES and info.config.in_channels == 3
    loaded, _ = load_model(path)
    assert loaded.head.in_channels == 3
    data = info.to_json()
    assert data["format_version"] == 3 and data["guide_maps"] == ["T2", "PD"]
    with pytest.raises(ModelError, match="implausible architecture"):
        ModelInfo.from_json(dict(data, guide_maps=["T2"]))  # 3 input channels but one guide
    with pytest.raises(ModelError, match="invalid guide maps"):
        ModelInfo.from_json(dict(data, guide_maps=["T1", "PD"]))  # the map guiding itself
    assert json.loads(json.dumps(data))["guide_maps"] == ["T2", "PD"]


def test_sr_job_takes_guides_from_the_study_or_from_the_job(tmp_path) -> None:
    study = _study()
    generator = trained_looking(GeneratorConfig(channels=8, residual_blocks=1, in_channels=3, residual="bicubic"))
    path = save_model(generator, ModelInfo(MapKind.T1, 4500.0, guide_kinds=GUIDES), tmp_path / "t1.safetensors")
    options = EngineOptions(device="cpu")
    single = SRJob("dl", {MapKind.T1: path}, options)
    with pytest.raises(ModelError, match="T2 and PD not given"):
        super_resolve_maps([study[MapKind.T1]], single)
    guided = SRJob("dl", {MapKind.T1: path}, options, guides={k: study[k] for k in GUIDES})
    (alone,) = super_resolve_maps([study[MapKind.T1]], guided)
    both = super_resolve_maps([study[MapKind.T1], study[MapKind.T2]],
                              SRJob("dl", {MapKind.T1: path}, options, guides={MapKind.PD: study[MapKind.PD]}))
    np.testing.assert_array_equal(alone.array, both[0].array)


def test_onnx_runtime_feeds_the_guides_too() -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    study = _study()
    reference = _guided_resolver().run(study[MapKind.T1], guides=study)
    onnx = _guided_resolver(runtime="onnxruntime").run(study[MapKind.T1], guides=study)
    assert onnx.metadata["sr_report"].runtime == "onnxruntime"
    np.testing.assert_allclose(onnx.array, reference.array, atol=0.05)  # ms


def test_guides_needed_reads_the_model_files_metadata(tmp_path) -> None:
    guided = save_model(Generator(GeneratorConfig(channels=4, residual_blocks=1, in_channels=3)),
                        ModelInfo(MapKind.T1, 4500.0, guide_kinds=GUIDES), tmp_path / "t1.safetensors")
    single = save_model(Generator(GeneratorConfig(channels=4, residual_blocks=1)), ModelInfo(MapKind.T2, 2200.0),
                        tmp_path / "t2.safetensors")
    assert guides_needed([MapKind.T1], {MapKind.T1: guided}) == {MapKind.T2, MapKind.PD}
    assert guides_needed([MapKind.T1, MapKind.T2], {MapKind.T1: guided, MapKind.T2: single}) == {MapKind.PD}
    assert guides_needed([MapKind.T2], {MapKind.T2: single}) == set()
