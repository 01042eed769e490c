"""ShuffleNetV1 (Zhang et al. 2018): grouped 1x1 convs with a channel shuffle between them, with mmcls's keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import ConvModule, build_activation_layer, constant_init, make_divisible, normal_init
from ..utils.channel_shuffle import channel_shuffle
from ..utils.inverted_residual import run_block
from ..utils.stages import check_frozen_stages, check_out_indices, freeze
from .base_backbone import BaseBackbone

__all__ = ['ShuffleNetV1', 'ShuffleUnit']


class ShuffleUnit(nn.Module):
    """Grouped 1x1 compress, shuffle, depthwise 3x3, grouped 1x1 expand; combined with the input.

    ``combine='add'`` keeps the shape (residual sum); ``'concat'`` strides the depthwise conv by 2 and
    concatenates a 3x3/2 average pool of the input, so the branch makes ``out_channels - in_channels``.
    ``first_block`` uses an ungrouped compress conv (the stem's 24 channels do not split into groups).
    Keys: ``g_conv_1x1_compress``, ``depthwise_conv3x3_bn``, ``g_conv_1x1_expand``.
    """

    def __init__(self, in_channels: int, out_channels: int, groups: int = 3, first_block: bool = True,
                 combine: str = 'add', conv_cfg: Mapping | None = None,
                 norm_cfg: Mapping = dict(type='BN'), act_cfg: Mapping = dict(type='ReLU'),  # noqa: B006
                 with_cp: bool = False):
        super().__init__()
        if combine not in ('add', 'concat'):
            raise ConfigError(f"ShuffleUnit combine must be 'add' or 'concat', got {combine!r}")
        if combine == 'add' and in_channels != out_channels:
            raise ConfigError(f"ShuffleUnit with combine='add' needs in_channels == out_channels, "
                              f'got {in_channels} and {out_channels}')
        self.in_channels, self.groups, self.first_block = in_channels, groups, first_block
        self.combine, self.with_cp = combine, with_cp
        self.bottleneck_channels = out_channels // 4
        self.out_channels = out_channels - in_channels if combine == 'concat' else out_channels
        if combine == 'concat':
            self.avgpool = nn.AvgPool2d(kernel_size=3, stride=2, padding=1)
        convs = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        mid = self.bottleneck_channels
        self.g_conv_1x1_compress = ConvModule(in_channels, mid, 1, groups=1 if first_block else groups,
                                              act_cfg=act_cfg, **convs)
        self.depthwise_conv3x3_bn = ConvModule(mid, mid, 3, stride=2 if combine == 'concat' else 1, padding=1,
                                               groups=mid, act_cfg=None, **convs)
        self.g_conv_1x1_expand = ConvModule(mid, self.out_channels, 1, groups=groups, act_cfg=None, **convs)
        self.act = build_activation_layer(act_cfg)

    def _inner(self, x: torch.Tensor) -> torch.Tensor:
        out = self.depthwise_conv3x3_bn(self.g_conv_1x1_compress(x))
        if self.groups > 1:
            out = channel_shuffle(out, self.groups)
        out = self.g_conv_1x1_expand(out)
        if self.combine == 'concat':
            return torch.cat((self.avgpool(x), self.act(out)), 1)
        return self.act(x + out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_block(self, self._inner, x)


@BACKBONES.register_module()
class ShuffleNetV1(BaseBackbone):
    """ShuffleNetV1 backbone: ``conv1`` + max-pool, then ``layers.0`` .. ``layers.2`` of 4, 8 and 4 units.

    Args:
        groups: groups of the 1x1 convs: 1, 2, 3, 4 or 8 (each has its own stage widths).
        widen_factor: scales the widths (rounded to multiples of 8).
        out_indices: stages to return, 0..2.
        frozen_stages: freeze ``conv1`` and the first ``frozen_stages`` stages (-1: nothing).
    """

    stage_channels = {1: (144, 288, 576), 2: (200, 400, 800), 3: (240, 480, 960), 4: (272, 544, 1088),
                      8: (384, 768, 1536)}

    def __init__(self, groups: int = 3, widen_factor: float = 1.0, out_indices: Sequence[int] = (2,),
                 frozen_stages: int = -1, conv_cfg: Mapping | None = None,
                 norm_cfg: Mapping = dict(type='BN'), act_cfg: Mapping = dict(type='ReLU'),  # noqa: B006
                 norm_eval: bool = False, with_cp: bool = False, init_cfg=None):
        super().__init__(init_cfg)
        if groups not in self.stage_channels:
            raise ConfigError(f'ShuffleNetV1 groups must be one of {sorted(self.stage_channels)}, got {groups!r}')
        self.stage_blocks = [4, 8, 4]
        self.groups = groups
        self.out_indices = check_out_indices('ShuffleNetV1', out_indices, 3)
        self.frozen_stages = check_frozen_stages('ShuffleNetV1', frozen_stages, -1, 2)
        self.conv_cfg, self.norm_cfg, self.act_cfg = conv_cfg, norm_cfg, act_cfg
        self.norm_eval, self.with_cp = norm_eval, with_cp
        channels = [make_divisible(ch * widen_factor, 8) for ch in self.stage_channels[groups]]
        self.in_channels = int(24 * widen_factor)
        self.conv1 = ConvModule(3, self.in_channels, 3, stride=2, padding=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                act_cfg=act_cfg)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layers = nn.ModuleList(self.make_layer(channels[i], n, first_block=i == 0)
                                    for i, n in enumerate(self.stage_blocks))
        self.feat_dim = channels[-1]
        self._freeze_stages()

    def make_layer(self, out_channels: int, num_blocks: int, first_block: bool = False) -> nn.Sequential:
        """One stage: a downsampling 'concat' unit, then 'add' units."""
        units = []
        for i in range(num_blocks):
            units.append(ShuffleUnit(self.in_channels, out_channels, groups=self.groups,
                                     first_block=first_block and i == 0, combine='concat' if i == 0 else 'add',
                                     conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg,
                                     with_cp=self.with_cp))
            self.in_channels = out_channels
        return nn.Sequential(*units)

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
