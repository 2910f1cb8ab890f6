"""The generator (architecture of Figure 1A) and the safetensors model file format."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from quantsr.errors import ModelError
from quantsr.mapkinds import MapKind
from quantsr.model import Generator, GeneratorConfig, flops_per_slice
from quantsr.modelfile import (
    ModelInfo,
    convert_checkpoint,
    load_model,
    read_model_info,
    save_model,
    weights_sha256,
)


def test_paper_generator_layout() -> None:
    g = Generator()
    convs = [m for m in g.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs[0].kernel_size == (9, 9) and convs[0].out_channels == 64
    assert len(g.body) == 5
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in g.modules()) == 11  # 2 per block + 1
    assert any(isinstance(m, torch.nn.PixelShuffle) for m in g.modules())
    assert convs[-1].kernel_size == (1, 1) and convs[-1].out_channels == 1
    # ≈ 74 GFLOP per 256² slice, as measured for the paper-size generator
    assert 70e9 < flops_per_slice(g.config, 256, 256) < 78e9


@pytest.mark.parametrize("shape", [(256, 256), (33, 17), (64, 48)])
def test_generator_shapes_any_size(shape: tuple[int, int]) -> None:
    g = Generator(GeneratorConfig(channels=8, residual_blocks=2)).eval()
    with torch.inference_mode():
        out = g(torch.zeros(2, 1, *shape))
    assert out.shape == (2, 1, shape[0] * 2, shape[1] * 2)
    assert float(out.abs().max()) <= 1.0  # tanh


def test_generator_scale_four() -> None:
    g = Generator(GeneratorConfig(channels=4, residual_blocks=1, scale=4)).eval()
    assert g(torch.zeros(1, 1, 10, 12)).shape == (1, 1, 40, 48)
    with pytest.raises(ValueError):
        GeneratorConfig(scale=3)


def _small_model(tmp_path, kind=MapKind.T2):
    torch.manual_seed(0)
    g = Generator(GeneratorConfig(channels=8, residual_blocks=1))
    info = ModelInfo(map_kind=kind, norm_physical=kind.norm_physical, trained_on="unit test")
    path = save_model(g, info, tmp_path / "m.safetensors")
    return g, path


def test_model_round_trip_keeps_weights_and_metadata(tmp_path) -> None:
    g, path = _small_model(tmp_path)
    loaded, info = load_model(path)
    assert info.map_kind is MapKind.T2
    assert info.norm_physical == pytest.approx(2200.0)
    assert info.to_json()["norm_stored"] == pytest.approx(22000.0)
    assert info.config == GeneratorConfig(channels=8, residual_blocks=1)
    assert info.trained_on == "unit test"
    assert info.weights_sha256 == weights_sha256(g.state_dict())
    x = torch.randn(1, 1, 16, 16)
    with torch.inference_mode():
        assert torch.equal(loaded(x), g.eval()(x))
    assert not loaded.training


def test_altered_weights_fail_the_sha256(tmp_path) -> None:
    _, path = _small_model(tmp_path)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # flip bits inside the last tensor
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="SHA-256"):
        load_model(path)


def test_pickle_checkpoint_is_refused_without_unpickling(tmp_path) -> None:
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled!')",))

    bad = tmp_path / "evil.pt"
    bad.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(ModelError, match="never unpickles"):
        load_model(bad)
    zipped = tmp_path / "model.pt"
    torch.save(Generator(GeneratorConfig(channels=4, residual_blocks=1)).state_dict(), zipped)
    with pytest.raises(ModelError, match="convert-model"):
        read_model_info(zipped)


def test_convert_checkpoint_weights_only(tmp_path) -> None:
    config = GeneratorConfig(channels=4, residual_blocks=1)
    g = Generator(config)
    ckpt = tmp_path / "ckpt.pt"
    torch.save({"generator": g.state_dict()}, ckpt)
    out = convert_checkpoint(ckpt, tmp_path / "t1.safetensors", MapKind.T1, config=config.to_dict())
    loaded, info = load_model(out)
    assert info.map_kind is MapKind.T1 and info.norm_physical == pytest.approx(4500.0)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), g.state_dict().values(), strict=True))


def test_metadata_validation(tmp_path) -> None:
    _, path = _small_model(tmp_path)
    header_len = int.from_bytes(path.read_bytes()[:8], "little")
    header = json.loads(path.read_bytes()[8 : 8 + header_len])
    meta = json.loads(header["__metadata__"]["quantsr"])
    meta["format_version"] = 99
    header["__metadata__"]["quantsr"] = json.dumps(meta)
    raw = json.dumps(header).encode()
    raw += b" " * (header_len - len(raw)) if len(raw) < header_len else b""
    rest = path.read_bytes()[8 + header_len :]
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + rest)
    with pytest.raises(ModelError, match="newer"):
        read_model_info(path)
    with pytest.raises(ModelError, match="not found"):
        read_model_info(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"hello world, not a model")
    with pytest.raises(ModelError, match="not a safetensors"):
        read_model_info(tmp_path / "junk.safetensors")


def test_residual_generator_is_bicubic_plus_a_learned_correction(tmp_path) -> None:
    torch.manual_seed(3)
    g = Generator(GeneratorConfig(channels=8, residual_blocks=1, residual="bicubic")).eval()
    x = torch.rand(1, 1, 12, 10) * 2 - 1
    torch.nn.init.zeros_(g.tail.weight)
    torch.nn.init.zeros_(g.tail.bias)
    bicubic = torch.nn.functional.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)
    with torch.inference_mode():
        torch.testing.assert_close(g(x), bicubic)  # a zero correction leaves bicubic, values not squashed
        torch.nn.init.constant_(g.tail.bias, 0.25)
        torch.testing.assert_close(g(x), bicubic + 0.25)
    with pytest.raises(ValueError, match="residual"):
        GeneratorConfig(residual="nearest")


def test_residual_mode_survives_the_model_file(tmp_path) -> None:
    g = Generator(GeneratorConfig(channels=8, residual_blocks=1, residual="bicubic"))
    path = save_model(g, ModelInfo(MapKind.T2, MapKind.T2.norm_physical), tmp_path / "r.safetensors")
    loaded, info = load_model(path)
    assert info.config.residual == "bicubic" and loaded.config.residual == "bicubic"
    assert info.to_json()["format_version"] == 2  # a QuantSR that cannot build it refuses it
    x = torch.rand(1, 1, 16, 16) * 2 - 1
    with torch.inference_mode():
        assert torch.equal(loaded(x), g.eval()(x))
    _, plain = _small_model(tmp_path)
    assert load_model(plain)[1].to_json()["format_version"] == 1


def test_saved_model_gets_normal_permissions(tmp_path) -> None:
    import os
    import stat

    mask = os.umask(0o022)
    try:
        _, path = _small_model(tmp_path)  # safetensors recreates the file: permissions are set afterwards
    finally:
        os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
