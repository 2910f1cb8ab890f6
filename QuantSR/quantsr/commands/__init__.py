"""Sub-commands of ``quantsr``; each module adds its parser and handler."""

from __future__ import annotations

import argparse

from . import batch, demo, models, report, series, simulate, sr, synth, train


def register_all(sub: argparse._SubParsersAction) -> None:
    for module in (demo, sr, batch, series, simulate, synth, report, models, train):
        module.register(sub)
