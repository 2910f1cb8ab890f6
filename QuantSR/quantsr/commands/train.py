"""``quantsr train ...``: the same as ``quantsr-train ...`` when the QuantSRTraining package is installed."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train / export / evaluate models (the quantsr-train command)",
                       add_help=False)
    p.add_argument("arguments", nargs=argparse.REMAINDER, help="arguments of quantsr-train")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return delegate(args.arguments)


def delegate(arguments: list[str]) -> int:
    try:
        from quantsr_training.cli import main
    except ImportError:
        print("quantsr: error: the training package (quantsr_training) is not installed", file=sys.stderr)
        return 1
    return main(arguments)
