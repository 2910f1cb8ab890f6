"""The network's value range: a physical map (ms or %) ↔ the generator's [−1, 1], for inference
(``quantsr.engine``) and training (``quantsr_training.dataset``) alike. NumPy only (no torch).

``norm`` is the model's normalisation constant in physical units (``MapKind.norm_physical``, recorded in every
model file: 4500 ms / 2200 ms / 180 % for the paper's T1 / T2 / PD): 0 maps to −1 and ``norm`` to +1."""

from __future__ import annotations

import numpy as np

#: Normalised background: physical 0 maps to −1 (value / norm × 2 − 1).
BACKGROUND = -1.0


def normalise(values: np.ndarray, norm: float) -> np.ndarray:
    """Physical values → the network's range (``norm`` → 1, 0 → −1); not clipped."""
    return values / norm * 2.0 - 1.0


def denormalise(values: np.ndarray, norm: float) -> np.ndarray:
    """The network's range → physical values (inverse of :func:`normalise`); not clipped."""
    return (values + 1.0) / 2.0 * norm


def to_network_range(values: np.ndarray, norm: float) -> np.ndarray:
    """What the generator is fed: ``values`` clipped to [0, ``norm``], normalised, as float32 (same shape)."""
    return normalise(np.clip(values, 0.0, norm), norm).astype(np.float32)


def denormalise_in_place(values: np.ndarray, norm: float) -> None:
    """:func:`denormalise` clipped to [0, norm] without temporaries: a study's output is 25 MB per map, and three
    fresh temporaries per map cost page faults the in-place version does not (docs/benchmarks.md)."""
    np.add(values, 1.0, out=values)
    np.multiply(values, norm / 2.0, out=values)
    np.clip(values, 0.0, norm, out=values)
