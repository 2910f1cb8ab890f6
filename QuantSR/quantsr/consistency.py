"""Fast-scan consistency of a super-resolved map (issue 16, docs/generalization.md).

A super-resolution network pulls what it has not seen — small lesions, values outside its training range,
unfamiliar anatomy — towards what its training data looked like, and so moves regional means away from what
the fast scan measured. The fast scan is blurred and noisy, but its local means are nearly unbiased. This
step keeps the network's fine detail and takes the coarse level from the fast scan's cubic upsampling ``B``:

    consistent = DL + F_σ(B − DL)

``F_σ`` is He et al.'s guided filter (Gaussian windows of ``sigma_mm``, physical, so it means the same on any
grid) guided by log DL: inside a region it is a plain low-pass, so a region larger than σ gets B's mean; across
an edge of DL (local log-contrast above √ε) each side keeps its own correction, so the network's bias in CSF
(hundreds of ms) does not leak into the cortex beside it. With ``eps=None`` ``F_σ`` is a plain Gaussian.
σ and ε were chosen on the validation cohort only (docs/generalization.md, "Fast-scan consistency").

``forward="acquisition"`` compares like with like (session 11): the fast scan against DL as the fast acquisition
would have seen it — DL's k-space cut to the fast acquisition's window and reconstructed on the fast grid
(:func:`quantsr.trust.to_fast_resolution`, the simulator's own acquisition), then both cubically upsampled:

    consistent = DL + F_σ(B(A(fast)) − B(A(DL)))

A network that resolved an edge the fast scan blurred is then consistent with it and keeps the edge (the identity
forward model puts the fast scan's partial volume back at the cortex), while a lesion it erased still differs
from the fast scan at σ and gets its mean back.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import ndimage

from .baselines import baseline_device, upsample
from .errors import InputError
from .srjob import DEFAULT_FORWARD, FORWARD_MODELS  # defined beside EngineOptions: the CLI needs them without scipy
from .trust import in_window_fast, to_fast_resolution
from .volume import QuantMap

log = logging.getLogger("quantsr")

#: Chosen on the validation cohort (docs/generalization.md, "Fast-scan consistency"): σ 1 mm, guided, ε 0.01.
DEFAULT_SIGMA_MM = 1.0
DEFAULT_EPS = 0.01

#: The Gaussian reaches this many σ each side (scipy's ``truncate``), in the reference helpers and the fast path alike.
TRUNCATE = 3.0
#: Output columns / rows per product with a block of the banded Gaussian matrix (fastest of 16–128 on the Xeon).
_BLOCK_COLUMNS = 48
_BLOCK_ROWS = 16
#: A pixel is background when DL equals the slice's corner value and the cubic upsampling is within this fraction of
#: the map's largest magnitude (DL's or the fast map's) of its corner value (the B-spline prefilter leaves tails of
#: 1e-5–1e-38 around a head).
_TAIL = 1e-7
#: Residuals below this fraction of the map's largest magnitude are filtered as 0: the bicubic tails reach float32
#: subnormals, which make every product with them ≈ 10× slower.
_FLUSH = 1e-30


def lowpass_in_plane(values: np.ndarray, sigma_mm: float, spacing_xy: tuple[float, float]) -> np.ndarray:
    """Gaussian smoothing of a (slices, rows, columns) array in-plane only; ``spacing_xy`` is (x, y) in mm."""
    sigma = (0.0, sigma_mm / spacing_xy[1], sigma_mm / spacing_xy[0])
    return ndimage.gaussian_filter(values, sigma, mode="nearest", truncate=TRUNCATE)


def guided_lowpass(guide: np.ndarray, values: np.ndarray, sigma_mm: float, spacing_xy: tuple[float, float],
                   eps: float) -> np.ndarray:
    """He et al.'s guided filter with Gaussian windows: ``values`` smoothed in-plane, but across an edge of
    ``guide`` (a local contrast well above ``sqrt(eps)``) each side keeps its own level — so a biased CSF value
    next to cortex does not leak into the cortex."""
    def mean(a: np.ndarray) -> np.ndarray:
        return lowpass_in_plane(a, sigma_mm, spacing_xy)

    guide = guide - np.float32(guide.mean())  # the filter ignores an offset; centring keeps float32 variances exact
    mean_guide = mean(guide)
    mean_values = mean(values)
    covariance = mean(guide * values) - mean_guide * mean_values
    variance = mean(guide * guide) - mean_guide * mean_guide
    slope = covariance / (variance + eps)
    offset = mean_values - slope * mean_guide
    return mean(slope) * guide + mean(offset)


def fast_consistent(dl: QuantMap, fast: QuantMap, sigma_mm: float = DEFAULT_SIGMA_MM,
                    eps: float | None = DEFAULT_EPS, forward: str = DEFAULT_FORWARD) -> QuantMap:
    """``dl`` with its coarse level (scale ``sigma_mm``) taken from the cubic upsampling of ``fast``.

    Args:
        dl: the network's output, on the ×scale grid of ``fast`` (physical units, ms or %).
        fast: the input map the network was given.
        sigma_mm: in-plane Gaussian σ in mm; 0 returns ``dl`` unchanged.
        eps: the guided filter's edge threshold on log values (variance); None: plain Gaussian low-pass.
        forward: ``"identity"`` (compare DL itself with the fast scan) or ``"acquisition"`` (compare DL as the
            fast acquisition would have seen it; module docstring).

    Returns:
        A map on ``dl``'s grid with ``dl``'s metadata plus ``fast_consistency_mm`` (and
        ``fast_consistency_forward`` for the acquisition model); never negative.
    """
    if forward not in FORWARD_MODELS:
        raise ValueError(f"unknown forward model {forward!r} (one of {', '.join(FORWARD_MODELS)})")
    if sigma_mm <= 0:
        return dl
    scale = round(dl.shape[1] / fast.shape[1])
    upsampled_shape = (fast.shape[0], fast.shape[1] * scale, fast.shape[2] * scale)
    if upsampled_shape != tuple(dl.shape):
        raise ValueError(f"fast map upsampled to {upsampled_shape}, DL map is {tuple(dl.shape)}")
    metadata = dict(dl.metadata, fast_consistency_mm=sigma_mm)
    if forward == "acquisition":
        try:
            # The fast path adds F(reference − DL); this reference makes that F(B(A(fast)) − B(A(DL)))
            target, outside = acquisition_reference(dl, fast, scale)
        except InputError as exc:  # a grid the k-space model does not fit (non-square, window larger than grid)
            log.warning("fast-scan consistency: the acquisition forward model does not apply (%s); comparing the "
                        "output itself with the fast scan instead", exc)
            return fast_consistent(dl, fast, sigma_mm, eps, "identity")

        def reference(index: int) -> np.ndarray:
            return target[index]
        metadata["fast_consistency_forward"] = forward
    elif baseline_device("auto") is None:
        # On the CPU each slice's cubic upsampling is made where it is used (the same numbers: slices are upsampled
        # independently; in cache and on every core, 0.12 instead of 0.17 CPU-s per 24-slice map)
        def reference(index: int) -> np.ndarray:
            return upsample(fast.with_array(fast.array[index : index + 1]), scale, "bicubic").array[0]
    else:  # on the GPU the engine used: the whole map in one call
        whole = upsample(fast, scale, "bicubic").array

        def reference(index: int) -> np.ndarray:
            return whole[index]
    values = dl.array.astype(np.float32)
    floor = (0.01 * dl.kind.norm_physical if dl.kind.norm_physical else 1.0) if eps is not None else 0.0
    sigma_rows, sigma_columns = sigma_mm / dl.spacing[1], sigma_mm / dl.spacing[0]
    magnitude = max(_largest_magnitude(values), _largest_magnitude(fast.array))
    _add_correction(values, reference, magnitude, sigma_rows, sigma_columns, eps, floor)
    if forward == "acquisition":  # the filters' reach must not carry the head's correction into the background
        values[outside] = target[outside]
    np.maximum(values, 0.0, out=values)
    return dl.with_array(values, metadata=metadata)


def acquisition_reference(dl: QuantMap, fast: QuantMap, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """``DL + B(A(fast)) − B(A(DL))`` (float32, ``dl``'s shape) inside the head; outside it (the returned mask)
    ``B(fast)``, the identity model's reference, so the background stays as empty as the fast map's instead of
    taking the window's ringing at the scalp. A is the fast acquisition's k-space window
    (:func:`quantsr.trust.to_fast_resolution`), B the cubic upsampling; A(fast) is the fast map's own in-window part
    (:func:`quantsr.trust.in_window_fast`). Each side is upsampled on its own: :func:`upsample` clips to ≥ 0."""
    upsampled = upsample(fast, scale, "bicubic").array
    reference = upsample(in_window_fast(fast), scale, "bicubic").array
    reference -= upsample(to_fast_resolution(dl, fast), scale, "bicubic").array
    reference += dl.array
    outside = upsampled <= _TAIL * max(_largest_magnitude(dl.array), _largest_magnitude(fast.array))
    reference[outside] = upsampled[outside]
    return reference, outside


# The fast path of ``fast_consistent`` (issue 20): the same arithmetic as ``lowpass_in_plane`` / ``guided_lowpass``
# in float32 — each Gaussian a product with a banded matrix (BLAS) instead of scipy's line-by-line float64 sums,
# the guided filter's four means (and then its two) filtered in one stack, slice by slice so the working set stays in
# cache, and only inside each slice's box of non-background pixels plus the filters' reach: outside it every input
# the result depends on is constant, where the guided filter returns its input, so the result there is
# ``dl + (bicubic − dl)`` as before (up to the bicubic's tails below ``_TAIL``). Slices run on this process's cores
# with BLAS on one thread each. Within ≈ 3e-6 of the map's range of the reference (float32 sums instead of float64;
# 0.3 % of the 0.1 %-of-range accuracy budget on the benchmark study; Testing/core/test_consistency.py,
# docs/benchmarks.md, "Fast-scan consistency step"). Non-finite values, which the engine rejects on input, would
# spread over a matrix block (16–48 pixels) instead of the filter's radius.


def _radius(sigma: float) -> int:
    """Taps each side of scipy's ``gaussian_filter1d(sigma, truncate=TRUNCATE)``."""
    return int(TRUNCATE * float(sigma) + 0.5)


@lru_cache(maxsize=64)
def _gaussian_matrix(n: int, sigma: float) -> np.ndarray:
    """``gaussian_filter1d(·, sigma, mode="nearest", truncate=TRUNCATE)`` along an axis of length ``n`` as an (n, n)
    float32 matrix (output = matrix @ input): scipy's own taps, those beyond either end added to the end pixel."""
    radius = _radius(sigma)
    impulse = np.zeros(2 * radius + 1)
    impulse[radius] = 1.0
    taps = ndimage.gaussian_filter1d(impulse, sigma, mode="constant", truncate=TRUNCATE)
    matrix = np.zeros((n, n))
    rows = np.arange(n)
    for offset, tap in zip(range(-radius, radius + 1), taps[::-1], strict=True):
        np.add.at(matrix, (rows, np.clip(rows + offset, 0, n - 1)), tap)
    return matrix.astype(np.float32)


def _smooth(stack: np.ndarray, sigma_rows: float, sigma_columns: float) -> np.ndarray:
    """``lowpass_in_plane`` of every image of ``stack`` (rows, images, columns; float32, C-contiguous), returned in
    ``stack`` itself: along the columns, then the rows, each output block from the band of inputs it reaches."""
    height, images, width = stack.shape
    across = np.empty_like(stack)
    matrix, radius = _gaussian_matrix(width, sigma_columns), _radius(sigma_columns)
    source, target = stack.reshape(height * images, width), across.reshape(height * images, width)
    for c0 in range(0, width, _BLOCK_COLUMNS):
        c1 = min(width, c0 + _BLOCK_COLUMNS)
        i0, i1 = max(0, c0 - radius), min(width, c1 + radius)
        np.matmul(source[:, i0:i1], matrix[c0:c1, i0:i1].T, out=target[:, c0:c1])
    matrix, radius = _gaussian_matrix(height, sigma_rows), _radius(sigma_rows)
    source, target = across.reshape(height, images * width), stack.reshape(height, images * width)
    for r0 in range(0, height, _BLOCK_ROWS):
        r1 = min(height, r0 + _BLOCK_ROWS)
        i0, i1 = max(0, r0 - radius), min(height, r1 + radius)
        np.matmul(matrix[r0:r1, i0:i1], source[i0:i1], out=target[r0:r1])
    return stack


def _largest_magnitude(values: np.ndarray) -> float:
    return max(float(values.max(initial=0.0)), -float(values.min(initial=0.0)), 0.0)


def _box(active: np.ndarray, margin_rows: int, margin_columns: int) -> tuple[int, int, int, int] | None:
    """(row0, row1, column0, column1) around the ``active`` pixels of a slice plus the margins; None if none."""
    rows = np.flatnonzero(active.any(axis=1))
    if rows.size == 0:
        return None
    columns = np.flatnonzero(active.any(axis=0))
    height, width = active.shape
    return (max(0, rows[0] - margin_rows), min(height, rows[-1] + 1 + margin_rows),
            max(0, columns[0] - margin_columns), min(width, columns[-1] + 1 + margin_columns))


def _add_correction(values: np.ndarray, reference: Callable[[int], np.ndarray], magnitude: float,
                    sigma_rows: float, sigma_columns: float, eps: float | None, floor: float) -> None:
    """``values += F(reference − values)`` in place (float32 (slices, rows, columns); ``reference(k)``: slice k of
    the cubic upsampling; ``magnitude``: the map's largest magnitude, the scale of ``_TAIL`` and ``_FLUSH``): ``F``
    the plain Gaussian (``eps`` None) or the guided filter guided by log(values + floor), as ``fast_consistent``
    defines them."""
    guide = None
    if eps is not None:  # as guided_lowpass: log(DL + floor), centred on its mean over the whole map
        guide = np.maximum(values, 0.0)
        guide += floor
        np.log(guide, out=guide)
        guide -= np.float32(guide.mean())
    # A result pixel depends on the inputs within one filter radius per Gaussian stage; one pixel more keeps the box's
    # edge background, so extending the box by its edge ("nearest") gives the same inputs as the whole slice does.
    stages = 1 if guide is None else 2
    margin_rows, margin_columns = stages * _radius(sigma_rows) + 1, stages * _radius(sigma_columns) + 1
    tail, flush = _TAIL * magnitude, _FLUSH * magnitude

    def one_slice(index: int) -> None:
        plane, upsampled = values[index], reference(index)
        residual = upsampled - plane
        active = plane != plane[0, 0]
        distance = upsampled - upsampled[0, 0]
        np.abs(distance, out=distance)
        active |= distance > tail
        box = _box(active, margin_rows, margin_columns)
        if box is not None:
            r0, r1, c0, c1 = box
            correction = residual[r0:r1, c0:c1]  # overwritten by F(residual) inside the box
            values_in = np.where(np.abs(correction) < flush, np.float32(0.0), correction)[:, np.newaxis]
            if eps is None or guide is None:
                correction[...] = _smooth(values_in, sigma_rows, sigma_columns)[:, 0]
            else:
                _guided_in_place(guide[index, r0:r1, c0:c1], values_in[:, 0], correction, sigma_rows, sigma_columns,
                                 eps)
        plane += residual  # outside the box F(residual) = residual: dl + (bicubic − dl)

    with _one_blas_thread() as pinned:
        workers = min(_cpu_threads(), values.shape[0]) if pinned else 1
        if workers > 1:  # slices are independent; numpy and BLAS release the GIL
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(one_slice, range(values.shape[0])))
        else:
            for index in range(values.shape[0]):
                one_slice(index)


