"""``quantsr synth``: synthetic T1W / T2W / PDW / FLAIR / STIR / PSIR images from T1, T2 and PD maps."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError, OutputError
from ..io.outputs import check_not_inside_inputs, image_suffix
from ..mapkinds import MapKind
from ..synth import PRESETS, contrast, synthesize


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="synthetic weighted images (FLAIR, STIR, ...) from T1/T2/PD maps",
                       description="Synthesise a contrast-weighted image from T1, T2 and PD maps (fast, DL or "
                       "routine). INPUT is a DICOM folder holding the three maps, or give --t1 --t2 --pd files.")
    p.add_argument("input", type=Path, nargs="?", help="DICOM folder with T1, T2 and PD map series")
    p.add_argument("--t1", type=Path)
    p.add_argument("--t2", type=Path)
    p.add_argument("--pd", type=Path)
    p.add_argument("--contrast", required=True, choices=sorted(PRESETS))
    p.add_argument("--tr", type=float, help="repetition time (ms); default: the preset's")
    p.add_argument("--te", type=float, help="echo time (ms)")
    p.add_argument("--ti", type=float, help="inversion time (ms; FLAIR, STIR, PSIR)")
    p.add_argument("-o", "--output", type=Path, required=True, help="NRRD / NIfTI / MHA file")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..io.images import write_image
    from ..io.loader import load_maps

    if image_suffix(args.output) is None:
        raise OutputError("give an image file name (.nrrd, .nii.gz, .mha)", args.output)
    if args.input is not None:
        maps = {m.kind: m for m in load_maps(args.input)}
        sources = [args.input]
    elif args.t1 and args.t2 and args.pd:
        maps = {kind: load_maps(path, kind=kind)[0] for kind, path in
                ((MapKind.T1, args.t1), (MapKind.T2, args.t2), (MapKind.PD, args.pd))}
        sources = [args.t1, args.t2, args.pd]
    else:
        raise InputError("give a DICOM folder with T1, T2 and PD maps, or all of --t1 --t2 --pd")
    missing = [k.value for k in (MapKind.T1, MapKind.T2, MapKind.PD) if k not in maps]
    if missing:
        raise InputError(f"has no {' / '.join(missing)} map: a synthetic contrast needs T1, T2 and PD",
                         args.input)
    check_not_inside_inputs([args.output], sources)
    try:
        spec = contrast(args.contrast, args.tr, args.te, args.ti)
        image = synthesize(maps[MapKind.T1], maps[MapKind.T2], maps[MapKind.PD], spec)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    write_image(image, args.output)
    print(f"{spec.description}: TR {spec.tr_ms:g} ms, TE {spec.te_ms:g} ms"
          + (f", TI {spec.ti_ms:g} ms" if spec.kind != "se" else "") + f" → {args.output}")
    return 0
