"""Preprocessed, memory-mapped training slices and the random aligned LR/HR patch dataset.

Each subject's normalised fast (LR) and paired routine (HR) slices are cached once as .npy files, so an
epoch never re-reads DICOM. Patch positions and flips are a pure function of (seed, epoch, index): a
resumed run draws exactly the patches an uninterrupted run would have drawn.

Rare-value oversampling (``rare_share`` > 0) centres that share of the patches on voxels whose routine
value is rare in the training set — lesions, cysts, partial-volume CSF — because with uniform patches the
L1 loss is dominated by normal tissue and the network regresses lesion values towards it (issue 9)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from quantsr.io.atomic import atomic_path
from quantsr.normalisation import to_network_range

from .pairs import PairedSubject


@dataclass(frozen=True)
class CachedSubject:
    subject: str
    lr_path: Path
    hr_path: Path
    slices: tuple[int, ...]  # slices with enough head to train on
    guide_paths: tuple[Path, ...] = ()  # the guide maps' normalised LR stacks, in the model's channel order


def _digest(*arrays: np.ndarray, norm: float) -> str:
    key = hashlib.sha256()
    for array in arrays:
        key.update(np.ascontiguousarray(array).tobytes())
    key.update(str(norm).encode())
    return key.hexdigest()[:16]


def _write_once(path: Path, array: np.ndarray, norm: float) -> None:
    if not path.exists():
        with atomic_path(path, suffix=".npy") as tmp:
            np.save(tmp, to_network_range(array, norm))


def cache_subject(paired: PairedSubject, norm: float, cache_dir: Path, min_head_fraction: float) -> CachedSubject:
    """Write (once) the normalised LR / HR stacks of a subject (and of its guide maps, each normalised by its own
    kind's constant); reuse them when the inputs are unchanged."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    digest = _digest(paired.fast.array, paired.routine.array, norm=norm)
    stem = paired.subject.replace("/", "_")  # extra cohorts name subjects cohort/subject
    lr_path = cache_dir / f"{stem}_{digest}_lr.npy"
    hr_path = cache_dir / f"{stem}_{digest}_hr.npy"
    _write_once(lr_path, paired.fast.array, norm)
    _write_once(hr_path, paired.routine.array, norm)
    guide_paths = []
    for guide in paired.guides:
        guide_norm = guide.kind.norm_physical
        path = cache_dir / f"{stem}_{_digest(guide.array, norm=guide_norm)}_guide_{guide.kind.value}.npy"
        _write_once(path, guide.array, guide_norm)
        guide_paths.append(path)
    head = (paired.fast.array > 0).mean(axis=(1, 2))
    slices = tuple(int(k) for k in np.flatnonzero(head >= min_head_fraction))
    return CachedSubject(paired.subject, lr_path, hr_path, slices, tuple(guide_paths))


class RareValueCentres:
    """Candidate patch centres on a coarse LR grid, drawn so each voxel's chance ∝ count(its routine value
    bin)^−power: power 0 is uniform over the head, 1 gives every occupied value bin the same chance."""

    def __init__(self, items: list[tuple[CachedSubject, int]], load: Callable[[Path], np.ndarray], scale: int,
                 power: float,
                 stride: int = 4, bins: int = 256) -> None:
        self.stride = stride
        values, where = [], []
        for index, (subject, k) in enumerate(items):
            hr = np.asarray(load(subject.hr_path)[k, :: stride * scale, :: stride * scale])
            rows, cols = np.nonzero(hr > -1 + 1e-6)  # head voxels only
            values.append(hr[rows, cols])
            where.append(np.stack([np.full(rows.size, index), rows * stride, cols * stride], axis=1).astype(np.int32))
        value = np.concatenate(values)
        if value.size == 0:
            raise ValueError("no head voxels to centre rare-value patches on")
        bin_of = np.clip(((value + 1) / 2 * bins).astype(np.int64), 0, bins - 1)
        order = np.argsort(bin_of, kind="stable")
        self.where = np.concatenate(where)[order]
        counts = np.bincount(bin_of, minlength=bins)
        self.starts = np.concatenate([[0], np.cumsum(counts)])
        # Σ over a bin's voxels of count^−power = count^(1−power): pick a bin, then a voxel in it uniformly.
        mass = np.where(counts > 0, counts.astype(float) ** (1.0 - power), 0.0)
        self.bin_probability = mass / mass.sum()
        self.voxel_share = counts / counts.sum()

    def draw(self, rng: np.random.Generator) -> tuple[int, int, int]:
        """(item index, LR row, LR column) of a patch centre."""
        b = int(rng.choice(self.bin_probability.size, p=self.bin_probability))
        item, row, col = self.where[int(rng.integers(self.starts[b], self.starts[b + 1]))]
        jitter = rng.integers(0, self.stride, 2)
        return int(item), int(row + jitter[0]), int(col + jitter[1])


class PatchDataset(Dataset):
    """Item i = one training slice; each epoch draws a fresh aligned patch from it (with flips). With
    ``rare_share`` > 0 that share of the items instead draws a patch around a rare-value voxel anywhere in
    the training set (:class:`RareValueCentres`). The LR patch has one channel per map: the map, then the
    subject's guide maps (``CachedSubject.guide_paths``) at the same place."""

    def __init__(self, subjects: list[CachedSubject], lr_patch: int, scale: int, seed: int,
                 min_head_fraction: float = 0.25, rare_share: float = 0.0, rare_power: float = 0.5) -> None:
        self.items = [(s, k) for s in subjects for k in s.slices]
        if not self.items:
            raise ValueError("no training slices (all below the head-fraction threshold?)")
        if not 0 <= rare_share <= 1:
            raise ValueError(f"rare-value patch share must lie in [0, 1], got {rare_share}")
        self.lr_patch, self.scale, self.seed = lr_patch, scale, seed
        self.min_head_fraction = min_head_fraction
        self.epoch = 0
        self._arrays: dict[Path, np.ndarray] = {}
        self.rare_share = rare_share
        self.rare = RareValueCentres(self.items, self._array, scale, rare_power) if rare_share > 0 else None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def _array(self, path: Path) -> np.ndarray:
        if path not in self._arrays:
            self._arrays[path] = np.load(path, mmap_mode="r")
        return self._arrays[path]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(LR patch (1 + guides, p, p), HR patch (1, s·p, s·p)), normalised."""
        rng = np.random.default_rng([self.seed, self.epoch, index])
        p, s = self.lr_patch, self.scale
        rare = self.rare.draw(rng) if self.rare is not None and rng.random() < self.rare_share else None
        if rare is not None:  # a patch centred on a rare value: its slice replaces ``index``'s
            index, centre_row, centre_col = rare
        subject, k = self.items[index]
        lr_stack, hr_stack = self._array(subject.lr_path), self._array(subject.hr_path)
        rows, cols = lr_stack.shape[1:]
        if rare is not None:
            shift = rng.integers(-(p // 4), p // 4 + 1, 2)  # the rare voxel anywhere in the middle half
            r = int(np.clip(centre_row - p // 2 + shift[0], 0, rows - p))
            c = int(np.clip(centre_col - p // 2 + shift[1], 0, cols - p))
        else:
            for _attempt in range(20):
                r, c = int(rng.integers(0, rows - p + 1)), int(rng.integers(0, cols - p + 1))
                if (lr_stack[k, r : r + p, c : c + p] > -1).mean() >= self.min_head_fraction:  # background is −1
                    break
        stacks = (lr_stack, *(self._array(path) for path in subject.guide_paths))
        lr = np.stack([np.asarray(stack[k, r : r + p, c : c + p]) for stack in stacks])
        hr = np.asarray(hr_stack[k, r * s : (r + p) * s, c * s : (c + p) * s])[None]
        if rng.random() < 0.5:
            lr, hr = lr[..., ::-1], hr[..., ::-1]
        if rng.random() < 0.5:
            lr, hr = lr[:, ::-1], hr[:, ::-1]
        return torch.from_numpy(np.ascontiguousarray(lr)), torch.from_numpy(np.ascontiguousarray(hr))
