"""Preprocessed, memory-mapped training slices and the random aligned LR/HR patch dataset.

Each subject's normalised fast (LR) and paired routine (HR) slices are cached once as .npy files, so an
epoch never re-reads DICOM. Patch positions and flips are a pure function of (seed, epoch, index): a
resumed run draws exactly the patches an uninterrupted run would have drawn."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from quantsr.engine import normalise
from quantsr.io.atomic import atomic_path

from .pairs import PairedSubject


@dataclass(frozen=True)
class CachedSubject:
    subject: str
    lr_path: Path
    hr_path: Path
    slices: tuple[int, ...]  # slices with enough head to train on


def cache_subject(paired: PairedSubject, norm: float, cache_dir: Path, min_head_fraction: float) -> CachedSubject:
    """Write (once) the normalised LR / HR stacks of a subject; reuse them when the inputs are unchanged."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256()
    for array in (paired.fast.array, paired.routine.array):
        key.update(np.ascontiguousarray(array).tobytes())
    key.update(str(norm).encode())
    digest = key.hexdigest()[:16]
    lr_path = cache_dir / f"{paired.subject}_{digest}_lr.npy"
    hr_path = cache_dir / f"{paired.subject}_{digest}_hr.npy"
    for path, array in ((lr_path, paired.fast.array), (hr_path, paired.routine.array)):
        if not path.exists():
            with atomic_path(path, suffix=".npy") as tmp:
                np.save(tmp, normalise(np.clip(array, 0, norm), norm).astype(np.float32))
    head = (paired.fast.array > 0).mean(axis=(1, 2))
    slices = tuple(int(k) for k in np.flatnonzero(head >= min_head_fraction))
    return CachedSubject(paired.subject, lr_path, hr_path, slices)


class PatchDataset(Dataset):
    """Item i = one training slice; each epoch draws a fresh aligned patch from it (with flips)."""

    def __init__(self, subjects: list[CachedSubject], lr_patch: int, scale: int, seed: int,
                 min_head_fraction: float = 0.25) -> None:
        self.items = [(s, k) for s in subjects for k in s.slices]
        if not self.items:
            raise ValueError("no training slices (all below the head-fraction threshold?)")
        self.lr_patch, self.scale, self.seed = lr_patch, scale, seed
        self.min_head_fraction = min_head_fraction
        self.epoch = 0
        self._arrays: dict[Path, np.ndarray] = {}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def _array(self, path: Path) -> np.ndarray:
        if path not in self._arrays:
            self._arrays[path] = np.load(path, mmap_mode="r")
        return self._arrays[path]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        subject, k = self.items[index]
        lr_stack, hr_stack = self._array(subject.lr_path), self._array(subject.hr_path)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        p, s = self.lr_patch, self.scale
        rows, cols = lr_stack.shape[1:]
        for _attempt in range(20):
            r, c = int(rng.integers(0, rows - p + 1)), int(rng.integers(0, cols - p + 1))
            lr = np.asarray(lr_stack[k, r : r + p, c : c + p])
            if (lr > -1).mean() >= self.min_head_fraction:  # normalised background is exactly −1
                break
        hr = np.asarray(hr_stack[k, r * s : (r + p) * s, c * s : (c + p) * s])
        if rng.random() < 0.5:
            lr, hr = lr[:, ::-1], hr[:, ::-1]
        if rng.random() < 0.5:
            lr, hr = lr[::-1], hr[::-1]
        return (torch.from_numpy(np.ascontiguousarray(lr))[None], torch.from_numpy(np.ascontiguousarray(hr))[None])
