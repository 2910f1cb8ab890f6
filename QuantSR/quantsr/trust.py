"""Trust map: how far a super-resolved map departs from what the fast scan actually measured.

A GAN can invent detail. The fast acquisition sampled only a central k-space window (192×128 of a
256² reconstruction); whatever a DL map holds inside that window must agree with the fast map, and
whatever it adds outside is the network's own. The forward model brings the DL map back to the fast
acquisition's resolution with the k-space truncation the simulator acquires with (:mod:`quantsr.kspace`:
same frequency/phase axes, same half-pixel phase ramp between grids of one FOV, real part), so

    deviation = A(DL) − A(Z(fast))        (physical units, on the fast grid)

(Z: zero-filled upsampling; A(Z(fast)) is the fast map's own in-window part, since the fitted fast map also
holds out-of-window content no band-limited map can reproduce) and its percentage of the fast value,
inside the head. Both are carried back to the DL grid (linear
resampling in physical space) so they overlay the DL view.

Caveat: maps are *fitted parameters*, not k-space data. The scanner's k-space truncation acts on the
MDME images, and T1 / T2 / PD are non-linear functions of them, so the low-pass of a perfect map is not
exactly the fast map (partial-volume edges, CSF boundaries and noise all differ a little). The trust map
and the data-consistency projection are therefore approximate, useful for spotting *invented* detail
and offsets, not an exact consistency certificate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from .errors import InputError
from .geometry import upsampled_grid
from .kspace import truncate
from .protocols import FAST
from .roi import values_on_grid
from .volume import QuantMap

#: ROIs whose signed mean deviation exceeds this percentage either way are flagged as inconsistent with the fast
#: scan. Chosen on the generalization protocol's validation set (docs/generalization.md): at 3 % the flag caught
#: 4 of the 5 lesions whose DL mean was > 5 % off routine, with 2 of 46 false flags (5 %: 2 of 5, same false flags).
DEFAULT_THRESHOLD_PCT = 3.0
#: In-plane erosion (fast-grid pixels) of the head mask: Gibbs ringing at the skull edge is not detail.
HEAD_EROSION_PX = 2
#: Voxels below this fraction of the median fitted value carry no meaningful percentage (failed fits).
PERCENT_FLOOR = 0.05
#: Gaussian window (fast-grid pixels) of the local noise SD: wide enough for a stable estimate, narrow enough
#: to follow the noise's dependence on the tissue (long-T2 fits are far noisier than white matter's).
NOISE_WINDOW_PX = 2.0
#: FFT threads of the forward model (−1: every core; quantsr.kspace): the simulator keeps numpy's single thread.
FFT_WORKERS = -1


@dataclass
class TrustMap:
    absolute: QuantMap  # A(DL) − A(Z(fast)), physical units, on the DL grid
    percent: QuantMap  # 100 · that / fast inside the head, 0 outside, on the DL grid
    low_res_absolute: QuantMap  # the same on the fast grid (what was actually compared)
    head: np.ndarray  # bool head mask on the DL grid
    # The fast scan's noise: local SD of its in-window part about A(DL) (DL is denoised), on the DL grid.
    noise_sd: QuantMap | None = None
    # Independent fast-scan samples per DL voxel: acquired k-space samples / DL-grid voxels of the same FOV.
    samples_per_voxel: float = float("nan")

    def head_percentiles(self, q: tuple[float, ...] = (50.0, 95.0)) -> tuple[float, ...]:
        """Percentiles of |percent deviation| inside the head (e.g. median and 95th)."""
        values = np.abs(self.percent.array[self.head])
        if values.size == 0:
            return tuple(float("nan") for _ in q)
        return tuple(float(v) for v in np.percentile(values, q))


def acquisition_matrix(fast: QuantMap) -> tuple[int, int]:
    """(frequency, phase) samples of the fast acquisition: from its metadata (simulator's [f, p] or the
    DICOM AcquisitionMatrix [f rows, f cols, p rows, p cols]) or else the FAST protocol's fraction of the
    reconstruction (192×128 of 256²) applied to this grid (NRRD / NIfTI carry no acquisition matrix)."""
    values = [int(v) for v in fast.metadata.get("acquisition_matrix") or []]
    if len(values) == 2 and min(values) > 0:
        return values[0], values[1]
    if len(values) == 4:
        freq, phase = max(values[0], values[1]), max(values[2], values[3])
        if freq > 0 and phase > 0:
            return freq, phase
    rows = fast.shape[1]
    freq, phase = (max(2, 2 * round(n * rows / FAST.recon_matrix / 2)) for n in FAST.acquisition_matrix)
    return freq, phase


def _fov_mm(fast: QuantMap, acquired: tuple[int, int]) -> float:
    """``fast``'s field of view (mm), after checking that the k-space forward model applies to its grid and that
    the window ``acquired`` fits in it."""
    _k, rows, cols = fast.shape
    if rows != cols or not np.isclose(fast.spacing[0], fast.spacing[1], rtol=1e-4):
        raise InputError(
            f"the trust map needs a square fast grid with square pixels, got {cols}×{rows} at "
            f"{fast.spacing[0]:.4g}×{fast.spacing[1]:.4g} mm", fast.metadata.get("source_path"))
    freq, phase = acquired
    if max(freq, phase) > rows:
        raise InputError(f"acquisition matrix {freq}×{phase} is larger than the {rows}² fast grid",
                         fast.metadata.get("source_path"))
    return rows * fast.spacing[0]


def fine_grid_like(fast: QuantMap, array: np.ndarray | None = None, scale: int = 2) -> QuantMap:
    """The ×``scale`` grid over ``fast``'s FOV (the SR output geometry), holding ``array`` or zeros."""
    k, j, i = fast.shape
    origin, spacing = upsampled_grid(fast, scale)
    data = np.zeros((k, j * scale, i * scale), np.float32) if array is None else array
    return fast.with_array(data, origin=origin, spacing=spacing)


