"""ResNeXt (Xie et al. 2017): ResNet bottlenecks whose 3x3 conv is split into ``groups`` paths."""

from __future__ import annotations

import torch.nn as nn

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import build_conv_layer, build_norm_layer
from .resnet import Bottleneck as _ResNetBottleneck
from .resnet import ResLayer, ResNet

__all__ = ['ResNeXt', 'make_grouped']


def make_grouped(block: nn.Module, base_channels: int, groups: int, width_per_group: int) -> None:
    """Rebuild a bottleneck's convs and norms for the ResNeXt width ``groups * width_per_group``.

    The mid width of a ResNeXt stage is ``groups * width_per_group * (resnet mid) / base_channels``,
    e.g. 32x4d: 128 in the first stage where ResNet-50 has 64. ``groups == 1`` keeps the ResNet block.
    """
    if groups == 1:
        return
    for name, value in (('groups', groups), ('width_per_group', width_per_group), ('base_channels', base_channels)):
        if not isinstance(value, int) or value <= 0:
            raise ConfigError(f'ResNeXt {name} must be a positive int, got {value!r}')
    mid = groups * width_per_group * block.mid_channels // base_channels
    block.mid_channels = mid
    block.norm1_name, norm1 = build_norm_layer(block.norm_cfg, mid, postfix=1)
    block.norm2_name, norm2 = build_norm_layer(block.norm_cfg, mid, postfix=2)
    block.conv1 = build_conv_layer(block.conv_cfg, block.in_channels, mid, 1, stride=block.conv1_stride, bias=False)
    block.add_module(block.norm1_name, norm1)
    block.conv2 = build_conv_layer(block.conv_cfg, mid, mid, 3, stride=block.conv2_stride, padding=block.dilation,
                                   dilation=block.dilation, groups=groups, bias=False)
    block.add_module(block.norm2_name, norm2)
    block.conv3 = build_conv_layer(block.conv_cfg, mid, block.out_channels, 1, bias=False)


class Bottleneck(_ResNetBottleneck):
    """The ResNeXt bottleneck: a grouped 3x3 conv of width ``groups * width_per_group`` per 64 base channels."""

    def __init__(self, in_channels: int, out_channels: int, base_channels: int = 64, groups: int = 32,
                 width_per_group: int = 4, **kwargs):
        super().__init__(in_channels, out_channels, **kwargs)
        self.groups, self.width_per_group = groups, width_per_group
        make_grouped(self, base_channels, groups, width_per_group)


@BACKBONES.register_module()
class ResNeXt(ResNet):
    """ResNeXt backbone as in mmcls (ResNeXt-50/101/152; keys as ResNet's, ``conv2`` grouped).

    Args:
        depth: 50, 101 or 152.
        groups: the cardinality (32 in 32x4d).
        width_per_group: the width of each path in the first stage (4 in 32x4d).
        kwargs: the :class:`ResNet` arguments.
    """

    arch_settings = {
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(self, depth: int, groups: int = 32, width_per_group: int = 4, **kwargs):
        self.groups, self.width_per_group = groups, width_per_group
        super().__init__(depth, **kwargs)

    def make_res_layer(self, **kwargs) -> ResLayer:
        """One stage of ResNeXt bottlenecks."""
        return ResLayer(groups=self.groups, width_per_group=self.width_per_group,
                        base_channels=self.base_channels, **kwargs)
