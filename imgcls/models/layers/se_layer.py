"""Squeeze-and-Excitation (Hu et al. 2018): channel gates from globally pooled features."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn

from ...errors import ConfigError
from .conv_module import ConvModule
from .make_divisible import make_divisible


class SELayer(nn.Module):
    """Pool to 1x1, squeeze with a 1x1 conv + act, expand with a 1x1 conv + gate, scale the input.

    State-dict keys match mmcls: ``conv1.conv.*`` (squeeze) and ``conv2.conv.*`` (expand).

    Args:
        channels: input (and output) channels.
        squeeze_channels: width of the bottleneck; default ``make_divisible(channels // ratio, divisor)``.
        ratio / divisor: used only when ``squeeze_channels`` is None.
        bias: conv bias, ``'auto'`` (i.e. True, as there is no norm) or a bool.
        act_cfg: one activation config for both convs, or two (squeeze, gate).
        return_weight: return the gate instead of the scaled input.
    """

    def __init__(self, channels: int, squeeze_channels: int | None = None, ratio: int = 16, divisor: int = 8,
                 bias: bool | str = 'auto', conv_cfg: Mapping | None = None,
                 act_cfg: Mapping | Sequence[Mapping] = (dict(type='ReLU'), dict(type='Sigmoid')),
                 return_weight: bool = False, init_cfg: Mapping | None = None):
        super().__init__()
        if isinstance(act_cfg, Mapping):
            act_cfg = (act_cfg, act_cfg)
        if len(act_cfg) != 2:
            raise ConfigError(f'SELayer act_cfg must be one dict or two (squeeze, gate), got {act_cfg!r}')
        if squeeze_channels is None:
            squeeze_channels = make_divisible(channels // ratio, divisor)
        if not isinstance(squeeze_channels, int) or squeeze_channels <= 0:
            raise ConfigError(f'SELayer squeeze_channels must be a positive int, got {squeeze_channels!r} '
                              f'(channels={channels}, ratio={ratio})')
        self.return_weight = return_weight
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.conv1 = ConvModule(channels, squeeze_channels, 1, bias=bias, conv_cfg=conv_cfg, act_cfg=act_cfg[0])
        self.conv2 = ConvModule(squeeze_channels, channels, 1, bias=bias, conv_cfg=conv_cfg, act_cfg=act_cfg[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale each channel of ``x`` by its gate in [0, 1] (or return the gate)."""
        weight = self.conv2(self.conv1(self.global_avgpool(x)))
        return weight if self.return_weight else x * weight
