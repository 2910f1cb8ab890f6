"""Subject-level train / test split (seeded, written to disk): never slices of one subject on both sides.
Patients and healthy subjects are split separately so both sides hold both groups."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from quantsr.errors import InputError
from quantsr.io.atomic import atomic_path


def make_split(subjects: Sequence[str], groups: Sequence[str], train_fraction: float, seed: int) -> dict:
    if not 0 < train_fraction < 1:
        raise InputError(f"train_fraction must lie between 0 and 1, got {train_fraction}")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for group in sorted(set(groups)):
        members = sorted(s for s, g in zip(subjects, groups, strict=True) if g == group)
        order = [members[i] for i in rng.permutation(len(members))]
        n_train = int(round(train_fraction * len(members)))
        if len(members) > 1:
            n_train = min(max(n_train, 1), len(members) - 1)
        train += order[:n_train]
        test += order[n_train:]
    return {"seed": seed, "train_fraction": train_fraction, "train": sorted(train), "test": sorted(test)}


def write_split(split: dict, path: Path) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(split, indent=1))
    return path


def read_split(path: Path) -> dict:
    try:
        split = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"not a readable split file ({exc})", path) from None
    overlap = set(split.get("train", [])) & set(split.get("test", []))
    if overlap:
        raise InputError(f"subjects on both sides of the split: {sorted(overlap)}", path)
    return split
