"""Sub-commands of ``quantsr``; each module adds its parser and handler."""

from __future__ import annotations

import argparse

from . import models, series, sr


def register_all(sub: argparse._SubParsersAction) -> None:
    for module in (sr, series, models):
        module.register(sub)
