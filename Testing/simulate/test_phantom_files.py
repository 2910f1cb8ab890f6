"""Where the simulator finds the MNI152 maps: nilearn's wheel, or a folder named by QUANTSR_MNI152_DIR
(a machine without nilearn, such as the lent GPU: scripts/device_bundle.sh copies the three files)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import SimpleITK as sitk

from quantsr.errors import InputError
from quantsr.simulate import phantom


def test_a_folder_named_by_the_variable_replaces_nilearns(tmp_path, monkeypatch) -> None:
    wheel = phantom.mni_data_dir()
    for name in phantom._MNI_FILES.values():
        shutil.copy(wheel / name, tmp_path / name)
    monkeypatch.setenv(phantom.MNI_DIR_VARIABLE, str(tmp_path))
    assert phantom.mni_data_dir() == tmp_path
    copied = phantom.mni_tissues.__wrapped__()  # uncached: read from the copies
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(copied), sitk.GetArrayViewFromImage(phantom.mni_tissues()))


def test_a_folder_without_the_maps_is_refused_by_name(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(phantom.MNI_DIR_VARIABLE, str(tmp_path))
    with pytest.raises(InputError, match="MNI152 template missing") as error:
        phantom.mni_tissues.__wrapped__()
    assert "mni_icbm152_" in str(error.value)
