"""One simulated subject end to end (phantom → MDME images → fast and routine acquisitions → fitted maps),
plus the truth, tissue fractions and lesion labels on the routine grid."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from ..mapkinds import QUANT_KINDS, MapKind
from ..protocols import FAST, ROUTINE, MdmeTiming, Protocol, noise_sd
from ..volume import QuantMap
from . import mdme
from .acquisition import acquire, same_fov_resize
from .anatomy import ANATOMIES, FoldingParameters
from .lesions import LESION_KINDS, Lesion, LesionKind, draw_lesions, lesion_fraction
from .phantom import Pose, resample_tissues
from .population import TEXTURE_CV, TISSUES, draw_subject_values


@dataclass
class SimulationConfig:
    """How a subject is simulated: the object grid, the noise, the protocols acquired (the paper's fast and
    routine by default), the MDME timing, the lesion kinds drawn and the anatomy ("mni" or "folded")."""

    object_matrix: int = 384  # in-plane object grid over the FOV (≥ the routine 320 frequency samples)
    sub_slices: int = 5  # 1 mm sub-slices averaged into each 5 mm slice
    slab_centre_mm: float = 8.0  # slab centre above the head centre (covers the cerebrum)
    routine_noise_sd: float = 1.0  # image-domain noise SD of the routine protocol (PD-% signal units)
    noise: bool = True
    protocols: tuple[Protocol, ...] = (FAST, ROUTINE)
    timing: MdmeTiming = field(default_factory=MdmeTiming)
    lesion_kinds: tuple[LesionKind, ...] = tuple(LESION_KINDS.values())
    anatomy: str = "mni"  # "folded": per-subject cortical folding with sulcal CSF (simulate/anatomy.py)


@dataclass
class SimulatedSubject:
    """One simulated subject: fitted maps per protocol (each on its own recon grid, ms / %) and, on the routine
    grid, the truth, the tissue fractions (0–1), the lesion labels and the transmit field B1 (relative)."""

    subject_id: str
    maps: dict[str, dict[MapKind, QuantMap]]  # protocol → kind → fitted map
    truth: dict[MapKind, QuantMap]  # on the routine grid
    fractions: dict[str, QuantMap]  # GM / WM / CSF on the routine grid
    labels: QuantMap  # lesion labels (0 = none) on the routine grid
    lesions: list[Lesion]
    b1: QuantMap  # the true transmit field, routine grid
    seed: int
    folding: FoldingParameters | None = None  # None: the MNI152 template's anatomy


def slice_positions(config: SimulationConfig, protocol: Protocol = ROUTINE) -> np.ndarray:
    """z (mm) of the slice centres: a contiguous axial slab around the head."""
    n, thickness = protocol.n_slices, protocol.slice_thickness_mm
    return config.slab_centre_mm + (np.arange(n) - (n - 1) / 2) * thickness


def recon_geometry(protocol: Protocol, config: SimulationConfig, matrix: int | None = None) -> dict:
    """Origin / spacing / direction of an axial grid of ``matrix``² over the FOV (pixel centres inset ½)."""
    matrix = matrix or protocol.recon_matrix
    pixel = protocol.fov_mm / matrix
    z0 = slice_positions(config, protocol)[0]
    return dict(origin=(-protocol.fov_mm / 2 + pixel / 2, -protocol.fov_mm / 2 + pixel / 2, z0),
                spacing=(pixel, pixel, protocol.slice_thickness_mm), direction=np.eye(3))


def object_grid(config: SimulationConfig) -> sitk.Image:
    """The fine grid the object is defined on: object_matrix² in-plane × 1 mm sub-slices over the slab."""
    geometry = recon_geometry(ROUTINE, config, config.object_matrix)
    step = ROUTINE.slice_thickness_mm / config.sub_slices
    n = ROUTINE.n_slices * config.sub_slices
    grid = sitk.Image([config.object_matrix, config.object_matrix, n], sitk.sitkFloat32)
    origin = list(geometry["origin"])
    origin[2] -= ROUTINE.slice_thickness_mm / 2 - step / 2
    grid.SetOrigin(origin)
    grid.SetSpacing((geometry["spacing"][0], geometry["spacing"][1], step))
    return grid


def simulate_subject(subject_id: str, seed: int, n_lesions: int = 0,
                     config: SimulationConfig | None = None) -> SimulatedSubject:
    """Simulate one subject end to end: phantom (pose, deformation, folding), tissue values and lesions, MDME
    images on 1 mm sub-slices, the k-space acquisition of each protocol with noise, and the per-voxel fit.

    Args:
        subject_id: the subject's name (``sub-001``).
        seed: the subject's seed: everything drawn for it comes from it (same seed → same subject).
        n_lesions: lesions to place (0: a healthy subject), kinds drawn from ``config.lesion_kinds``.
        config: the simulation settings (:class:`SimulationConfig`).

    Returns:
        The fitted maps of every protocol — fast 24 × 256², routine 24 × 512² by default, float32 T1 / T2 in
        ms and PD in % — and the truth on the routine grid.
    """
    config = config or SimulationConfig()
    rng = np.random.default_rng(seed)
    pose = Pose.random(rng)
    values = draw_subject_values(rng)
    grid = object_grid(config)
    folding = _folding(config.anatomy, seed)
    fractions = resample_tissues(pose, grid, folding)  # (5, K, N, N)
    points = _grid_points(grid)
    brain = fractions[0] + fractions[1] + fractions[2]
    lesions = draw_lesions(rng, fractions[1], lambda kji: _point(grid, kji), n_lesions, config.lesion_kinds,
                           gm_fraction=fractions[0], csf_fraction=fractions[2])
    lesion_maps = [_lesion_on_grid(lesion, grid, points) * np.clip(brain, 0, 1) for lesion in lesions]
    params = _parameters(fractions, values, lesions, lesion_maps, rng)
    b1 = _b1_field(points, rng)
    timing = config.timing
    slices = ROUTINE.n_slices
    sub = config.sub_slices
    images: dict[str, list[np.ndarray]] = {p.name: [] for p in config.protocols}
    for s in range(slices):
        part = slice(s * sub, (s + 1) * sub)
        slab_signal = mdme.signal(params["pd"][part], params["t1"][part], params["t2"][part], b1[part], timing)
        slab_signal = slab_signal.mean(axis=1)  # slice profile: average of the 1 mm sub-slices
        for protocol in config.protocols:
            sd = noise_sd(protocol, config.routine_noise_sd) if config.noise else 0.0
            images[protocol.name].append(acquire(slab_signal, protocol, sd, rng))
    maps: dict[str, dict[MapKind, QuantMap]] = {}
    for protocol in config.protocols:
        stack = np.stack(images[protocol.name], axis=1)  # (8, slices, M, M)
        sd = noise_sd(protocol, config.routine_noise_sd) if config.noise else 0.0
        fitted = mdme.fit(stack, timing, signal_threshold=max(6 * sd, 0.5))
        geometry = recon_geometry(protocol, config)
        meta = {"protocol": protocol.name, "acquisition_matrix": list(protocol.acquisition_matrix),
                "acceleration": protocol.acceleration, "slice_thickness": protocol.slice_thickness_mm}
        maps[protocol.name] = {
            kind: QuantMap(getattr(fitted, kind.value.lower()), kind=kind, metadata=dict(meta), **geometry)
            for kind in QUANT_KINDS
        }
    truth, tissue, labels, b1_map = _on_routine_grid(params, fractions, lesion_maps, b1, config)
    return SimulatedSubject(subject_id, maps, truth, tissue, labels, lesions, b1_map, seed, folding)


def _folding(anatomy: str, seed: int) -> FoldingParameters | None:
    """The subject's folding, from its own stream (the main stream's draws, and so MNI cohorts, are unchanged)."""
    if anatomy not in ANATOMIES:
        raise InputError(f"unknown anatomy {anatomy!r}: choose from {', '.join(ANATOMIES)}")
    return FoldingParameters.random(np.random.default_rng([seed, 16])) if anatomy == "folded" else None


def _grid_points(grid: sitk.Image) -> np.ndarray:
    """LPS positions (K, N, N, 3) of an axis-aligned grid's voxel centres."""
    size, spacing, origin = grid.GetSize(), grid.GetSpacing(), grid.GetOrigin()
    axes = [origin[d] + spacing[d] * np.arange(size[d], dtype=np.float32) for d in range(3)]
    z, y, x = np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
    return np.stack([x, y, z], axis=-1)


