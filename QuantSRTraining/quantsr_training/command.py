"""``quantsr train ...``: quantsr-train as a sub-command of ``quantsr``. The training package registers it itself,
through the ``quantsr.commands`` entry point group (pyproject.toml), so the core never names the training package;
``quantsr.commands`` finds it when the package is installed. Everything after ``train`` belongs to quantsr-train,
``--help`` included (:func:`main`). Imports nothing heavy: ``quantsr --help`` reads :data:`SUMMARY` from here."""

from __future__ import annotations

import argparse

SUMMARY = "train / export / evaluate models (the quantsr-train command)"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help=SUMMARY, add_help=False)
    p.add_argument("arguments", nargs=argparse.REMAINDER, help="arguments of quantsr-train")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return main(args.arguments)


def main(arguments: list[str]) -> int:
    """``quantsr train ARGUMENTS`` = ``quantsr-train ARGUMENTS``."""
    from .cli import main as train_main

    return train_main(arguments)
