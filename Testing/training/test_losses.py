"""The loss terms (``losses.py``): the logged fields follow the configured terms, the generator loss is their
weighted sum, and the [model] section is the core's GeneratorConfig with flat keys."""

from __future__ import annotations

import pytest
import torch

from quantsr.errors import InputError
from quantsr.model import GeneratorConfig
from quantsr_training.config import LossConfig, TrainConfig, load_config
from quantsr_training.losses import GeneratorLoss, discriminator_loss


def _always_real(fake: torch.Tensor) -> torch.Tensor:
    return torch.full((fake.shape[0], 1), 3.0)  # logits of a discriminator fooled every time


def test_log_fields_follow_the_configured_terms() -> None:
    paper = GeneratorLoss(LossConfig(), _always_real, vgg=None)  # no VGG weights: that term is off
    assert paper.log_fields == ("loss_g", "loss_l1", "loss_adv", "loss_d")
    lesion = GeneratorLoss(LossConfig(l2=0.5, local_mean=1.0, fast_consistency=2.0, adversarial=0.0), _always_real,
                           vgg=None)
    assert lesion.log_fields == ("loss_g", "loss_l1", "loss_l2", "loss_local_mean", "loss_fast_consistency")
    assert not lesion.has_adversarial


def test_generator_loss_is_the_weighted_sum_of_its_terms() -> None:
    hr = torch.zeros(1, 1, 8, 8)
    fake = torch.full((1, 1, 8, 8), 0.5)
    lr = torch.zeros(1, 1, 4, 4)
    loss = GeneratorLoss(LossConfig(l1=1.0, l2=2.0, adversarial=0.1), _always_real, vgg=None)
    total, values = loss(fake, hr, lr, adversarial=True)
    adversarial = float(torch.nn.functional.softplus(torch.tensor(-3.0)))  # BCE(logit 3, "real")
    assert float(values["loss_l1"]) == pytest.approx(0.5)
    assert float(values["loss_l2"]) == pytest.approx(0.25)
    assert float(values["loss_adv"]) == pytest.approx(adversarial)
    assert float(total) == pytest.approx(0.5 + 2.0 * 0.25 + 0.1 * adversarial)
    warm_up_total, warm_up = loss(fake, hr, lr, adversarial=False)  # L1 warm-up: adversarial term logged as 0
    assert float(warm_up["loss_adv"]) == 0.0 and float(warm_up_total) == pytest.approx(1.0)


def test_discriminator_loss_is_zero_for_a_perfect_discriminator_only() -> None:
    assert float(discriminator_loss(torch.full((2, 1), 50.0), torch.full((2, 1), -50.0))) == pytest.approx(0.0)
    assert float(discriminator_loss(torch.zeros(2, 1), torch.zeros(2, 1))) == pytest.approx(2 * 0.6931, abs=1e-4)


def test_model_section_is_the_cores_generator_config_with_flat_keys() -> None:
    config = load_config(None, ["model.channels=8", "model.residual=bicubic", "model.discriminator_channels=4"])
    assert config.model.generator == GeneratorConfig(channels=8, residual="bicubic")
    flat = config.to_dict()["model"]
    assert flat["channels"] == 8 and flat["residual"] == "bicubic" and flat["discriminator_channels"] == 4
    assert TrainConfig.from_dict(config.to_dict()).to_dict() == config.to_dict()


def test_every_bad_setting_is_reported_at_once() -> None:
    with pytest.raises(InputError) as caught:
        load_config(None, ["model.scale=3", "model.channels=many", "run.colour=red", "loss.l1=-1"])
    message = str(caught.value)
    assert "model.scale must be a power of two" in message and "model.channels = 'many' is not a int" in message
    assert "unknown setting 'run.colour'" in message and "loss.l1 must be ≥ 0" in message
