"""MobileNetV2 (Sandler et al. 2018), with mmcls's layer names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import ConvModule, make_divisible
from ..utils.inverted_residual import run_block
from ..utils.stages import check_frozen_stages, check_out_indices, freeze
from .base_backbone import BaseBackbone

__all__ = ['MobileNetV2']


class InvertedResidual(nn.Module):
    """MobileNetV2's block: ``conv`` = [1x1 expand] → 3x3 depthwise → 1x1 linear (mmcls key names).

    ``conv.0`` is the expand conv when ``expand_ratio != 1``, else the depthwise conv.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: float,
                 conv_cfg: Mapping | None = None, norm_cfg: Mapping = dict(type='BN'),  # noqa: B006
                 act_cfg: Mapping = dict(type='ReLU6'), with_cp: bool = False, init_cfg=None):  # noqa: B006
        super().__init__()
        if stride not in (1, 2):
            raise ConfigError(f'MobileNetV2 InvertedResidual stride must be 1 or 2, got {stride!r}')
        self.stride, self.with_cp = stride, with_cp
        self.use_res_connect = stride == 1 and in_channels == out_channels
        hidden = int(round(in_channels * expand_ratio))
        convs = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        layers = []
        if expand_ratio != 1:
            layers.append(ConvModule(in_channels, hidden, 1, act_cfg=act_cfg, **convs))
        layers += [ConvModule(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, act_cfg=act_cfg, **convs),
                   ConvModule(hidden, out_channels, 1, act_cfg=None, **convs)]
        self.conv = nn.Sequential(*layers)

    def _inner(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_block(self, self._inner, x)


@BACKBONES.register_module()
class MobileNetV2(BaseBackbone):
    """MobileNetV2 backbone: ``conv1``, ``layer1`` .. ``layer7`` (inverted residual stages), ``conv2`` (1x1).

    Args:
        widen_factor: channel multiplier (channels rounded to multiples of 8).
        out_indices: outputs to return, 0..7 (``layer1`` .. ``layer7``, then ``conv2``).
        frozen_stages: freeze ``conv1`` and ``layer1`` .. ``layer<frozen_stages>`` (-1: nothing).
        norm_eval: keep BatchNorm layers in eval mode while training.
        with_cp: gradient checkpointing in the blocks.
    """

    # expand ratio, channels, blocks, stride of the first block
    arch_settings = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1],
                     [6, 160, 3, 2], [6, 320, 1, 1]]

    def __init__(self, widen_factor: float = 1., out_indices: Sequence[int] = (7,), frozen_stages: int = -1,
                 conv_cfg: Mapping | None = None, norm_cfg: Mapping = dict(type='BN'),  # noqa: B006
                 act_cfg: Mapping = dict(type='ReLU6'), norm_eval: bool = False,  # noqa: B006
                 with_cp: bool = False,
                 init_cfg=[dict(type='Kaiming', layer=['Conv2d']),  # noqa: B006
                           dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])]):
        super().__init__(init_cfg)
        self.out_indices = check_out_indices('MobileNetV2', out_indices, 8)
        self.frozen_stages = check_frozen_stages('MobileNetV2', frozen_stages, -1, 7)
        self.widen_factor = widen_factor
        self.conv_cfg, self.norm_cfg, self.act_cfg = conv_cfg, norm_cfg, act_cfg
        self.norm_eval, self.with_cp = norm_eval, with_cp
        convs = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)

        self.in_channels = make_divisible(32 * widen_factor, 8)
        self.conv1 = ConvModule(3, self.in_channels, 3, stride=2, padding=1, **convs)
        self.layers = []
        for i, (expand_ratio, channels, num_blocks, stride) in enumerate(self.arch_settings):
            out_channels = make_divisible(channels * widen_factor, 8)
            self.add_module(f'layer{i + 1}', self.make_layer(out_channels, num_blocks, stride, expand_ratio))
            self.layers.append(f'layer{i + 1}')
        self.out_channel = int(1280 * widen_factor) if widen_factor > 1.0 else 1280
        self.conv2 = ConvModule(self.in_channels, self.out_channel, 1, **convs)
        self.layers.append('conv2')
        self.feat_dim = self.out_channel
        self._freeze_stages()

    def make_layer(self, out_channels: int, num_blocks: int, stride: int, expand_ratio: float) -> nn.Sequential:
        """One stage: ``num_blocks`` inverted residuals, the first with ``stride``."""
        blocks = []
        for i in range(num_blocks):
            blocks.append(InvertedResidual(self.in_channels, out_channels, stride if i == 0 else 1, expand_ratio,
                                           conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg,
                                           with_cp=self.with_cp))
            self.in_channels = out_channels
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return the outputs of the ``out_indices`` stages, as a tuple."""
        x = self.conv1(x)
        outs = []
        for i, name in enumerate(self.layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _freeze_stages(self) -> None:
        if self.frozen_stages >= 0:
            freeze([self.conv1] + [getattr(self, f'layer{i}') for i in range(1, self.frozen_stages + 1)])

