"""The bundled models on a simulated patient outside their training data (seed 7, MNI anatomy, the paper's
lesion kinds): DL beats bicubic against routine in PSNR and SSIM for T1, T2 and PD, and keeps GM / WM means
within 1 % of routine (the test set's worst on MNI brains is 0.42 %: docs/generalization.md). A bundled model
worse than bicubic fails CI here."""

from __future__ import annotations

import pytest

from quantsr.baselines import upsample
from quantsr.engine import SuperResolver
from quantsr.mapkinds import QUANT_KINDS
from quantsr.modelfile import find_bundled_model
from quantsr.quality import image_scores


@pytest.mark.slow
@pytest.mark.parametrize("kind", QUANT_KINDS, ids=lambda kind: kind.value)
def test_bundled_model_beats_bicubic_and_keeps_tissue_means(patient, kind) -> None:
    if find_bundled_model(kind) is None:
        pytest.fail(f"no bundled {kind.value} model: Resources/Models must ship all three")
    fast, routine = patient.maps["fast"][kind], patient.maps["routine"][kind]
    dl = SuperResolver.for_kind(kind).run(fast, guides=patient.maps["fast"])  # the study's other maps guide
    bicubic = upsample(fast, 2, "bicubic")
    dl_scores = image_scores(dl.array, routine.array, kind.norm_physical)
    bicubic_scores = image_scores(bicubic.array, routine.array, kind.norm_physical)
    assert dl_scores.psnr_head > bicubic_scores.psnr_head + 1.0  # dB, inside the head
    assert dl_scores.ssim_head > bicubic_scores.ssim_head
    healthy = patient.labels.array == 0
    for tissue, pure in (("GM", 0.9), ("WM", 0.95)):
        mask = (patient.fractions[tissue].array >= pure) & healthy
        bias = dl.array[mask].mean() / routine.array[mask].mean() - 1
        assert abs(bias) < 0.01, (kind.value, tissue, bias)
