"""Fast-scan consistency (quantsr.consistency): coarse content comes from the upsampled fast map, fine detail
from DL, and a biased CSF value does not leak across an edge into the cortex next to it."""

from __future__ import annotations

import numpy as np
import pytest

from quantsr.baselines import upsample
from quantsr.consistency import DEFAULT_EPS, DEFAULT_SIGMA_MM, fast_consistent, guided_lowpass, lowpass_in_plane
from quantsr.mapkinds import MapKind
from quantsr.volume import QuantMap

SPACING_LR = (0.94, 0.94, 5.0)


def _fast(array: np.ndarray) -> QuantMap:
    return QuantMap(array, origin=(-120.0, -100.0, 10.0), spacing=SPACING_LR, kind=MapKind.T2)


def _dl_like(fast: QuantMap, array: np.ndarray) -> QuantMap:
    reference = upsample(fast, 2, "bicubic")
    return reference.with_array(array.astype(np.float32), metadata={"method": "dl"})


def test_sigma_zero_returns_dl_unchanged() -> None:
    fast = _fast(np.full((2, 16, 16), 80.0))
    dl = _dl_like(fast, np.full((2, 32, 32), 90.0))
    assert fast_consistent(dl, fast, 0.0) is dl


@pytest.mark.parametrize("eps", [None, 1e-3])
def test_constant_offset_is_removed_and_geometry_kept(eps: float | None) -> None:
    """DL 10 ms above a flat fast map everywhere: the consistent map is the fast value exactly."""
    fast = _fast(np.full((3, 24, 24), 80.0))
    dl = _dl_like(fast, np.full((3, 48, 48), 90.0))
    result = fast_consistent(dl, fast, 2.0, eps)
    np.testing.assert_allclose(result.array, 80.0, atol=1e-3)
    assert result.same_geometry(dl)
    assert result.metadata["fast_consistency_mm"] == 2.0 and result.metadata["method"] == "dl"


def _texture_kept(eps: float | None) -> float:
    """What the guided filter keeps of a ±4 ms checkerboard on 85 ms that the fast map lacks: ε / (ε + var),
    var the checker's variance in the guide log(value + 1 % of the T2 range)."""
    if eps is None:
        return 1.0
    floor = 0.01 * MapKind.T2.norm_physical
    variance = ((np.log(89.0 + floor) - np.log(81.0 + floor)) / 2) ** 2
    return eps / (eps + variance)


@pytest.mark.parametrize("eps", [None, DEFAULT_EPS])
def test_fine_detail_is_kept(eps: float | None) -> None:
    """A pixel-scale checkerboard (finer than σ) on top of the fast level survives (88 % of it at the default
    ε); its mean moves to the fast level."""
    fast = _fast(np.full((1, 32, 32), 80.0))
    checker = np.indices((64, 64)).sum(axis=0) % 2 * 2.0 - 1.0  # ±1
    dl = _dl_like(fast, (85.0 + 4.0 * checker)[np.newaxis])
    result = fast_consistent(dl, fast, 2.0, eps).array[0, 16:48, 16:48]
    assert result.mean() == pytest.approx(80.0, abs=0.1)
    assert np.std(result) == pytest.approx(4.0 * _texture_kept(eps), rel=0.02)
    assert np.std(result) > 3.4


def test_erased_lesion_gets_its_fast_mean_back() -> None:
    """A 10-pixel-wide lesion the network flattened into the background is restored to the upsampled fast
    map's lesion mean (the lesion is larger than σ)."""
    array = np.full((1, 40, 40), 80.0)
    array[0, 15:25, 15:25] = 120.0
    fast = _fast(array)
    reference = upsample(fast, 2, "bicubic").array[0]
    dl = _dl_like(fast, np.full((1, 80, 80), 80.0))
    result = fast_consistent(dl, fast, 1.0, 1e-3).array[0]
    lesion = np.zeros((80, 80), bool)
    lesion[34:46, 34:46] = True  # the lesion's core on the ×2 grid
    assert result[lesion].mean() == pytest.approx(reference[lesion].mean(), rel=0.02)
    assert result[lesion].mean() > 115.0


