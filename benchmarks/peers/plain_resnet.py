"""ResNet-18 (CIFAR stem) and ResNet-50 (ImageNet stem) in plain PyTorch, as a user writes them by hand.

The architectures are the standard ones (He et al. 2016; the "v1.5" variant with the stride on the 3x3
conv of the bottleneck, as imgcls's ``style='pytorch'`` and timm's ``resnet50``), so parameter counts
and FLOPs match imgcls's ``ResNet_CIFAR`` depth 18 and ``ResNet`` depth 50 exactly.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_bn(cin: int, cout: int, k: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout)]


class Basic(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(*conv_bn(cin, width, 3, stride), nn.ReLU(inplace=True), *conv_bn(width, width, 3))
        self.short = nn.Sequential(*conv_bn(cin, width, 1, stride)) if stride != 1 or cin != width else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.short(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int):
        super().__init__()
        cout = width * 4
        self.body = nn.Sequential(*conv_bn(cin, width, 1), nn.ReLU(inplace=True), *conv_bn(width, width, 3, stride),
                                  nn.ReLU(inplace=True), *conv_bn(width, cout, 1))
        self.short = nn.Sequential(*conv_bn(cin, cout, 1, stride)) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.short(x))


class ResNet(nn.Module):
    def __init__(self, block, depths, num_classes: int, in_channels: int = 3, cifar_stem: bool = False):
        super().__init__()
        if cifar_stem:  # 3x3 stride-1 stem, no max-pool: for 32x32 inputs
            stem = [*conv_bn(in_channels, 64, 3), nn.ReLU(inplace=True)]
        else:
            stem = [*conv_bn(in_channels, 64, 7, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)]
        layers, cin = [], 64
        for i, depth in enumerate(depths):
            width = 64 * 2 ** i
            for j in range(depth):
                layers.append(block(cin, width, 2 if (j == 0 and i > 0) else 1))
                cin = width * block.expansion
        self.features = nn.Sequential(*stem, *layers)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean((2, 3)))


def resnet18_cifar(num_classes: int = 10, in_channels: int = 3) -> ResNet:
    return ResNet(Basic, (2, 2, 2, 2), num_classes, in_channels, cifar_stem=True)


def resnet50(num_classes: int = 1000) -> ResNet:
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes)
