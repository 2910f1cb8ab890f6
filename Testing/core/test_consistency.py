"""Fast-scan consistency (quantsr.consistency): coarse content comes from the upsampled fast map, fine detail
from DL, and a biased CSF value does not leak across an edge into the cortex next to it."""

from __future__ import annotations

import numpy as np
import pytest

from quantsr.baselines import upsample
from quantsr.consistency import DEFAULT_EPS, fast_consistent, guided_lowpass, lowpass_in_plane
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

    assert EngineOptions().fast_consistency_mm == DEFAULT_SIGMA_MM
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
