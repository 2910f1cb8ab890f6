"""Property-based fuzzing: random mutations of valid DICOM slices and model files must only ever raise
QuantSR's own errors (a clear message), never an unexpected exception. CI runs a short budget; set
QUANTSR_FUZZ_EXAMPLES for a longer run (docs/reliability.md records the sizes run)."""

from __future__ import annotations

import contextlib
import json
import os
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from helpers.dicom_factory import brain_like, write_dicom_series
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantsr import modelfile
from quantsr.errors import InputError, ModelError, QuantSRError
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


# Findings of earlier fuzz runs (docs/reliability.md, "Findings fixed and kept"), each rebuilt as the exact
# input that triggered it, with the behaviour the fix guarantees asserted.


def test_finding_nul_in_pixel_spacing_is_a_malformed_dicom_error() -> None:
    """The fuzzer's first finding: one byte of PixelSpacing set to NUL ('\\x00.859375') made pydicom raise a bare
    ValueError. Now it is an InputError that names the file and says what pydicom could not parse."""
    position = SLICE_BYTES.index(b"0.859375\\0.859375")  # the DS value of (0028,0030) PixelSpacing
    mutated = _mutate(SLICE_BYTES, [(position, 0)], None)
    assert mutated[position:position + 8] == b"\x00.859375"
    folder = Path(tempfile.mkdtemp(dir=_workspace))
    (folder / "a.dcm").write_bytes(mutated)
    (folder / "b.dcm").write_bytes(_series[1].read_bytes())
    with pytest.raises(InputError) as raised:
        load_maps(folder, kind=MapKind.T1)
    assert raised.value.path == folder / "a.dcm"
    assert "malformed DICOM (ValueError: could not convert string to float: '\\x00.859375')" in str(raised.value)


def test_finding_image_without_pixels_and_a_broken_series_number_is_a_malformed_dicom_error() -> None:
    """Found by the 10000-example run of 2026-11-27: a slice whose PixelData tag and SeriesNumber are damaged
    (here: the tag (7FE0,0010) turned into (7FE0,0011), SeriesNumber '3' into '\\x01') is listed as a broken
    series, and building that entry's number raised a bare ValueError outside the reader's guard. Now it is an
    InputError that names the file."""
    pixel_tag = SLICE_BYTES.rindex(b"\xe0\x7f\x10\x00")  # (7FE0,0010), little endian
    series_number = SLICE_BYTES.index(b"\x20\x00\x11\x00IS\x02\x00") + 8  # (0020,0011) IS, 2 bytes: "3 "
    assert SLICE_BYTES[series_number:series_number + 2] == b"3 "
    mutated = _mutate(SLICE_BYTES, [(pixel_tag + 2, 0x11), (series_number, 0x01)], None)
    folder = Path(tempfile.mkdtemp(dir=_workspace))
    (folder / "a.dcm").write_bytes(mutated)
    with pytest.raises(InputError) as raised:
        load_maps(folder, kind=MapKind.T1)
    assert raised.value.path == folder
    assert "a.dcm: malformed DICOM (ValueError: invalid literal for int() with base 10: '\\x01')" in str(raised.value)


def _with_metadata(model_bytes: bytes, edit: Callable[[dict], None]) -> bytes:
    """The model file with its QuantSR metadata edited and the safetensors header re-sized to fit."""
    size = struct.unpack("<Q", model_bytes[:8])[0]
    header = json.loads(model_bytes[8:8 + size])
    metadata = json.loads(header["__metadata__"]["quantsr"])
    edit(metadata)
    header["__metadata__"]["quantsr"] = json.dumps(metadata)
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded + model_bytes[8 + size:]


@pytest.mark.parametrize(("field", "value"), [("channels", 1_000_000), ("residual_blocks", 100_000), ("scale", 64)])
def test_finding_header_asking_for_a_huge_network_is_refused_before_building(field, value, monkeypatch) -> None:
    """The second finding: a mutated header could ask for a network of gigabytes (1e6 channels: 3×3 convolutions
    of 1e6² weights), which the loader built before checking anything. Now the architecture is bounded
    (modelfile.MAX_CHANNELS / MAX_BLOCKS / MAX_SCALE) and refused before any generator is constructed; the
    weights' SHA-256 still matches (only the metadata changed), so the bound is what refuses it."""
    def no_building(config):  # stands in for the generator: building it would allocate the gigabytes
        pytest.fail(f"a generator was built from a tampered header: {config}")

    monkeypatch.setattr(modelfile, "Generator", no_building)

    def ask_for_more(metadata: dict) -> None:
        metadata["architecture"][field] = value
        if field == "scale":
            metadata["scale"] = value  # both scales agree, so only the bound can refuse it

    path = Path(tempfile.mkdtemp(dir=_workspace)) / "m.safetensors"
    path.write_bytes(_with_metadata(MODEL_BYTES, ask_for_more))
    with pytest.raises(ModelError, match="implausible architecture in the metadata") as raised:
        load_model(path)
    assert raised.value.path == path and f"{field}={value}" in str(raised.value)