def _lesion_on_grid(lesion: Lesion, grid: sitk.Image, points: np.ndarray) -> np.ndarray:
    """A lesion's soft membership on the grid, evaluated only inside its bounding box."""
    out = np.zeros(points.shape[:-1], np.float32)
    reach = 1.3 * max(lesion.radii_mm) + 2.0
    lo = grid.TransformPhysicalPointToIndex(tuple(np.asarray(lesion.centre_mm) - reach))
    hi = grid.TransformPhysicalPointToIndex(tuple(np.asarray(lesion.centre_mm) + reach))
    size = grid.GetSize()
    box = tuple(slice(max(0, lo[d]), min(size[d], hi[d] + 1)) for d in (2, 1, 0))
    out[box] = lesion_fraction(lesion, points[box])
    return out


def _point(grid: sitk.Image, kji: np.ndarray) -> np.ndarray:
    k, j, i = (int(v) for v in kji)
    return np.asarray(grid.TransformIndexToPhysicalPoint((i, j, k)))


def _smooth_field(shape: tuple[int, ...], rng: np.random.Generator, coarse: tuple[int, int, int]) -> np.ndarray:
    """A zero-mean, unit-SD smooth random field: coarse white noise interpolated with Gaussian weights,
    one axis at a time (separable, so it costs a few matrix products instead of a 3-D spline zoom)."""
    field = rng.standard_normal(coarse).astype(np.float32)
    for axis, (size, n) in enumerate(zip(shape, coarse, strict=True)):
        centres = (np.arange(n) + 0.5) * size / n
        x = np.arange(size) + 0.5
        weights = np.exp(-0.5 * ((x[:, None] - centres[None, :]) / (0.6 * size / n)) ** 2)
        weights /= weights.sum(axis=1, keepdims=True)
        field = np.moveaxis(np.tensordot(weights.astype(np.float32), np.moveaxis(field, axis, 0), axes=(1, 0)), 0,
                            axis)
    return (field - field.mean()) / (field.std() + 1e-9)