def _cpu_threads() -> int:
    """engine.cpu_threads's rule without importing torch: this process's CPUs, shared with the other ranks
    torchrun started on this node."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    try:
        local_world = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        local_world = 1
    return max(1, cores // local_world)


@contextmanager
def _one_blas_thread() -> Iterator[bool]:
    """BLAS on one thread meanwhile (True), where threadpoolctl can set it: the products here are too small for
    OpenBLAS's threads, which then spin — on 2 shared cores the step took 0.65–0.93 s per map instead of 0.41 s.
    Without threadpoolctl (False) BLAS keeps its threads and the slices run one after another."""
    global _THREADPOOLS
    try:  # an optional dependency (scikit-learn's), without type information
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:
        yield False
        return
    if _THREADPOOLS is None:
        _THREADPOOLS = threadpoolctl.ThreadpoolController()  # finds numpy's BLAS (≈ 1 ms; limiting later ≈ 0.03 ms)
    with _THREADPOOLS.limit(limits=1, user_api="blas"):
        yield True


_THREADPOOLS: Any = None  # threadpoolctl.ThreadpoolController, made on first use


def _guided_in_place(guide: np.ndarray, values: np.ndarray, out: np.ndarray, sigma_rows: float, sigma_columns: float,
                     eps: float) -> None:
    """``guided_lowpass`` of one slice's box (its float32 arithmetic, the means stacked) written into ``out``."""
    height, width = guide.shape
    stack = np.empty((height, 4, width), np.float32)
    stack[:, 0] = guide
    stack[:, 1] = values
    np.multiply(guide, values, out=stack[:, 2])
    np.multiply(guide, guide, out=stack[:, 3])
    means = _smooth(stack, sigma_rows, sigma_columns)
    mean_guide, mean_values, mean_product, mean_square = (means[:, k] for k in range(4))
    coefficients = np.empty((height, 2, width), np.float32)
    slope, offset = coefficients[:, 0], coefficients[:, 1]
    np.multiply(mean_guide, mean_values, out=slope)
    np.subtract(mean_product, slope, out=slope)  # covariance
    np.multiply(mean_guide, mean_guide, out=offset)
    np.subtract(mean_square, offset, out=offset)  # variance
    offset += eps
    slope /= offset
    np.multiply(slope, mean_guide, out=offset)
    np.subtract(mean_values, offset, out=offset)
    smoothed = _smooth(coefficients, sigma_rows, sigma_columns)
    np.multiply(smoothed[:, 0], guide, out=out)
    out += smoothed[:, 1]
