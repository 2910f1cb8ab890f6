"""``quantsr-train``: the training command (filled by the training issue)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("quantsr-train: training is not available in this version yet.", file=sys.stderr)
    return 2
