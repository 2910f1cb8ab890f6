"""Synthetic contrasts: the signal equations by hand, the contrasts radiologists expect (FLAIR nulls CSF,
STIR nulls fat, T1W: WM > GM, T2W: CSF > GM), and `quantsr synth` end to end."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from helpers.dicom_factory import write_dicom_series

from quantsr.cli import main
from quantsr.io.images import read_image
from quantsr.mapkinds import MapKind
from quantsr.synth import contrast, synthesize
from quantsr.volume import QuantMap

# columns: WM, GM, CSF, fat, background
T1 = [838.0, 1233.0, 4100.0, 380.0, 0.0]
T2 = [80.0, 93.0, 1300.0, 110.0, 0.0]
PD = [68.0, 80.0, 100.0, 95.0, 0.0]


def _maps() -> tuple[QuantMap, QuantMap, QuantMap]:
    def one(values, kind):
        return QuantMap(np.array(values, np.float32).reshape(1, 1, 5), kind=kind)

    return one(T1, MapKind.T1), one(T2, MapKind.T2), one(PD, MapKind.PD)


def _signal(name: str, **changes) -> np.ndarray:
    return synthesize(*_maps(), contrast(name, **changes)).array[0, 0]


def test_equations_by_hand() -> None:
    wm = _signal("t2w")[0]
    assert wm == pytest.approx(68 * (1 - np.exp(-4500 / 838)) * np.exp(-100 / 80), rel=1e-5)
    flair_wm = _signal("flair", ti_ms=2500.0)[0]
    assert flair_wm == pytest.approx(68 * abs(1 - 2 * np.exp(-2500 / 838) + np.exp(-15000 / 838))
                                     * np.exp(-100 / 80), rel=1e-5)
    assert _signal("t1w")[4] == 0.0  # background stays 0


def test_the_contrasts_look_as_radiologists_expect() -> None:
    wm, gm, csf, fat, _ = range(5)
    t1w, t2w, flair, stir, psir = (_signal(n) for n in ("t1w", "t2w", "flair", "stir", "psir"))
    assert t1w[wm] > t1w[gm] > t1w[csf]
    assert t2w[csf] > t2w[gm] > t2w[wm]
    assert flair[csf] < 0.15 * flair[wm] and flair[gm] > flair[wm]  # CSF nulled, GM brighter than WM
    assert stir[fat] < 0.05 * stir[wm]  # fat nulled at TI ≈ T1(fat)·ln 2
    assert psir[csf] < psir[gm] < 0 < psir[wm]  # signed: WM above zero, GM and CSF below (TI 700 ms)
    with pytest.raises(ValueError, match="unknown contrast"):
        contrast("dwi")


def test_quantsr_synth_from_a_dicom_folder(tmp_path, capsys) -> None:
    study = pydicom.uid.generate_uid()
    t1, t2, pd = _maps()
    for number, qmap in enumerate((t1, t2, pd), start=3):
        array = np.tile(qmap.array, (3, 4, 1))  # 3 slices of 4 × 5
        write_dicom_series(tmp_path / "maps" / qmap.kind.value, array, series_number=number, study_uid=study,
                           image_type=("DERIVED", "PRIMARY", "QMAP", qmap.kind.value))
    out = tmp_path / "flair.nrrd"
    assert main(["synth", str(tmp_path / "maps"), "--contrast", "flair", "--ti", "2700", "-o", str(out)]) == 0
    assert "TI 2700 ms" in capsys.readouterr().out
    image = read_image(out).array
    assert image.shape == (3, 4, 5) and image[0, 0, 2] < 0.15 * image[0, 0, 0]
    assert main(["synth", "--t1", str(tmp_path / "maps" / "T1"), "--contrast", "t1w", "-o", str(out)]) == 1
    assert "--t1 --t2 --pd" in capsys.readouterr().err
