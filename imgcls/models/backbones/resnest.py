"""ResNeSt (Zhang et al. 2020): ResNet-D whose 3x3 conv is a split-attention conv over ``radix`` splits."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import build_conv_layer, build_norm_layer
from .resnet import Bottleneck as _ResNetBottleneck
from .resnet import ResLayer, ResNetV1d

__all__ = ['ResNeSt', 'SplitAttentionConv2d']


def radix_softmax(x: torch.Tensor, radix: int, groups: int) -> torch.Tensor:
    """Attention weights from ``(N, groups * radix * C, 1, 1)`` logits: a softmax across the splits of each
    channel (laid out group-major, split-minor), or a sigmoid when there is one split."""
    n = x.shape[0]
    if radix == 1:
        return torch.sigmoid(x).reshape(n, -1)
    return F.softmax(x.reshape(n, groups, radix, -1).transpose(1, 2), dim=1).reshape(n, -1)


class SplitAttentionConv2d(nn.Module):
    """A grouped conv producing ``radix`` splits of ``channels``, summed with per-channel softmax weights
    computed from their pooled sum. Keys: ``conv``, ``bn0``, ``fc1``, ``bn1``, ``fc2`` (as mmcls).

    Args:
        reduction_factor: the attention MLP is ``max(in_channels * radix // reduction_factor, 32)`` wide.
    """

    def __init__(self, in_channels: int, channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 dilation: int = 1, groups: int = 1, radix: int = 2, reduction_factor: int = 4,
                 conv_cfg: Mapping | None = None, norm_cfg: Mapping = dict(type='BN')):  # noqa: B006
        super().__init__()
        if not isinstance(radix, int) or radix < 1:
            raise ConfigError(f'ResNeSt radix must be a positive int, got {radix!r}')
        inter_channels = max(in_channels * radix // reduction_factor, 32)
        self.radix, self.groups, self.channels = radix, groups, channels
        self.conv = build_conv_layer(conv_cfg, in_channels, channels * radix, kernel_size, stride=stride,
                                     padding=padding, dilation=dilation, groups=groups * radix, bias=False)
        self.norm0_name, norm0 = build_norm_layer(norm_cfg, channels * radix, postfix=0)
        self.add_module(self.norm0_name, norm0)
        self.relu = nn.ReLU(inplace=True)
        self.fc1 = nn.Conv2d(channels, inter_channels, 1, groups=groups)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, inter_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.fc2 = nn.Conv2d(inter_channels, channels * radix, 1, groups=groups)

    @property
    def norm0(self) -> nn.Module:
        return getattr(self, self.norm0_name)

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.norm0(self.conv(x)))
        n = x.shape[0]
        splits = x.reshape(n, self.radix, -1, *x.shape[2:])
        pooled = F.adaptive_avg_pool2d(splits.sum(dim=1), 1)
        atten = self.fc2(self.relu(self.norm1(self.fc1(pooled))))
        atten = radix_softmax(atten, self.radix, self.groups).reshape(n, self.radix, -1, 1, 1)
        return (atten * splits).sum(dim=1)


class Bottleneck(_ResNetBottleneck):
    """The ResNeSt bottleneck: 1x1, split-attention 3x3, [3x3 average pool for the stride], 1x1.

    Args:
        groups / width_per_group / base_channels: the ResNeXt-style width of the middle convs.
        avg_down_stride: downsample with a 3x3 average pool after the attention conv (``avd_layer``)
            instead of striding the conv.
    """

    def __init__(self, in_channels: int, out_channels: int, groups: int = 1, width_per_group: int = 4,
                 base_channels: int = 64, radix: int = 2, reduction_factor: int = 4, avg_down_stride: bool = True,
                 **kwargs):
        super().__init__(in_channels, out_channels, **kwargs)
        self.groups, self.width_per_group = groups, width_per_group
        if groups != 1:
            if self.mid_channels % base_channels:
                raise ConfigError(f'ResNeSt with groups={groups}: the block width {self.mid_channels} is not a '
                                  f'multiple of base_channels={base_channels}')
            self.mid_channels = groups * width_per_group * self.mid_channels // base_channels
        mid = self.mid_channels
        self.avg_down_stride = avg_down_stride and self.conv2_stride > 1
        self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, mid, postfix=1)
        self.conv1 = build_conv_layer(self.conv_cfg, in_channels, mid, 1, stride=self.conv1_stride, bias=False)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = SplitAttentionConv2d(mid, mid, 3, stride=1 if self.avg_down_stride else self.conv2_stride,
                                          padding=self.dilation, dilation=self.dilation, groups=groups, radix=radix,
                                          reduction_factor=reduction_factor, conv_cfg=self.conv_cfg,
                                          norm_cfg=self.norm_cfg)
        delattr(self, self.norm2_name)  # the attention conv has its own norms
        if self.avg_down_stride:
            self.avd_layer = nn.AvgPool2d(3, self.conv2_stride, padding=1)
        self.conv3 = build_conv_layer(self.conv_cfg, mid, out_channels, 1, bias=False)

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.relu(self.norm1(self.conv1(x))))
        if self.avg_down_stride:
            out = self.avd_layer(out)
        return self.norm3(self.conv3(out))


@BACKBONES.register_module()
class ResNeSt(ResNetV1d):
    """ResNeSt backbone as in mmcls (deep stem, average-pool shortcuts; depths 50, 101, 152, 200, 269).

    Args:
        groups / width_per_group: cardinality and width of each path (1 and 4: the published models).
        radix: splits per attention conv; reduction_factor: width divisor of the attention MLP.
        avg_down_stride: see :class:`Bottleneck`.
        kwargs: the :class:`ResNet` arguments (stem_channels=128 for ResNeSt-101 and deeper).
    """

    arch_settings = {
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
        200: (Bottleneck, (3, 24, 36, 3)),
        269: (Bottleneck, (3, 30, 48, 8)),
    }

    def __init__(self, depth: int, groups: int = 1, width_per_group: int = 4, radix: int = 2,
                 reduction_factor: int = 4, avg_down_stride: bool = True, **kwargs):
        self.groups, self.width_per_group, self.radix = groups, width_per_group, radix
        self.reduction_factor, self.avg_down_stride = reduction_factor, avg_down_stride
        super().__init__(depth, **kwargs)

    def make_res_layer(self, **kwargs) -> ResLayer:
        """One stage of ResNeSt bottlenecks."""
        return ResLayer(groups=self.groups, width_per_group=self.width_per_group, base_channels=self.base_channels,
                        radix=self.radix, reduction_factor=self.reduction_factor,
                        avg_down_stride=self.avg_down_stride, **kwargs)