def _on_fine_grid(dl: QuantMap, fast: QuantMap) -> QuantMap:
    """``dl`` on the exact ×2 grid of ``fast``: itself when it already is, else resampled in physical space
    (user data whose DL grid is not exactly 2× the fast grid)."""
    target = fine_grid_like(fast)
    if dl.same_geometry(target):
        return dl
    return target.with_array(values_on_grid(dl, target), kind=dl.kind, metadata=dict(dl.metadata))


def to_fast_resolution(dl: QuantMap, fast: QuantMap, acquired: tuple[int, int] | None = None) -> QuantMap:
    """The forward model A: ``dl`` → centred k-space → the fast acquisition's window → zero-filled
    reconstruction on the fast grid (real part), as the simulator acquires (:func:`quantsr.kspace.truncate`).
    The result has exactly ``fast``'s geometry."""
    fine = _on_fine_grid(dl, fast)
    window = acquired or acquisition_matrix(fast)
    low = truncate(fine.array.astype(np.float64), window, fast.shape[1], _fov_mm(fast, window), FFT_WORKERS)
    result = fast.with_array(low, kind=dl.kind, metadata=dict(dl.metadata, method="forward model"))
    assert result.same_geometry(fast)
    return result


def zero_filled_upsample(fast: QuantMap, scale: int = 2) -> QuantMap:
    """``fast`` interpolated by zero-padding its whole k-space onto the ×``scale`` grid (sinc interpolation,
    again with :func:`quantsr.kspace.truncate`: the full fast matrix as the "acquisition", the fine grid as the
    recon)."""
    n = fast.shape[1]
    fine = truncate(fast.array.astype(np.float64), (n, n), n * scale, _fov_mm(fast, (n, n)), FFT_WORKERS)
    return fine_grid_like(fast, fine, scale)


def in_window_fast(fast: QuantMap, acquired: tuple[int, int] | None = None) -> QuantMap:
    """A(zero-filled ``fast``): the fast map's own part inside its acquisition window. The fast map holds content
    outside the window (the fit is non-linear and the background is cut to 0) that no band-limited map
    reproduces, so a DL map is compared with this: one that adds only out-of-window detail matches it exactly.
    Taken from the fast map's own k-space: the same samples as the window of its zero-filled upsampling."""
    window = acquired or acquisition_matrix(fast)
    low = truncate(fast.array.astype(np.float64), window, fast.shape[1], _fov_mm(fast, window), FFT_WORKERS)
    return fast.with_array(low, metadata=dict(fast.metadata, method="in-window part"))