def _csf_next_to_cortex() -> tuple[np.ndarray, np.ndarray]:
    """Left half CSF (1300 ms), right half cortex (90 ms); DL reads CSF 130 ms low and the cortex exactly."""
    truth = np.full((1, 64, 64), 90.0)
    truth[:, :, :32] = 1300.0
    dl = truth.copy()
    dl[:, :, :32] -= 130.0
    return truth, dl


def test_guided_filter_keeps_csf_bias_out_of_cortex() -> None:
    truth, dl = _csf_next_to_cortex()
    guide = np.log(dl + 22.0)
    correction = guided_lowpass(guide, truth - dl, 2.0, (0.47, 0.47), 1e-3)
    plain = lowpass_in_plane(truth - dl, 2.0, (0.47, 0.47))
    cortex_next_to_csf = (slice(None), slice(None), slice(32, 36))  # within 2 mm of the edge
    # Plain low-pass: tens of ms of CSF correction added to 90 ms cortex; guided: well under 1 %.
    assert plain[cortex_next_to_csf].max() > 20.0
    assert np.abs(correction[cortex_next_to_csf]).max() < 0.9
    np.testing.assert_allclose(correction[:, :, :28], 130.0, rtol=0.01)


def test_lowpass_uses_physical_spacing() -> None:
    """σ is in mm: the same σ on a grid with twice the spacing smooths half as many pixels."""
    impulse = np.zeros((1, 41, 41))
    impulse[0, 20, 20] = 1.0
    fine = lowpass_in_plane(impulse, 2.0, (0.5, 0.5))[0, 20]
    coarse = lowpass_in_plane(impulse, 2.0, (1.0, 1.0))[0, 20]
    def width(profile: np.ndarray) -> float:
        x = np.arange(profile.size) - 20
        return float(np.sqrt((profile * x**2).sum() / profile.sum()))
    assert width(fine) == pytest.approx(4.0, rel=0.05)
    assert width(coarse) == pytest.approx(2.0, rel=0.05)


def test_grid_mismatch_is_an_error() -> None:
    fast = _fast(np.full((1, 16, 16), 80.0))
    dl = QuantMap(np.full((1, 30, 32), 80.0), spacing=(0.47, 0.47, 5.0), kind=MapKind.T2)
    with pytest.raises(ValueError, match="upsampled"):
        fast_consistent(dl, fast, 1.0)


def test_engine_applies_the_consistency_step_by_default() -> None:
    """The engine's output keeps the fast map's coarse level: an untrained generator's offset is removed over
    regions larger than σ, and turning the option off returns the raw network output."""
    import torch

    from quantsr.consistency import DEFAULT_SIGMA_MM
    from quantsr.engine import EngineOptions, SuperResolver
    from quantsr.model import Generator, GeneratorConfig
    from quantsr.modelfile import ModelInfo

    assert EngineOptions().fast_consistency_mm is None  # the model's own σ, else DEFAULT_SIGMA_MM
    assert EngineOptions().fast_consistency_eps == DEFAULT_EPS
    torch.manual_seed(3)
    generator = Generator(GeneratorConfig(channels=8, residual_blocks=1, residual="bicubic"))
    with torch.no_grad():
        generator.tail.bias.fill_(0.02)  # a constant offset of 2 % of the range, like a biased network
    kind = MapKind.T2
    array = np.full((2, 40, 40), 80.0, np.float32)
    array[:, 15:25, 15:25] = 300.0
    fast = _fast(array)

    def run(**options) -> QuantMap:
        resolver = SuperResolver(generator, ModelInfo(kind, kind.norm_physical),
                                 EngineOptions(device="cpu", **options))
        return resolver.run(fast)

    raw, consistent = run(fast_consistency_mm=0.0), run()
    reference = upsample(fast, 2, "bicubic").array
    core = (slice(None), slice(34, 46), slice(34, 46))
    raw_error = abs(raw.array[core].mean() - reference[core].mean())
    consistent_error = abs(consistent.array[core].mean() - reference[core].mean())
    assert raw_error > 10.0
    assert consistent_error < raw_error / 4
    assert consistent.array[core].mean() == pytest.approx(reference[core].mean(), rel=0.02)
    assert consistent.metadata["fast_consistency_mm"] == DEFAULT_SIGMA_MM
    assert "fast_consistency_mm" not in raw.metadata
    assert consistent.same_geometry(raw)


