"""ShuffleNetV2 (Ma et al. 2018), with mmcls's layer names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import ConvModule, constant_init, normal_init
from ..utils.channel_shuffle import channel_shuffle
from ..utils.inverted_residual import run_block
from ..utils.stages import check_frozen_stages, check_out_indices, freeze
from .base_backbone import BaseBackbone

__all__ = ['ShuffleNetV2']


class InvertedResidual(nn.Module):
    """ShuffleNetV2 unit: split (or, when downsampling, copy) the input, transform one half, concat, shuffle.

    ``branch1`` (depthwise 3x3 → 1x1) exists only for stride 2; ``branch2`` is 1x1 → depthwise 3x3 → 1x1.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, conv_cfg: Mapping | None = None,
                 norm_cfg: Mapping = dict(type='BN'), act_cfg: Mapping = dict(type='ReLU'),  # noqa: B006
                 with_cp: bool = False, init_cfg=None):
        super().__init__()
        branch = out_channels // 2
        if stride == 1 and in_channels != branch * 2:
            raise ConfigError(f'ShuffleNetV2 unit with stride 1 needs in_channels == out_channels (even), '
                              f'got {in_channels} → {out_channels}')
        self.stride, self.with_cp = stride, with_cp
        convs = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        if stride > 1:
            self.branch1 = nn.Sequential(
                ConvModule(in_channels, in_channels, 3, stride=stride, padding=1, groups=in_channels,
                           act_cfg=None, **convs),
                ConvModule(in_channels, branch, 1, act_cfg=act_cfg, **convs))
        self.branch2 = nn.Sequential(
            ConvModule(in_channels if stride > 1 else branch, branch, 1, act_cfg=act_cfg, **convs),
            ConvModule(branch, branch, 3, stride=stride, padding=1, groups=branch, act_cfg=None, **convs),
            ConvModule(branch, branch, 1, act_cfg=act_cfg, **convs))

    def _inner(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        else:
            # slicing, not chunk(): the same split, and simpler for export tools
            half = x.shape[1] // 2 + x.shape[1] % 2
            out = torch.cat((x[:, :half], self.branch2(x[:, half:])), dim=1)
        return channel_shuffle(out, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_block(self, self._inner, x)


@BACKBONES.register_module()
class ShuffleNetV2(BaseBackbone):
    """ShuffleNetV2 backbone: ``conv1`` + max-pool, ``layers.0`` .. ``layers.2`` (stages), ``layers.3`` (1x1 conv).

    Args:
        widen_factor: 0.5, 1.0, 1.5 or 2.0.
        out_indices: outputs to return, 0..3.
        frozen_stages: freeze ``conv1`` and ``layers.0`` .. ``layers.<frozen_stages - 1>`` (-1: nothing).
        norm_eval: keep BatchNorm layers in eval mode while training.
        with_cp: gradient checkpointing in the blocks.
    """

    channel_settings = {0.5: [48, 96, 192, 1024], 1.0: [116, 232, 464, 1024], 1.5: [176, 352, 704, 1024],
                        2.0: [244, 488, 976, 2048]}

    def __init__(self, widen_factor: float = 1.0, out_indices: Sequence[int] = (3,), frozen_stages: int = -1,
                 conv_cfg: Mapping | None = None, norm_cfg: Mapping = dict(type='BN'),  # noqa: B006
                 act_cfg: Mapping = dict(type='ReLU'), norm_eval: bool = False,  # noqa: B006
                 with_cp: bool = False, init_cfg=None):
        super().__init__(init_cfg)
        if widen_factor not in self.channel_settings:
            raise ConfigError(f'ShuffleNetV2 widen_factor must be one of {list(self.channel_settings)}, '
                              f'got {widen_factor!r}')
        self.stage_blocks = [4, 8, 4]
        self.out_indices = check_out_indices('ShuffleNetV2', out_indices, 4)
        self.frozen_stages = check_frozen_stages('ShuffleNetV2', frozen_stages, -1, 3)
        self.conv_cfg, self.norm_cfg, self.act_cfg = conv_cfg, norm_cfg, act_cfg
        self.norm_eval, self.with_cp = norm_eval, with_cp
        channels = self.channel_settings[widen_factor]
        convs = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)

        self.in_channels = 24
        self.conv1 = ConvModule(3, self.in_channels, 3, stride=2, padding=1, **convs)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layers = nn.ModuleList(self._make_layer(channels[i], n) for i, n in enumerate(self.stage_blocks))
        self.layers.append(ConvModule(self.in_channels, channels[-1], 1, **convs))
        self.feat_dim = channels[-1]
        self._freeze_stages()

    def _make_layer(self, out_channels: int, num_blocks: int) -> nn.Sequential:
        """One stage: a stride-2 unit, then ``num_blocks - 1`` stride-1 units."""
        blocks = []
        for i in range(num_blocks):
            blocks.append(InvertedResidual(self.in_channels, out_channels, stride=2 if i == 0 else 1,
                                           conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg,
                                           with_cp=self.with_cp))
            self.in_channels = out_channels
        return nn.Sequential(*blocks)

    def init_weights(self, pretrained: str | None = None) -> None:
        """Normal(0, 1/fan_in) convs (0.01 in ``conv1``), unit norms with bias 1e-4; or load weights."""
        super().init_weights(pretrained)
        if pretrained is not None or self.is_pretrained_init():
            return
        for name, m in self.named_modules():
            if isinstance(m, nn.Conv2d):
                normal_init(m, mean=0, std=0.01 if 'conv1' in name else 1.0 / m.weight.shape[1])
            elif isinstance(m, (_BatchNorm, nn.GroupNorm)):
                constant_init(m, val=1, bias=0.0001)
                if isinstance(m, _BatchNorm) and m.running_mean is not None:
                    nn.init.constant_(m.running_mean, 0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return the outputs of the ``out_indices`` stages, as a tuple."""
        x = self.maxpool(self.conv1(x))
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _freeze_stages(self) -> None:
        if self.frozen_stages >= 0:
            freeze([self.conv1] + list(self.layers[:self.frozen_stages]))

