"""The two acquisitions of Liu et al. 2026 and the MDME sequence timing they share: what the simulator
acquires (``simulate/``) and what the trust map's forward model assumes of a fast scan (``trust.py``).

Noise follows the standard MR SNR relation:
SNR ∝ voxel volume · √(frequency samples · phase samples · NEX / bandwidth per pixel) / (g · √R),
so the image-domain noise SD of a protocol relative to the routine one is
(g · √R · √BW) / (V · √(Nf · Np · NEX)) divided by the same for routine.

The paper does not report receiver bandwidths or g-factors. We assume the fast protocol reads out with
a wider bandwidth (±31.25 kHz over 192 samples, 326 Hz/pixel, to shorten the echo spacing) than routine
(±20.8 kHz over 320, 130 Hz/pixel), and a mean g-factor of 1.5 at R = 3 against 1.1 at R = 2 (8-channel
head coil). With these the fast images are ≈ 1.45× noisier per pixel *and* blurrier, as the paper's
fast maps are; every value is a field of :class:`Protocol`, so other assumptions are one line away."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class MdmeTiming:
    """Multi-dynamic multi-echo: 4 saturation delays × 2 echoes (Warntjes et al. 2008; the paper's values)."""

    delays_ms: tuple[float, ...] = (170.0, 670.0, 1840.0, 3840.0)
    echoes_ms: tuple[float, ...] = (18.3, 91.4)
    repetition_ms: float = 4000.0
    saturation_deg: float = 120.0
    excitation_deg: float = 90.0

    @property
    def n_images(self) -> int:
        return len(self.delays_ms) * len(self.echoes_ms)


@dataclass(frozen=True)
class Protocol:
    """One synthetic-MRI acquisition: matrix (frequency along rows/j, phase along columns/i), recon, FOV."""

    name: str
    acquisition_matrix: tuple[int, int]  # (frequency, phase)
    recon_matrix: int
    acceleration: float
    g_factor: float
    fov_mm: float = 220.0
    slice_thickness_mm: float = 5.0
    n_slices: int = 24
    nex: float = 1.0
    bandwidth_hz_per_pixel: float = 130.0
    scan_time: str = ""

    @property
    def acquired_voxel_mm3(self) -> float:
        freq, phase = self.acquisition_matrix
        return (self.fov_mm / freq) * (self.fov_mm / phase) * self.slice_thickness_mm

    @property
    def recon_pixel_mm(self) -> float:
        return self.fov_mm / self.recon_matrix

    def noise_factor(self) -> float:
        """Image-domain noise SD up to a common constant (see the module docstring)."""
        freq, phase = self.acquisition_matrix
        return self.g_factor * math.sqrt(self.acceleration * self.bandwidth_hz_per_pixel) / (
            self.acquired_voxel_mm3 * math.sqrt(freq * phase * self.nex)
        )


ROUTINE = Protocol("routine", (320, 256), 512, acceleration=2.0, g_factor=1.1, bandwidth_hz_per_pixel=130.0,
                   scan_time="5 min")
FAST = Protocol("fast", (192, 128), 256, acceleration=3.0, g_factor=1.5, bandwidth_hz_per_pixel=325.5,
                scan_time="2 min")
PROTOCOLS = {p.name: p for p in (FAST, ROUTINE)}


def noise_sd(protocol: Protocol, routine_noise_sd: float) -> float:
    """Image-domain noise SD (signal units, PD-% scale) of ``protocol`` given the routine protocol's."""
    return routine_noise_sd * protocol.noise_factor() / ROUTINE.noise_factor()
