"""Property-based fuzzing: random mutations of valid DICOM slices and model files must only ever raise
QuantSR's own errors (a clear message), never an unexpected exception. CI runs a short budget; set
QUANTSR_FUZZ_EXAMPLES for a longer run (docs/reliability.md records the sizes run)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import pytest
import torch
from helpers.dicom_factory import brain_like, write_dicom_series
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantsr.errors import QuantSRError
from quantsr.io.loader import load_maps
from quantsr.mapkinds import MapKind
from quantsr.model import Generator, GeneratorConfig
from quantsr.modelfile import ModelInfo, load_model, save_model

EXAMPLES = int(os.environ.get("QUANTSR_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_workspace = Path(tempfile.mkdtemp(prefix="quantsr-fuzz-"))
_series = write_dicom_series(_workspace / "series", brain_like("T1", shape=(2, 8, 8)), shuffle=False)
SLICE_BYTES = _series[0].read_bytes()
torch.manual_seed(0)
_model = save_model(Generator(GeneratorConfig(channels=2, residual_blocks=0)),
                    ModelInfo(MapKind.T1, MapKind.T1.norm_physical), _workspace / "model.safetensors")
MODEL_BYTES = _model.read_bytes()

mutations = st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)),
                     min_size=1, max_size=12)


def _mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    buffer = bytearray(data)
    for position, value in edits:
        buffer[position % len(buffer)] = value
    return bytes(buffer[:cut] if cut else buffer)


@FUZZ
@given(edits=mutations, cut=st.one_of(st.none(), st.integers(min_value=1, max_value=len(SLICE_BYTES))))
def test_mutated_dicom_slice_only_raises_quantsr_errors(edits, cut) -> None:
    folder = Path(tempfile.mkdtemp(dir=_workspace))
    (folder / "a.dcm").write_bytes(_mutate(SLICE_BYTES, edits, cut))
    (folder / "b.dcm").write_bytes(_series[1].read_bytes())
    with contextlib.suppress(QuantSRError):  # anything else fails the test
        load_maps(folder, kind=MapKind.T1)


@FUZZ
@given(edits=mutations, cut=st.one_of(st.none(), st.integers(min_value=1, max_value=len(MODEL_BYTES))))
def test_mutated_model_file_only_raises_quantsr_errors(edits, cut) -> None:
    path = Path(tempfile.mkdtemp(dir=_workspace)) / "m.safetensors"
    path.write_bytes(_mutate(MODEL_BYTES, edits, cut))
    with contextlib.suppress(QuantSRError):
        load_model(path)


@pytest.mark.parametrize("edits", [[(0, 0)], [(200, 0x41)]])
def test_known_mutations_stay_handled(edits) -> None:
    """Regression seeds (kept from fuzz findings)."""
    test_mutated_dicom_slice_only_raises_quantsr_errors.hypothesis.inner_test(edits=edits, cut=None)
