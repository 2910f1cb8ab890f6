"""The SRGAN discriminator and the VGG-19 content-loss network (the generator lives in the core:
``quantsr.model.Generator``, one definition)."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from quantsr.errors import InputError

log = logging.getLogger("quantsr.training")


class Discriminator(nn.Module):
    """Eight 3×3 convolutions with LeakyReLU (BN on all but the first), then a dense head.

    The head's sigmoid is folded into the loss (``BCEWithLogitsLoss``) for numerical stability;
    :meth:`probability` gives the sigmoid output the paper describes.
    """

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        widths = [channels, channels, 2 * channels, 2 * channels, 4 * channels, 4 * channels, 8 * channels,
                  8 * channels]
        layers: list[nn.Module] = []
        previous = 1
        for index, width in enumerate(widths):
            stride = 2 if index % 2 == 1 else 1
            layers.append(nn.Conv2d(previous, width, 3, stride=stride, padding=1, bias=index == 0))
            if index > 0:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            previous = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(previous, 16 * channels),
                                  nn.LeakyReLU(0.2, inplace=True), nn.Linear(16 * channels, 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Logits (N, 1)."""
        return self.head(self.features(image))

    def probability(self, image: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self(image))


#: torchvision's vgg19().features layout: 'M' = max-pool, numbers = conv output channels.
_VGG19_LAYOUT: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
                                  512, 512, 512, 512, "M"]
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG19Features(nn.Module):
    """VGG-19 convolutional layers up to ``last_layer`` (torchvision indices), frozen, for the content
    loss. Weights come from a user-supplied ImageNet state dict (torchvision layout) — nothing downloads."""

    mean: torch.Tensor  # ImageNet normalisation, registered as buffers
    std: torch.Tensor

    def __init__(self, last_layer: int = 35) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous = 3
        for item in _VGG19_LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(previous, int(item), 3, padding=1), nn.ReLU(inplace=True)]
                previous = int(item)
        self.features = nn.Sequential(*layers[: last_layer + 1])
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def load_imagenet(self, path: str | Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise InputError("no such VGG-19 weights file", path)
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:  # noqa: BLE001 - any unpickling refusal is reported the same way
                raise InputError(f"not a plain VGG-19 state dict ({exc})", path) from None
        wanted = {f"features.{k}" for k in self.features.state_dict()}
        features = {k: v for k, v in state.items() if k in wanted}
        missing = wanted - set(features)
        if missing:
            raise InputError(f"not a torchvision VGG-19 state dict: missing {sorted(missing)[:3]}", path)
        self.load_state_dict({**features, "mean": self.mean, "std": self.std})

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Features of a map normalised to [−1, 1] (one channel, repeated to RGB)."""
        rgb = ((image + 1) / 2).repeat(1, 3, 1, 1)
        return self.features((rgb - self.mean) / self.std)


def content_loss_network(weights: str, last_layer: int, device: torch.device) -> VGG19Features | None:
    """The VGG network when a weights file is given, else ``None`` (and the log says the term is off)."""
    if not weights:
        log.warning("no VGG-19 weights file given (loss.vgg_weights): the VGG content-loss term is OFF")
        return None
    network = VGG19Features(last_layer)
    network.load_imagenet(weights)
    return network.to(device)