def _parameters(fractions: np.ndarray, values: dict, lesions: list[Lesion], lesion_maps: list[np.ndarray],
                rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-voxel PD (fraction-weighted sum) and T1 / T2 from proton-weighted *relaxation rates*: a voxel
    of 95 % GM and 5 % CSF relaxes like GM (as its mono-exponential fit would), not at a 5 % CSF mean."""
    pd_of = [values[t].pd_pct for t in TISSUES]
    pd = sum(fractions[t] * pd_of[t] for t in range(len(TISSUES)))
    protons = np.maximum(pd, 1e-6)
    rates = {}
    for name, attr in (("t1", "t1_ms"), ("t2", "t2_ms")):
        rates[name] = sum(fractions[t] * pd_of[t] / getattr(values[tissue], attr) for t, tissue in enumerate(TISSUES))
        rates[name] /= protons
    coarse = tuple(max(4, s // 12) for s in fractions.shape[1:])
    texture = _smooth_field(fractions.shape[1:], rng, coarse)
    brain = np.clip(fractions[0] + fractions[1], 0, 1)  # texture in GM / WM only
    pd = pd * (1 + TEXTURE_CV["pd"] * texture * brain)
    for name in ("t1", "t2"):
        rates[name] /= 1 + TEXTURE_CV[name] * texture * brain
    total = fractions.sum(axis=0)
    inner = _smooth_field(fractions.shape[1:], rng, coarse) * 0.02 if lesions else 0.0  # mild heterogeneity
    for lesion, fraction in zip(lesions, lesion_maps, strict=True):
        lesion_pd = lesion.pd_pct * total
        mixed_pd = (1 - fraction) * pd + fraction * lesion_pd
        weight = fraction * lesion_pd / np.maximum(mixed_pd, 1e-6)  # the lesion's share of the protons
        for name, value in (("t1", lesion.t1_ms), ("t2", lesion.t2_ms)):
            rates[name] = (1 - weight) * rates[name] + weight / (value * (1 + inner))
        pd = mixed_pd
    occupied = pd > 1e-3
    params = {"pd": pd.astype(np.float32)}
    for name in ("t1", "t2"):
        params[name] = np.where(occupied, 1 / np.maximum(rates[name], 1e-9), 0).astype(np.float32)
    return params


def _b1_field(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Smooth transmit field, brighter centrally as at 3T, within 0.8–1.2."""
    centre = rng.normal(0, 10, 3)
    r2 = (((points - centre) / np.array([95.0, 110.0, 90.0])) ** 2).sum(axis=-1)
    tilt = rng.normal(0, 0.0005, 3)
    field = rng.uniform(1.08, 1.16) - rng.uniform(0.18, 0.26) * r2 + (points - centre) @ tilt
    return np.clip(field, 0.8, 1.2).astype(np.float32)


def _slab_mean(volume: np.ndarray, sub: int) -> np.ndarray:
    k, n, _ = volume.shape
    return volume.reshape(k // sub, sub, n, n).mean(axis=1)


def _on_routine_grid(params: dict, fractions: np.ndarray, lesion_maps: list[np.ndarray], b1: np.ndarray,
                     config: SimulationConfig):
    """Truth maps, tissue fractions, lesion labels and B1 averaged over each slice, on the routine grid."""
    sub, matrix = config.sub_slices, ROUTINE.recon_matrix
    geometry = recon_geometry(ROUTINE, config)
    pd_slab = _slab_mean(params["pd"], sub)
    occupied = _slab_mean((params["pd"] > 0).astype(np.float32), sub)

    def grid_map(array: np.ndarray, kind: MapKind = MapKind.UNKNOWN, **meta) -> QuantMap:
        return QuantMap(same_fov_resize(array, matrix), kind=kind, metadata=dict(meta), **geometry)

    truth = {}
    for kind in QUANT_KINDS:
        name = kind.value.lower()
        slab = pd_slab if kind is MapKind.PD else _slab_mean(params[name], sub) / np.maximum(occupied, 1e-6)
        truth_map = grid_map(np.where(occupied > 0.5, slab, 0), kind, protocol="truth")
        truth[kind] = truth_map
    tissue = {name: grid_map(_slab_mean(fractions[t], sub)) for t, name in enumerate(TISSUES[:3])}
    labels = np.zeros((ROUTINE.n_slices, matrix, matrix), np.float32)
    best = np.zeros_like(labels)
    for index, fraction in enumerate(lesion_maps, start=1):
        on_grid = same_fov_resize(_slab_mean(fraction, sub), matrix)
        take = (on_grid >= 0.5) & (on_grid > best)
        labels[take], best[take] = index, on_grid[take]
    b1_map = grid_map(_slab_mean(b1, sub))
    return truth, tissue, grid_map(labels), b1_map
