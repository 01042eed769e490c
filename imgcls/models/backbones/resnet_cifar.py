"""ResNet for 32x32 inputs such as CIFAR: a 3x3 stride-1 stem and no max-pool."""

from __future__ import annotations

import torch
import torch.nn as nn

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import build_conv_layer, build_norm_layer
from .resnet import ResNet


@BACKBONES.register_module()
class ResNet_CIFAR(ResNet):
    """ResNet whose stem keeps the input resolution, so 32x32 images reach layer1 at 32x32.

    Takes the same arguments as :class:`ResNet` except ``deep_stem``, which must stay False.
    """

    def __init__(self, depth: int, deep_stem: bool = False, **kwargs):
        if deep_stem:
            raise ConfigError('ResNet_CIFAR does not support deep_stem=True: its stem is a single 3x3 '
                              'stride-1 conv. Remove deep_stem from the config, or use ResNetV1c/ResNetV1d.')
        super().__init__(depth, deep_stem=deep_stem, **kwargs)

    def _make_stem_layer(self, in_channels: int, base_channels: int) -> None:
        """A 3x3 stride-1 conv, norm and ReLU; no max-pool."""
        self.conv1 = build_conv_layer(self.conv_cfg, in_channels, base_channels, kernel_size=3, stride=1,
                                      padding=1, bias=False)
        self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, base_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return the outputs of the ``out_indices`` stages, as a tuple."""
        x = self.relu(self.norm1(self.conv1(x)))
        outs = []
        for i, layer_name in enumerate(self.res_layers):
            x = getattr(self, layer_name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
