"""``quantsr model-info`` and ``quantsr convert-model``: inspect and import model files safely."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..mapkinds import QUANT_KINDS, MapKind


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("model-info", help="show a model file's metadata (or the bundled models)")
    p.add_argument("model", type=Path, nargs="?", help="model file; default: list bundled models")
    p.set_defaults(handler=info)
    c = sub.add_parser("convert-model", help="convert a PyTorch state-dict checkpoint (weights only)")
    c.add_argument("checkpoint", type=Path)
    c.add_argument("-o", "--output", type=Path, required=True)
    c.add_argument("--map", required=True, choices=["T1", "T2", "PD"])
    c.add_argument("--trained-on", default="", help="provenance text stored in the model")
    c.set_defaults(handler=convert)


def info(args: argparse.Namespace) -> int:
    from ..modelfile import file_sha256, find_bundled_model, read_model_info

    if args.model is None:
        for kind in QUANT_KINDS:
            path = find_bundled_model(kind)
            if path is None:
                print(f"{kind.value}: not installed")
                continue
            model = read_model_info(path)
            guides = ", ".join(g.value for g in model.guide_kinds)
            notes = [f"also reads the fast {guides} maps"] if guides else []
            if model.fast_consistency_mm is not None:
                notes.append(f"fast-scan consistency σ {model.fast_consistency_mm:g} mm")
            if model.fast_consistency_forward is not None:
                notes.append(f"consistency through the {model.fast_consistency_forward} forward model")
            print(f"{kind.value}: {path}" + (f" ({'; '.join(notes)})" if notes else ""))
        return 0
    meta = read_model_info(args.model).to_json()
    meta["file_sha256"] = file_sha256(args.model)
    print(json.dumps(meta, indent=2, sort_keys=True))
    return 0


def convert(args: argparse.Namespace) -> int:
    from ..modelfile import convert_checkpoint

    path = convert_checkpoint(args.checkpoint, args.output, MapKind.parse(args.map), trained_on=args.trained_on)
    print(f"wrote {path}")
    return 0
