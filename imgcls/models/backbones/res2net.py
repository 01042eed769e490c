"""Res2Net (Gao et al. 2019): bottlenecks whose 3x3 conv is a chain over ``scales`` channel groups."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import build_conv_layer, build_norm_layer
from .resnet import Bottleneck as _ResNetBottleneck
from .resnet import ResNet

__all__ = ['Bottle2neck', 'Res2Layer', 'Res2Net']


class Bottle2neck(_ResNetBottleneck):
    """1x1 conv to ``scales`` groups of ``width`` channels; group ``i`` (after the first) adds the previous
    group's output before its own 3x3 conv, the last group passes through; concat, 1x1 conv.

    The first block of a stage (``stage_type='stage'``) does not chain the groups, and average-pools the
    pass-through group to the stride. Keys as mmcls: ``conv1``/``bn1``, ``convs.i``/``bns.i``, ``conv3``/``bn3``.
    """

    expansion = 4

    def __init__(self, in_channels: int, out_channels: int, scales: int = 4, base_width: int = 26,
                 base_channels: int = 64, stage_type: str = 'normal', **kwargs):
        super().__init__(in_channels, out_channels, **kwargs)
        if not isinstance(scales, int) or scales < 2:
            raise ConfigError(f'Res2Net scales must be an int >= 2 (1 is a plain ResNet), got {scales!r}')
        if stage_type not in ('normal', 'stage'):
            raise ConfigError(f"Res2Net stage_type must be 'normal' or 'stage', got {stage_type!r}")
        width = int(math.floor(out_channels // self.expansion * base_width / base_channels))
        self.scales, self.width, self.stage_type = scales, width, stage_type
        self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, width * scales, postfix=1)
        self.conv1 = build_conv_layer(self.conv_cfg, in_channels, width * scales, 1, stride=self.conv1_stride,
                                      bias=False)
        self.add_module(self.norm1_name, norm1)
        if stage_type == 'stage':
            self.pool = nn.AvgPool2d(kernel_size=3, stride=self.conv2_stride, padding=1)
        self.convs = nn.ModuleList(
            build_conv_layer(self.conv_cfg, width, width, 3, stride=self.conv2_stride, padding=self.dilation,
                             dilation=self.dilation, bias=False) for _ in range(scales - 1))
        self.bns = nn.ModuleList(build_norm_layer(self.norm_cfg, width, postfix=i + 1)[1] for i in range(scales - 1))
        self.conv3 = build_conv_layer(self.conv_cfg, width * scales, out_channels, 1, bias=False)
        del self.conv2
        delattr(self, self.norm2_name)

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        groups = torch.split(self.relu(self.norm1(self.conv1(x))), self.width, 1)
        outs, sp = [], None
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            sp = groups[i] if sp is None or self.stage_type == 'stage' else sp + groups[i]
            sp = self.relu(bn(conv(sp.contiguous())))
            outs.append(sp)
        last = groups[-1]
        outs.append(self.pool(last) if self.stage_type == 'stage' else last)
        return self.norm3(self.conv3(torch.cat(outs, 1)))


class Res2Layer(nn.Sequential):
    """One Res2Net stage: a ``'stage'``-type first block (with the shortcut), then ``'normal'`` blocks.

    With ``avg_down`` the shortcut always starts with an ``AvgPool2d(stride)`` (also at stride 1, as mmcls:
    the keys are ``downsample.1`` / ``downsample.2`` then).
    """

    def __init__(self, block: type, num_blocks: int, in_channels: int, out_channels: int, stride: int = 1,
                 avg_down: bool = True, conv_cfg: Mapping | None = None,
                 norm_cfg: Mapping = dict(type='BN'), scales: int = 4, base_width: int = 26,  # noqa: B006
                 drop_path_rate: float | Sequence[float] = 0.0, expansion: int | None = None, **kwargs):
        self.block = block
        rates = [float(drop_path_rate)] * num_blocks if isinstance(drop_path_rate, (int, float)) \
            else list(drop_path_rate)
        if len(rates) != num_blocks:
            raise ConfigError(f'drop_path_rate has {len(rates)} values for {num_blocks} blocks')
        downsample = None
        if stride != 1 or in_channels != out_channels:
            parts = [nn.AvgPool2d(kernel_size=stride, stride=stride, ceil_mode=True, count_include_pad=False)] \
                if avg_down else []
            parts.append(build_conv_layer(conv_cfg, in_channels, out_channels, 1, stride=1 if avg_down else stride,
                                          bias=False))
            parts.append(build_norm_layer(norm_cfg, out_channels)[1])
            downsample = nn.Sequential(*parts)
        common = dict(out_channels=out_channels, conv_cfg=conv_cfg, norm_cfg=norm_cfg, scales=scales,
                      base_width=base_width, **kwargs)
        blocks = [block(in_channels=in_channels, stride=stride, downsample=downsample, stage_type='stage',
                        drop_path_rate=rates[0], **common)]
        blocks += [block(in_channels=out_channels, stride=1, drop_path_rate=r, **common) for r in rates[1:]]
        super().__init__(*blocks)


@BACKBONES.register_module()
class Res2Net(ResNet):
    """Res2Net backbone as in mmcls (depth 50, 101 or 152; ResNet-D stem and shortcuts by default).

    Args:
        scales: channel groups per block (the ``s`` of ``w26-s4``).
        base_width: the width of each group in the first stage (the ``w``).
        kwargs: the :class:`ResNet` arguments (``deep_stem`` and ``avg_down`` default to True here).
    """

    arch_settings = {
        50: (Bottle2neck, (3, 4, 6, 3)),
        101: (Bottle2neck, (3, 4, 23, 3)),
        152: (Bottle2neck, (3, 8, 36, 3)),
    }

    def __init__(self, depth: int, scales: int = 4, base_width: int = 26, style: str = 'pytorch',
                 deep_stem: bool = True, avg_down: bool = True, init_cfg=None, **kwargs):
        self.scales, self.base_width = scales, base_width
        super().__init__(depth, style=style, deep_stem=deep_stem, avg_down=avg_down, init_cfg=init_cfg, **kwargs)

    def make_res_layer(self, **kwargs) -> Res2Layer:
        """One stage of Bottle2neck blocks."""
        return Res2Layer(scales=self.scales, base_width=self.base_width, base_channels=self.base_channels, **kwargs)