def head_mask(fast: QuantMap, erosion: int = HEAD_EROSION_PX) -> np.ndarray:
    """Head voxels of the fast map: fitted voxels (above a small floor, so a percentage is meaningful),
    holes filled for the outline, eroded in-plane against edge ringing."""
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = ndimage.generate_binary_structure(2, 1)  # in-plane only: slices are 5 mm apart
    fitted = fast.array > 0
    head = ndimage.binary_fill_holes(fitted, structure)
    if erosion:
        head = ndimage.binary_erosion(head, structure, iterations=erosion)
    floor = PERCENT_FLOOR * float(np.median(fast.array[fitted])) if fitted.any() else 0.0
    return head & (fast.array > floor)


def deviation(dl: QuantMap, fast: QuantMap, acquired: tuple[int, int] | None = None) -> TrustMap:
    """Per-voxel departure of ``dl`` from the fast scan (see the module docstring)."""
    acquired = acquired or acquisition_matrix(fast)
    low = to_fast_resolution(dl, fast, acquired)
    measured = in_window_fast(fast, acquired)
    difference = (low.array - measured.array).astype(np.float32)
    head_low = head_mask(fast)
    percent_low = np.zeros_like(difference)
    percent_low[head_low] = 100.0 * difference[head_low] / np.maximum(np.abs(fast.array[head_low]), 1e-6)
    absolute_low = fast.with_array(difference, kind=dl.kind, metadata={"method": "deviation", "unit": dl.kind.unit})
    pct_low = fast.with_array(percent_low, kind=dl.kind, metadata={"method": "deviation", "unit": "%"})
    head = values_on_grid(fast.with_array(head_low.astype(np.float32)), dl, sitk.sitkNearestNeighbor) > 0.5
    absolute = dl.with_array(values_on_grid(absolute_low, dl), metadata={"method": "deviation", "unit": dl.kind.unit})
    percent = dl.with_array(np.where(head, values_on_grid(pct_low, dl), 0.0).astype(np.float32),
                            metadata={"method": "deviation", "unit": "%"})
    # DL is denoised, so the voxel-scale scatter of the deviation is the fast scan's noise (its in-window part).
    noise_low = fast.with_array(local_sd(difference, head_low, NOISE_WINDOW_PX))
    noise_sd = dl.with_array(values_on_grid(noise_low, dl), metadata={"method": "fast noise SD", "unit": dl.kind.unit})
    samples = acquired[0] * acquired[1] * dl.spacing[0] * dl.spacing[1] / _fov_mm(fast, acquired) ** 2
    return TrustMap(absolute, percent, absolute_low, head, noise_sd, samples)


def local_sd(values: np.ndarray, mask: np.ndarray, sigma_px: float) -> np.ndarray:
    """In-plane local standard deviation of ``values`` over ``mask`` (Gaussian window of ``sigma_px``), 0 outside:
    normalised convolution, so the head's edge does not count the background as zero-valued samples."""
    sigma = (0.0, sigma_px, sigma_px)
    weight = ndimage.gaussian_filter(mask.astype(np.float64), sigma)
    masked = np.where(mask, values, 0.0).astype(np.float64)
    mean = ndimage.gaussian_filter(masked, sigma) / np.maximum(weight, 1e-6)
    square = ndimage.gaussian_filter(masked**2, sigma) / np.maximum(weight, 1e-6)
    return np.where(mask, np.sqrt(np.maximum(square - mean**2, 0.0)), 0.0).astype(np.float32)


