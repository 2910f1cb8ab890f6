"""``quantsr series``: list the series of a DICOM folder with the detected map kinds."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("series", help="list DICOM series and detected map kinds")
    p.add_argument("input", type=Path, help="DICOM folder or file")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..io.loader import describe_series

    print(describe_series(args.input))
    return 0
