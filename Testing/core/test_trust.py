"""Trust map and data-consistency projection (quantsr.trust): the forward model gives back a fast map from
its own zero-filled upsampling, invented high-frequency detail scores low while an offset scores its size,
geometry is preserved, the projection leaves consistent maps alone and is idempotent."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.dicom_factory import oblique_direction

from quantsr.errors import InputError
from quantsr.geometry import upsampled_like
from quantsr.mapkinds import MapKind
from quantsr.trust import (
    DEFAULT_THRESHOLD_PCT,
    acquisition_matrix,
    deviation,
    fine_grid_like,
    is_flagged,
    project_data_consistency,
    roi_consistency,
    to_fast_resolution,
    zero_filled_upsample,
)
from quantsr.volume import QuantMap

N = 64  # fast grid; DL grid 128
WINDOW = (48, 32)  # the fast acquisition (frequency, phase): the 192×128 of 256² scaled down by 4


def _fast_template(direction: np.ndarray | None = None, array: np.ndarray | None = None) -> QuantMap:
    pixel = 220.0 / N
    data = np.zeros((2, N, N), np.float32) if array is None else array
    return QuantMap(data, origin=(-110 + pixel / 2, -90 + pixel / 2, 10.0), spacing=(pixel, pixel, 5.0),
                    direction=np.eye(3) if direction is None else direction, kind=MapKind.T2,
                    metadata={"acquisition_matrix": [WINDOW[0], 0, 0, WINDOW[1]]})


def _smooth_object() -> np.ndarray:
    """A positive T2-like field over the whole FOV (no background), smooth but not trivially constant."""
    y, x = np.mgrid[0:2 * N, 0:2 * N] / (2 * N)
    plane = 100 + 20 * np.sin(2 * np.pi * 3 * x) * np.cos(2 * np.pi * 2 * y) + 10 * np.cos(2 * np.pi * 5 * y)
    return np.stack([plane, plane * 1.1]).astype(np.float32)


def _band_limited_fast(direction: np.ndarray | None = None) -> QuantMap:
    """A fast map that is exactly what the fast acquisition sees of a smooth object."""
    template = _fast_template(direction)
    return to_fast_resolution(fine_grid_like(template, _smooth_object()), template)


def test_acquisition_matrix_from_metadata_or_protocol() -> None:
    assert acquisition_matrix(_fast_template()) == WINDOW  # DICOM AcquisitionMatrix [f, 0, 0, p]
    assert acquisition_matrix(QuantMap(np.zeros((1, 4, 4)), metadata={"acquisition_matrix": [192, 128]})) == (192, 128)
    assert acquisition_matrix(QuantMap(np.zeros((1, 256, 256)))) == (192, 128)  # the FAST protocol
    assert acquisition_matrix(QuantMap(np.zeros((1, 64, 64)))) == WINDOW  # its fraction of another grid


def test_forward_model_of_zero_filled_upsampling_gives_back_the_fast_map() -> None:
    fast = _band_limited_fast()
    upsampled = zero_filled_upsample(fast)
    assert upsampled.shape == (2, 2 * N, 2 * N)
    np.testing.assert_allclose(to_fast_resolution(upsampled, fast).array, fast.array, atol=1e-3)
    trust = deviation(upsampled, fast)
    assert np.abs(trust.percent.array).max() < 1e-3
    assert np.abs(trust.absolute.array).max() < 1e-3
    assert trust.head_percentiles() == pytest.approx((0.0, 0.0), abs=1e-3)


def test_invented_detail_scores_low_but_an_offset_scores_its_size() -> None:
    fast = _band_limited_fast()
    base = zero_filled_upsample(fast)
    j, i = np.mgrid[0:2 * N, 0:2 * N]
    envelope = np.exp(-((i - 70) ** 2 + (j - 60) ** 2) / (2 * 2.0**2))
    detail = 40 * envelope * (-1.0) ** (i + j)  # a bright/dark spot of pure fine-grid detail, mean-preserving
    with_detail = base.with_array(base.array + detail[None])
    assert np.abs(detail).max() == pytest.approx(40, rel=1e-6)  # ±40 ms ≈ 40 % of the local value
    trust = deviation(with_detail, fast)
    assert trust.head_percentiles()[1] < 0.1  # out of the acquired window: no disagreement with the scan
    offset = deviation(base.with_array(base.array * 1.10), fast)
    median, p95 = offset.head_percentiles()
    assert median == pytest.approx(10.0, abs=0.05) and p95 == pytest.approx(10.0, abs=0.05)
    head = offset.head
    np.testing.assert_allclose(offset.absolute.array[head], 0.1 * base.array[head], rtol=0.02, atol=0.2)


def test_an_invented_low_frequency_blob_is_flagged() -> None:
    fast = _band_limited_fast()
    base = zero_filled_upsample(fast)
    j, i = np.mgrid[0:2 * N, 0:2 * N]
    blob = np.exp(-((i - 64) ** 2 + (j - 64) ** 2) / (2 * 4.0**2))  # σ = 2 fast pixels: within the window
    trust = deviation(base.with_array(base.array * (1 + 0.3 * blob[None])), fast)
    spot = np.zeros(base.shape, bool)
    spot[:, 60:69, 60:69] = True
    assert roi_consistency(trust, spot) > DEFAULT_THRESHOLD_PCT and is_flagged(roi_consistency(trust, spot))
    assert roi_consistency(trust, spot, absolute=True) >= roi_consistency(trust, spot)
    far = np.zeros(base.shape, bool)
    far[:, 10:30, 10:30] = True
    assert abs(roi_consistency(trust, far)) < 0.5 and not is_flagged(roi_consistency(trust, far))
    assert np.isnan(roi_consistency(trust, np.zeros(base.shape, bool)))


def test_geometry_is_preserved_on_oblique_grids_and_non_2x_dl_grids() -> None:
    direction = oblique_direction(20)
    fast = _band_limited_fast(direction)
    dl = zero_filled_upsample(fast)
    low = to_fast_resolution(dl, fast)
    assert low.same_geometry(fast)
    trust = deviation(dl, fast)
    assert trust.percent.same_geometry(dl) and trust.absolute.same_geometry(dl)
    assert trust.low_res_absolute.same_geometry(fast)
    # a user DL volume on a 96² grid over the same FOV: resampled in physical space, result on its own grid
    coarse = upsampled_like(fast.with_array(fast.array[:, ::2, ::2]), np.repeat(np.repeat(
        fast.array[:, ::2, ::2], 3, axis=1), 3, axis=2), 3)
    other = deviation(coarse, fast)
    assert other.percent.same_geometry(coarse) and other.percent.shape == (2, 96, 96)


def test_percent_is_masked_outside_the_head() -> None:
    pixel_r = np.hypot(*np.mgrid[-N / 2:N / 2, -N / 2:N / 2] + 0.5)
    disk = np.where(pixel_r < 20, 90.0, 0.0).astype(np.float32)
    fast = _fast_template(array=np.stack([disk, disk]))
    dl = zero_filled_upsample(fast).with_array(np.full((2, 2 * N, 2 * N), 50.0, np.float32))
    trust = deviation(dl, fast)
    outside = zero_filled_upsample(fast.with_array((disk > 0).astype(np.float32)[None].repeat(2, 0))).array < 0.5
    assert np.all(trust.percent.array[outside] == 0.0)
    assert not trust.head[outside].any()
    inner = np.zeros_like(trust.head)
    inner[:, 54:74, 54:74] = True  # well inside the disk: 50 ms against ≈ 90 ms
    assert roi_consistency(trust, inner) == pytest.approx(-100 * 40 / 90, rel=0.1)  # DL lower than the scan


def test_projection_leaves_a_consistent_map_unchanged_and_is_idempotent() -> None:
    fast = _band_limited_fast()
    consistent = zero_filled_upsample(fast)
    np.testing.assert_allclose(project_data_consistency(consistent, fast).array, consistent.array, atol=1e-3)
    rng = np.random.default_rng(3)
    dl = consistent.with_array(consistent.array * 1.05 + rng.normal(0, 3, consistent.shape).astype(np.float32))
    once = project_data_consistency(dl, fast, clip=False)
    np.testing.assert_allclose(project_data_consistency(once, fast, clip=False).array, once.array, atol=1e-3)
    assert once.same_geometry(dl)
    # the low frequencies are now the fast scan's: the 5 % offset is gone, the fine noise is kept
    assert deviation(dl, fast).head_percentiles()[0] > 4.0
    assert deviation(once, fast).head_percentiles()[1] < 0.5  # what is left: the window's one-sided edge lines
    assert np.std(once.array - consistent.array) > 2.0
    clipped = project_data_consistency(dl, fast)
    np.testing.assert_allclose(project_data_consistency(clipped, fast).array, clipped.array, atol=1e-3)


def test_partial_projection_restores_the_lowest_frequencies_only() -> None:
    fast = _band_limited_fast()
    consistent = zero_filled_upsample(fast)
    dl = consistent.with_array(consistent.array * 1.05)
    half = project_data_consistency(dl, fast, window_fraction=0.5)
    # the mean (k = 0) is the scan's again, but the 5 % of the structure beyond the half window remains
    assert half.array.mean() == pytest.approx(consistent.array.mean(), rel=1e-4)
    assert 0 < np.abs(half.array - consistent.array).max() < np.abs(dl.array - consistent.array).max()
    with pytest.raises(ValueError, match="window_fraction"):
        project_data_consistency(dl, fast, window_fraction=0)


def test_non_square_fast_grid_is_a_clear_error() -> None:
    fast = QuantMap(np.ones((1, 8, 10)), kind=MapKind.T2)
    dl = QuantMap(np.ones((1, 16, 20)), kind=MapKind.T2)
    with pytest.raises(InputError, match="square"):
        deviation(dl, fast)


def test_cli_writes_the_deviation_volume_and_applies_the_projection(tmp_path, capsys) -> None:
    from quantsr.cli import main
    from quantsr.io.images import read_image, write_image

    fast = _band_limited_fast(oblique_direction(15))
    source = tmp_path / "sub01_T2_fast.nrrd"
    write_image(fast, source)
    out = tmp_path / "out" / "t2_sr.nrrd"
    assert main(["sr", str(source), "-o", str(out), "--method", "bicubic", "--trust"]) == 0
    percent = read_image(tmp_path / "out" / "t2_sr_deviation_pct.nrrd")
    result = read_image(out)
    assert percent.same_geometry(result) and percent.kind is MapKind.UNKNOWN
    expected = deviation(result, read_image(source))
    np.testing.assert_allclose(percent.array, expected.percent.array, atol=1e-5)
    printed = capsys.readouterr().out
    assert "deviation from the fast scan in the head: median" in printed and "95th percentile" in printed
    dc_out = tmp_path / "out" / "t2_dc.nrrd"
    assert main(["sr", str(source), "-o", str(dc_out), "--method", "bicubic", "--data-consistency"]) == 0
    projected = read_image(dc_out)
    np.testing.assert_allclose(projected.array, project_data_consistency(result, read_image(source)).array, atol=1e-3)
    assert "[bicubic + DC]" in capsys.readouterr().out
    half_out = tmp_path / "out" / "t2_dc_half.nrrd"
    assert main(["sr", str(source), "-o", str(half_out), "--method", "bicubic", "--data-consistency",
                 "--dc-window", "0.5"]) == 0
    expected_half = project_data_consistency(result, read_image(source), window_fraction=0.5)
    np.testing.assert_allclose(read_image(half_out).array, expected_half.array, atol=1e-3)
    assert main(["sr", str(source), "-o", str(tmp_path / "bad.nrrd"), "--data-consistency", "--dc-window", "2"]) != 0
    assert "--dc-window must be in (0, 1]" in capsys.readouterr().err