def roi_consistency(trust: TrustMap, mask: np.ndarray, absolute: bool = False) -> float:
    """Mean percent deviation over the ROI's head voxels (``mask`` on the DL grid); NaN if none.

    Signed by default: the fast map's own noise (≈ 4–6 % per voxel for the simulated fast T2, since DL
    denoises) averages out over an ROI, so the mean is the ROI's systematic departure from the scan and
    ``abs(value) > DEFAULT_THRESHOLD_PCT`` flags it. ``absolute=True`` gives mean |deviation| instead,
    which the noise floor keeps near 5 % even for the routine scan itself."""
    inside = np.asarray(mask, bool) & trust.head
    if not inside.any():
        return float("nan")
    values = trust.percent.array[inside].astype(np.float64)
    return float(np.abs(values).mean() if absolute else values.mean())


def is_flagged(consistency_pct: float, threshold_pct: float = DEFAULT_THRESHOLD_PCT) -> bool:
    """Whether an ROI's consistency (signed mean % deviation) exceeds the threshold either way."""
    return bool(np.isfinite(consistency_pct) and abs(consistency_pct) > threshold_pct)


def window_mask(shape: tuple[int, int], acquired: tuple[int, int]) -> np.ndarray:
    """The acquisition window in centred (fftshift-ed) k-space of an even N×N grid, as
    :func:`quantsr.kspace.acquired_window` cuts it, made point-symmetric (±k both inside): the one-sided edge
    line of an even window is left out, so replacing the window keeps a real image's k-space Hermitian and the
    projection stays real."""
    rows, cols = shape
    freq, phase = acquired
    mask = np.zeros(shape, bool)
    r0, c0 = rows // 2 - freq // 2, cols // 2 - phase // 2
    mask[r0: r0 + freq, c0: c0 + phase] = True
    mirrored = np.roll(mask[::-1, ::-1], (1, 1), axis=(0, 1))  # index r → N − r: the frequency −k
    return mask & mirrored


def project_data_consistency(dl: QuantMap, fast: QuantMap, acquired: tuple[int, int] | None = None,
                             clip: bool = True, window_fraction: float = 1.0) -> QuantMap:
    """Data-consistency step: the DL map with its low frequencies (the fast acquisition's k-space window)
    replaced by the fast scan's (k-space of the zero-filled-upsampled fast map), its high frequencies kept.

    Approximate: maps are fitted parameters, not k-space data (module docstring). The k-space step is a
    linear projection: a map already consistent with the fast scan is left unchanged and applying it twice
    equals applying it once. With ``clip`` (default) the result is then made a valid map: voxels where
    ``dl`` holds no value (background, 0) stay 0 and negative ringing is clipped to 0 — this touches the
    background only, so inside the head the step stays (nearly) idempotent. Returned on ``dl``'s grid.

    ``window_fraction`` < 1 replaces only the central part of the window (e.g. 0.5: 96×64 of 192×128):
    ROI means live in the lowest frequencies, the fast scan's noise is spread over the whole window, so a
    partial step restores the scan's low-frequency values while keeping more of DL's denoising."""
    if not 0 < window_fraction <= 1:
        raise ValueError(f"window_fraction must be in (0, 1], got {window_fraction}")
    freq, phase = (max(2, int(round(n * window_fraction / 2)) * 2) for n in acquired or acquisition_matrix(fast))
    acquired = (freq, phase)
    fine = _on_fine_grid(dl, fast)
    reference = zero_filled_upsample(fast)
    window = window_mask(fine.shape[1:], acquired)
    k_dl = np.fft.fftshift(np.fft.fft2(fine.array.astype(np.float64)), axes=(-2, -1))
    k_fast = np.fft.fftshift(np.fft.fft2(reference.array.astype(np.float64)), axes=(-2, -1))
    k_dl[..., window] = k_fast[..., window]
    projected = np.fft.ifft2(np.fft.ifftshift(k_dl, axes=(-2, -1))).real
    if clip:  # relaxation times and PD are non-negative; the map's background stays empty
        projected = np.where(fine.array > 0, np.maximum(projected, 0.0), 0.0)
    out = fine.with_array(projected.astype(np.float32), metadata=dict(dl.metadata, data_consistency=True))
    if out.same_geometry(dl):
        return out
    return dl.with_array(values_on_grid(out, dl), metadata=dict(out.metadata))

