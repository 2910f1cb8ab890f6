"""Model files travel between groups: QuantSR loads safetensors only, validates the metadata before
building anything, checks the SHA-256, and never unpickles."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
from safetensors.torch import save_file

from quantsr.errors import ModelError
from quantsr.mapkinds import MapKind
from quantsr.model import Generator, GeneratorConfig
from quantsr.modelfile import METADATA_KEY, ModelInfo, load_model, save_model


def _tiny(tmp_path):
    torch.manual_seed(0)
    generator = Generator(GeneratorConfig(channels=2, residual_blocks=0))
    path = save_model(generator, ModelInfo(MapKind.T2, MapKind.T2.norm_physical), tmp_path / "t2.safetensors")
    return generator, path


def _with_metadata(tmp_path, generator, edit) -> str:
    _, good = _tiny(tmp_path)
    from safetensors import safe_open

    with safe_open(str(good), "pt") as handle:
        meta = json.loads(handle.metadata()[METADATA_KEY])
    edit(meta)
    path = tmp_path / "edited.safetensors"
    save_file({k: v.contiguous() for k, v in generator.state_dict().items()}, str(path),
              metadata={METADATA_KEY: json.dumps(meta)})
    return str(path)


def test_pickle_with_a_payload_is_never_executed(tmp_path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "model.safetensors"  # a pickle wearing the right extension
    path.write_bytes(pickle.dumps({"weights": Payload()}))
    with pytest.raises(ModelError):
        load_model(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.update(norm_physical=22000.0, norm_stored=220000.0), "does not fit T2 maps"),
        (lambda m: m["architecture"].update(channels=100000), "implausible architecture"),
        (lambda m: m.update(norm_stored=1.0), "norm_stored and norm_physical disagree"),
        (lambda m: m.update(map_kind="B1"), "unknown map kind|unsupported map kind|invalid"),
        (lambda m: m.update(format="something-else"), "not a QuantSR model"),
        (lambda m: m.update(format_version=99), "newer than this QuantSR"),
        (lambda m: m.pop("architecture"), "incomplete or invalid"),
        (lambda m: m.update(weights_sha256="0" * 64), "SHA-256"),
    ],
)
def test_bad_metadata_is_refused_with_the_reason(tmp_path, edit, message) -> None:
    generator, _ = _tiny(tmp_path)
    with pytest.raises(ModelError, match=message):
        load_model(_with_metadata(tmp_path, generator, edit))


def test_safetensors_header_length_starting_with_0x80_is_not_mistaken_for_pickle(tmp_path) -> None:
    """Regression: a real exported model's header length began with byte 0x80 (pickle's PROTO opcode)."""
    from quantsr.modelfile import _check_not_pickle

    path = tmp_path / "m.safetensors"
    path.write_bytes((0x1480).to_bytes(8, "little") + b'{"__metadata__": {}}')
    _check_not_pickle(path)  # no error: it is a safetensors layout
    path.write_bytes(b"\x80\x04\x95" + b"\x00" * 20)  # a pickle
    with pytest.raises(ModelError, match="never unpickles"):
        _check_not_pickle(path)
