"""Image encoders for the image chapters (CLIFF, SGRE, PersPose): crop -> one feature vector.

- ``"small"``: a 4-stage convolutional encoder sized for the book's quick profile (64-pixel crops on a
  2-core CPU): a stride-4 patch convolution, then three 3x3 stages (strides 2, 2, 1) with GroupNorm
  and ReLU, global average pooling. GroupNorm rather than BatchNorm so that a batch of one (EFT-style
  per-example fine-tuning) and train/eval modes behave alike.
- ``"resnet18"`` / ``"resnet34"`` / ``"resnet50"``: the standard ResNets of He et al. (2016), layer for
  layer torchvision's definitions (``torchvision.models.resnet*``: v1.5, the stride in the bottleneck's
  3x3 convolution, BatchNorm, zero-free default init), the classifier removed: 512 / 512 / 2048
  features, randomly initialised (the papers start from ImageNet weights; torchvision's state dicts
  load into :attr:`Backbone.net` with ``strict=False``, the key names are the same). Written here
  because torchvision's PyPI wheels are built against CUDA torch and do not load with the CPU build
  this book pins; ``tests/test_cliff.py`` checks the parameter counts torchvision documents
  (11,176,512 / 21,284,672 / 23,508,032 without the classifier) and, where torchvision imports,
  the outputs.

Input: (B, 3, H, W) float images, already normalised (:func:`normalize_images`).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["BACKBONES", "Backbone", "ResNet", "make_backbone", "normalize_images"]

#: Names :func:`make_backbone` accepts.
BACKBONES = ("small", "resnet18", "resnet34", "resnet50")

# ImageNet statistics (the CLIFF code's constants.py): the standard input normalisation of both
# backbone families, kept for the small encoder too so that encoders are interchangeable.
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def normalize_images(images: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) uint8 RGB -> (B, 3, H, W) float, ImageNet mean/std normalised, on the same device."""
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be (B, H, W, 3) RGB, got {tuple(images.shape)}")
    x = images.permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


class Backbone(nn.Module):
    """An encoder and the size of its output: ``forward((B, 3, H, W)) -> (B, feature_dim)``."""

    def __init__(self, net: nn.Module, feature_dim: int, name: str) -> None:
        super().__init__()
        self.net = net
        self.feature_dim = int(feature_dim)
        self.name = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _small(width: int) -> nn.Sequential:
    def stage(c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_out, kernel, stride, padding), nn.GroupNorm(8, c_out), nn.ReLU(inplace=True)]

    return nn.Sequential(
        *stage(3, width, 4, 4, 0),
        *stage(width, 2 * width, 3, 2, 1),
        *stage(2 * width, 4 * width, 3, 2, 1),
        *stage(4 * width, 4 * width, 3, 1, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )


def make_backbone(name: str = "small", *, width: int = 32) -> Backbone:
    """The encoder ``name`` (one of :data:`BACKBONES`), randomly initialised.

    Args:
        name: "small" (quick profile) or a torchvision ResNet.
        width: channels of the small encoder's first stage (its feature size is 4 x width).
    Raises:
        ValueError: an unknown name or a width that is not a positive multiple of 8.
    """
    if name == "small":
        if width < 8 or width % 8:
            raise ValueError(f"width must be a positive multiple of 8 (GroupNorm uses 8 groups), got {width}")
        return Backbone(_small(width), 4 * width, name)
    if name not in _RESNETS:
        raise ValueError(f"unknown backbone {name!r}; choose one of {BACKBONES}")
    block, layers = _RESNETS[name]
    net = ResNet(block, layers)
    return Backbone(net, net.feature_dim, name)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions and the identity (or a 1x1 projection) shortcut (ResNet-18/34)."""

    expansion = 1

    def __init__(self, c_in: int, width: int, stride: int = 1) -> None:
        super().__init__()
        c_out = width * self.expansion
        self.conv1 = nn.Conv2d(c_in, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(c_in, c_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck(nn.Module):
    """1x1 - 3x3 (strided, "v1.5") - 1x1 convolutions, 4x expansion (ResNet-50)."""

    expansion = 4

    def __init__(self, c_in: int, width: int, stride: int = 1) -> None:
        super().__init__()
        c_out = width * self.expansion
        self.conv1 = nn.Conv2d(c_in, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, c_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(c_in, c_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


def _shortcut(c_in: int, c_out: int, stride: int) -> nn.Module | None:
    if stride == 1 and c_in == c_out:
        return None
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))


class ResNet(nn.Module):
    """He et al. (2016): a 7x7 stride-2 stem, 3x3 max pool, four stages (64, 128, 256, 512 wide, strides
    1, 2, 2, 2), global average pooling; no classifier. Initialisation as torchvision's (Kaiming normal,
    fan-out, for convolutions; BatchNorm weight 1, bias 0)."""

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: tuple[int, int, int, int]) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        c_in, stages = 64, []
        for i, (width, n) in enumerate(zip((64, 128, 256, 512), layers)):
            blocks = []
            for k in range(n):
                blocks.append(block(c_in, width, 2 if (k == 0 and i > 0) else 1))
                c_in = width * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.feature_dim = c_in
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


_RESNETS = {"resnet18": (BasicBlock, (2, 2, 2, 2)), "resnet34": (BasicBlock, (3, 4, 6, 3)),
            "resnet50": (Bottleneck, (3, 4, 6, 3))}
