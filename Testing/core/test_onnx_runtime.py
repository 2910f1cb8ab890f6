"""The optional ONNX Runtime CPU backend: same output as torch inside the head, the runtime choice ("auto",
CUDA, the naive path), clear errors for a bad value or a missing onnxruntime, and the CLI flag."""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest
import torch
from helpers.generators import head_map, trained_looking

from quantsr.cli import main
from quantsr.engine import EngineOptions, SuperResolver
from quantsr.errors import ModelError, QuantSRError
from quantsr.io.images import write_image
from quantsr.mapkinds import MapKind
from quantsr.model import GeneratorConfig
from quantsr.modelfile import ModelInfo, save_model
from quantsr.onnxbackend import OnnxRunner, resolve_runtime

NORM = MapKind.T1.norm_physical
SMALL = GeneratorConfig(channels=8, residual_blocks=2)
#: Observed ≤ 0.0015 ms (≈ 3e-7 of the 4500 ms range) on a 2-core x86 CPU; 0.01 ms leaves room for other
#: CPUs' kernels while staying 450× inside the 0.1 % budget of the optimized path.
ORT_TOLERANCE_MS = 0.01


def _resolver(runtime: str, config: GeneratorConfig = SMALL, **options) -> SuperResolver:
    info = ModelInfo(MapKind.T1, NORM)
    return SuperResolver(trained_looking(config), info, EngineOptions(device="cpu", runtime=runtime, **options))


@pytest.mark.parametrize("config", [SMALL, GeneratorConfig(channels=8, residual_blocks=2, residual="bicubic"),
                                    GeneratorConfig()], ids=["small", "residual", "paper"])
def test_onnxruntime_equals_torch_inside_the_head(config) -> None:
    source = head_map(shape=(5, 64, 56) if config.channels == 64 else (5, 96, 80))
    reference = _resolver("torch", config, batch_size=2).run(source)
    ort = _resolver("onnxruntime", config, batch_size=2).run(source)
    head = np.kron(source.array > 0, np.ones((1, 2, 2))).astype(bool)
    error = np.abs(ort.array - reference.array)[head].max()
    assert error < 0.001 * NORM  # the optimized path's budget: 0.1 % of the map's range
    assert error < ORT_TOLERANCE_MS
    assert ort.same_geometry(reference) and ort.shape == reference.shape
    assert np.ptp(ort.array[3]) == 0  # the empty slice is still the constant background response
    assert ort.metadata["sr_report"].runtime == "onnxruntime"
    assert reference.metadata["sr_report"].runtime == "torch"


def test_runner_maps_n1hw_to_n1_2h_2w() -> None:
    from quantsr.speedups import fold_batchnorm

    runner = OnnxRunner(fold_batchnorm(trained_looking(SMALL)), threads=1)
    out = runner(np.full((3, 1, 10, 14), -1.0, np.float32))
    assert out.shape == (3, 1, 20, 28) and out.dtype == np.float32


def test_auto_picks_onnxruntime_on_the_cpu_optimized_path() -> None:
    resolver = _resolver("auto")
    assert resolver.runtime == "onnxruntime" and resolver.runner is not None
    assert resolver.run(head_map(shape=(4, 40, 40))).metadata["sr_report"].runtime == "onnxruntime"
    assert _resolver("auto", optimized=False).runtime == "torch"  # the naive path is the torch reference
    assert _resolver("onnxruntime", optimized=False).runner is None
    assert _resolver("torch").runner is None


def test_onnxruntime_on_cuda_falls_back_to_torch_with_a_warning(caplog) -> None:
    cuda = torch.device("cuda")  # resolve_runtime only looks at the type: no GPU needed
    with caplog.at_level(logging.WARNING, logger="quantsr"):
        assert resolve_runtime("onnxruntime", cuda, optimized=True) == "torch"
    assert "CPU only" in caplog.text
    assert resolve_runtime("auto", cuda, optimized=True) == "torch"


def test_unknown_runtime_is_a_clear_error() -> None:
    with pytest.raises(QuantSRError, match="unknown runtime 'tensorrt': expected torch, onnxruntime, auto"):
        _resolver("tensorrt")


@pytest.mark.parametrize("module", ["onnxruntime", "onnx"])
def test_missing_onnxruntime_or_onnx(monkeypatch, module: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import <module>` raise ImportError
    with pytest.raises(ModelError, match="pip install onnxruntime"):
        _resolver("onnxruntime")
    with pytest.raises(ModelError, match="pip install onnxruntime"):
        OnnxRunner(trained_looking(SMALL), threads=1)
    resolver = _resolver("auto")
    assert resolver.runtime == "torch" and resolver.runner is None
    assert resolver.run(head_map(shape=(4, 40, 40))).metadata["sr_report"].runtime == "torch"


def test_cli_runtime_flag(tmp_path, capsys) -> None:
    model = save_model(trained_looking(SMALL), ModelInfo(MapKind.T1, NORM, trained_on="unit test"),
                       tmp_path / "t1.safetensors")
    source = tmp_path / "sub01_T1_fast.nrrd"
    write_image(head_map(shape=(4, 40, 40)), source)
    args = ["sr", str(source), "--model", str(model), "--device", "cpu"]
    assert main([*args, "-o", str(tmp_path / "ort.nrrd"), "--runtime", "onnxruntime"]) == 0
    assert "with onnxruntime" in capsys.readouterr().out
    assert main([*args, "-o", str(tmp_path / "torch.nrrd")]) == 0  # torch stays the default
    assert "with torch" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([*args, "-o", str(tmp_path / "x.nrrd"), "--runtime", "tensorrt"])