# -- the fast implementation (issue 20) against the straightforward one it replaced -------------------------------


def _reference_consistent(dl: QuantMap, fast: QuantMap, sigma_mm: float, eps: float | None) -> np.ndarray:
    """The step as first written: scipy's Gaussian (float64 sums) over whole slices, four and then two filter
    calls — what ``fast_consistent`` must reproduce."""
    from scipy import ndimage

    sigma = (0.0, sigma_mm / dl.spacing[1], sigma_mm / dl.spacing[0])

    def mean(a: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(a, sigma, mode="nearest", truncate=3.0)

    values = dl.array.astype(np.float32)
    residual = upsample(fast, round(dl.shape[1] / fast.shape[1]), "bicubic").array - values
    if eps is None:
        values += mean(residual)
    else:
        guide = np.log(np.maximum(values, 0.0) + 0.01 * dl.kind.norm_physical)
        guide = guide - np.float32(guide.mean())
        mean_guide, mean_residual = mean(guide), mean(residual)
        slope = (mean(guide * residual) - mean_guide * mean_residual) / (
            mean(guide * guide) - mean_guide * mean_guide + eps)
        values += mean(slope) * guide + mean(mean_residual - slope * mean_guide)
    return np.maximum(values, 0.0)


def _head_study(background: float) -> tuple[QuantMap, QuantMap]:
    """A T1-like fast map (an elliptical head: white matter, cortex, CSF, a lesion, noise; background 0) and a
    DL-like map on the ×2 grid: the bicubic upsampling with fine texture and regional biases the fast map lacks,
    and outside the head one constant (the engine fills the background with the generator's response)."""
    rng = np.random.default_rng(5)
    slices, size = 5, 72
    z, y, x = np.meshgrid(np.arange(slices), np.arange(size), np.arange(size), indexing="ij")
    radius = np.hypot((y - 36) / 30.0, (x - 34) / (24.0 + 4.0 * z))  # the last slice's head touches the edge
    array = np.where(radius < 1.0, 1300.0, 0.0)
    array[radius < 0.8] = 850.0
    array[(radius < 0.35) & (np.abs(x - 34) < 3)] = 4200.0  # ventricles
    array[(np.hypot(y - 50, x - 30) < 4) & (radius < 0.8)] = 1700.0  # a lesion
    array[radius < 1.0] += rng.normal(0.0, 40.0, np.count_nonzero(radius < 1.0))
    array[0] = 0.0  # a slice without head in the fast map
    fast = QuantMap(array.astype(np.float32), origin=(-120.0, -100.0, 10.0), spacing=(0.86, 0.86, 5.0),
                    kind=MapKind.T1)
    bicubic = upsample(fast, 2, "bicubic").array
    head = np.kron(array > 0, np.ones((1, 2, 2))) > 0
    checker = np.indices(bicubic.shape[1:]).sum(axis=0) % 2 * 2.0 - 1.0
    dl = bicubic * (1.0 + 0.03 * np.sin(np.arange(bicubic.shape[2]) / 9.0)) + 25.0 * checker
    dl[bicubic > 3000] -= 300.0  # CSF biased low
    dl = np.where(head, np.maximum(dl, 0.0), background)
    dl[0, 60:70, 80:94] = 600.0  # where the fast map has nothing (and the bicubic is exactly 0): DL alone
    return fast, fast.with_array(dl.astype(np.float32), spacing=(0.43, 0.43, 5.0))


@pytest.mark.parametrize("background", [0.0, 2.5])
@pytest.mark.parametrize(("sigma_mm", "eps"), [(1.0, DEFAULT_EPS), (1.0, None), (2.0, 1e-3), (0.2, DEFAULT_EPS)])
def test_fast_path_equals_the_straightforward_filter(background: float, sigma_mm: float, eps: float | None) -> None:
    """Float32 banded-matrix products, stacked means, per-slice boxes and threads change nothing that matters: the
    result is within 1e-5 of the map's range (1 % of the 0.1 %-of-range accuracy budget) of the float64 scipy
    filter, inside the head and out (measured on the benchmark study: 3e-6, docs/benchmarks.md)."""
    fast, dl = _head_study(background)
    dl = QuantMap(dl.array, origin=dl.origin, spacing=dl.spacing, kind=MapKind.T1)  # a fresh map, no metadata
    expected = _reference_consistent(dl, fast, sigma_mm, eps)
    result = fast_consistent(dl, fast, sigma_mm, eps).array
    assert result.dtype == np.float32 and result.shape == expected.shape
    assert np.abs(result - expected).max() <= 1e-5 * MapKind.T1.norm_physical
    assert np.abs(result - expected).mean() <= 1e-7 * MapKind.T1.norm_physical
    if eps is not None and sigma_mm == 1.0:
        assert np.ptp(result[1]) > 1000.0  # the case is not trivial: a head with contrast


def test_banded_gaussian_matches_scipy_on_any_grid() -> None:
    """The matrix form of the Gaussian (its taps, truncation and 'nearest' ends) is scipy's, also where the kernel
    is wider than the image and where it is a single tap."""
    from quantsr.consistency import _smooth

    rng = np.random.default_rng(1)
    for rows, columns, sigma_rows, sigma_columns in [(7, 5, 3.1, 2.2), (61, 130, 2.33, 2.33), (40, 33, 0.1, 9.0)]:
        images = rng.normal(100.0, 30.0, (3, rows, columns)).astype(np.float32)
        expected = ndimage_gaussian(images, sigma_rows, sigma_columns)
        stacked = np.ascontiguousarray(images.transpose(1, 0, 2))
        result = _smooth(stacked, sigma_rows, sigma_columns).transpose(1, 0, 2)
        np.testing.assert_allclose(result, expected, rtol=0, atol=1e-6 * np.abs(expected).max())


def ndimage_gaussian(images: np.ndarray, sigma_rows: float, sigma_columns: float) -> np.ndarray:
    from scipy import ndimage

    return ndimage.gaussian_filter(images.astype(np.float64), (0.0, sigma_rows, sigma_columns), mode="nearest",
                                   truncate=3.0)


def test_a_model_file_carries_its_own_consistency_sigma_and_an_option_overrides_it(tmp_path) -> None:
    """The σ chosen for a model on validation is recorded in its file and applied by default (issue 16, v4)."""
    import torch

    from quantsr.engine import EngineOptions, SuperResolver
    from quantsr.errors import ModelError
    from quantsr.model import Generator, GeneratorConfig
    from quantsr.modelfile import ModelInfo, read_model_info, save_model

    torch.manual_seed(3)
    generator = Generator(GeneratorConfig(channels=4, residual_blocks=1, residual="bicubic"))
    path = save_model(generator, ModelInfo(MapKind.T2, 2200.0, fast_consistency_mm=2.0), tmp_path / "t2.safetensors")
    assert read_model_info(path).fast_consistency_mm == 2.0
    fast = _fast(np.full((2, 24, 24), 80.0, np.float32))
    by_model = SuperResolver.from_file(path, EngineOptions(device="cpu"))
    assert by_model.consistency_mm == 2.0 and by_model.run(fast).metadata["fast_consistency_mm"] == 2.0
    chosen = SuperResolver.from_file(path, EngineOptions(device="cpu", fast_consistency_mm=0.5))
    assert chosen.run(fast).metadata["fast_consistency_mm"] == 0.5
    off = SuperResolver.from_file(path, EngineOptions(device="cpu", fast_consistency_mm=0.0))
    assert "fast_consistency_mm" not in off.run(fast).metadata
    assert SuperResolver(generator, ModelInfo(MapKind.T2, 2200.0), EngineOptions()).consistency_mm == DEFAULT_SIGMA_MM
    data = read_model_info(path).to_json()
    with pytest.raises(ModelError, match="fast_consistency_mm 50 is outside 0–10 mm"):
        ModelInfo.from_json(dict(data, fast_consistency_mm=50))


def _acquired_phantom(lesion: bool) -> tuple[QuantMap, np.ndarray]:
    """A 64² fast T2 map acquired (k-space window 48×32, quantsr.trust) from a sharp 128² object — a head with a
    thin cortex-like ribbon next to CSF and, optionally, a lesion — and the object itself."""
    fine = np.zeros((1, 128, 128), np.float32)
    rows, columns = np.indices((128, 128))
    head = (rows - 64) ** 2 + (columns - 64) ** 2 < 56 ** 2
    fine[0][head] = 80.0  # white matter
    fine[0][head & (np.abs(columns - 64) < 3)] = 2000.0  # a CSF-filled sulcus, 6 fine pixels wide
    fine[0][head & (np.abs(columns - 64) >= 3) & (np.abs(columns - 64) < 7)] = 100.0  # cortex beside it
    if lesion:
        fine[0][(rows - 40) ** 2 + (columns - 90) ** 2 < 6 ** 2] = 150.0
    template = QuantMap(np.zeros((1, 64, 64), np.float32), origin=(-60.0, -60.0, 0.0), spacing=(1.875, 1.875, 5.0),
                        kind=MapKind.T2, metadata={"acquisition_matrix": [48, 0, 0, 32]})
    from quantsr.trust import fine_grid_like, to_fast_resolution

    fast = to_fast_resolution(fine_grid_like(template, fine), template)
    # as a fitted map: the background cut to 0, no negative ringing
    fast = fast.with_array(np.where(fine[:, ::2, ::2] > 0, np.maximum(fast.array, 0.0), 0.0).astype(np.float32))
    return fast, fine


def test_acquisition_forward_model_keeps_an_edge_the_fast_scan_blurred() -> None:
    """DL that resolved the cortex next to a sulcus (the object itself): comparing it with the fast scan directly
    puts the fast scan's partial volume back into the cortex (identity), comparing it as the fast acquisition
    would have seen it leaves it nearly as it was (issue 16, session 11)."""
    fast, fine = _acquired_phantom(lesion=False)
    dl = _dl_like(fast, fine)
    cortex = np.zeros((128, 128), bool)
    cortex[20:108, 58:62] = True  # both sides of the sulcus (columns 62–66), away from the scalp
    cortex[20:108, 67:71] = True
    identity = fast_consistent(dl, fast, 1.0).array[0]
    acquisition = fast_consistent(dl, fast, 1.0, forward="acquisition")
    assert acquisition.metadata["fast_consistency_forward"] == "acquisition"
    identity_error = abs(identity[cortex].mean() - 100.0)
    acquisition_error = abs(acquisition.array[0][cortex].mean() - 100.0)
    assert identity_error > 10.0  # CSF blurred back into the cortex
    assert acquisition_error < 0.25 * identity_error


def test_acquisition_forward_model_restores_an_erased_lesion() -> None:
    """DL that erased a 12-pixel-wide lesion gets most of the lesion's contrast back, as with the identity model."""
    fast, _ = _acquired_phantom(lesion=True)
    dl = _dl_like(fast, _acquired_phantom(lesion=False)[1])
    rows, columns = np.indices((128, 128))
    core = (rows - 40) ** 2 + (columns - 90) ** 2 < 4 ** 2
    result = fast_consistent(dl, fast, 1.0, forward="acquisition").array[0]
    identity = fast_consistent(dl, fast, 1.0).array[0]
    assert result[core].mean() - 80.0 > 0.6 * (identity[core].mean() - 80.0)
    assert result[core].mean() > 110.0
    outside = np.zeros((128, 128), bool)
    outside[:6, :6] = outside[-6:, -6:] = True  # background well beyond the head (the filters' reach): as empty
    # as with the identity model
    np.testing.assert_allclose(result[outside], identity[outside], atol=0.2)


def test_unknown_forward_model_is_an_error() -> None:
    fast = _fast(np.full((1, 16, 16), 80.0))
    with pytest.raises(ValueError, match="unknown forward model 'sinc'"):
        fast_consistent(_dl_like(fast, np.full((1, 32, 32), 80.0)), fast, 1.0, forward="sinc")


def test_a_model_file_carries_its_forward_model_and_an_option_overrides_it(tmp_path) -> None:
    import torch

    from quantsr.engine import EngineOptions, SuperResolver
    from quantsr.errors import ModelError
    from quantsr.model import Generator, GeneratorConfig
    from quantsr.modelfile import ModelInfo, read_model_info, save_model

    torch.manual_seed(3)
    generator = Generator(GeneratorConfig(channels=4, residual_blocks=1, residual="bicubic"))
    info = ModelInfo(MapKind.T2, 2200.0, fast_consistency_mm=1.0, fast_consistency_forward="acquisition")
    path = save_model(generator, info, tmp_path / "t2.safetensors")
    assert read_model_info(path).fast_consistency_forward == "acquisition"
    fast = _fast(np.full((2, 24, 24), 80.0, np.float32))
    by_model = SuperResolver.from_file(path, EngineOptions(device="cpu"))
    assert by_model.consistency_forward == "acquisition"
    assert by_model.run(fast).metadata["fast_consistency_forward"] == "acquisition"
    chosen = SuperResolver.from_file(path, EngineOptions(device="cpu", fast_consistency_forward="identity"))
    assert "fast_consistency_forward" not in chosen.run(fast).metadata
    assert SuperResolver(generator, ModelInfo(MapKind.T2, 2200.0), EngineOptions()).consistency_forward == "identity"
    with pytest.raises(ModelError, match="unknown fast_consistency_forward 'sinc'"):
        ModelInfo.from_json(dict(read_model_info(path).to_json(), fast_consistency_forward="sinc"))


def test_command_line_sets_the_forward_model() -> None:
    import argparse

    from quantsr.commands.engineargs import add_engine_arguments, engine_options

    parser = argparse.ArgumentParser()
    add_engine_arguments(parser)
    assert engine_options(parser.parse_args([])).fast_consistency_forward is None  # the model's own
    chosen = engine_options(parser.parse_args(["--fast-consistency-forward", "acquisition"]))
    assert chosen.fast_consistency_forward == "acquisition"
    with pytest.raises(SystemExit):
        parser.parse_args(["--fast-consistency-forward", "sinc"])


def test_acquisition_model_on_a_grid_it_does_not_fit_falls_back_to_identity(caplog) -> None:
    """A non-square fast grid (the k-space model needs one FOV both ways): the step still runs, as identity,
    and says so."""
    array = np.full((1, 24, 20), 80.0, np.float32)
    array[0, 8:14, 8:12] = 120.0
    fast = _fast(array)
    dl = _dl_like(fast, np.full((1, 48, 40), 80.0))
    with caplog.at_level("WARNING", logger="quantsr"):
        result = fast_consistent(dl, fast, 1.0, forward="acquisition")
    np.testing.assert_array_equal(result.array, fast_consistent(dl, fast, 1.0).array)
    assert "fast_consistency_forward" not in result.metadata
    assert "acquisition forward model does not apply" in caplog.text and "square" in caplog.text
