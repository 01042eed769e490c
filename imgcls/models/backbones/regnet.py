"""RegNetX (Radosavovic et al. 2020): ResNeXt-style stages whose widths follow a quantized linear rule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch.nn as nn

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import build_conv_layer, build_norm_layer
from .base_backbone import BaseBackbone
from .resnet import ResNet, _check_resnet_args
from .resnext import Bottleneck

__all__ = ['RegNet']

_ARCH_KEYS = ('w0', 'wa', 'wm', 'depth', 'group_w', 'bot_mul')


def generate_widths(w0: int, wa: float, wm: float, depth: int, divisor: int = 8) -> list[int]:
    """Per-block widths: ``w0 + wa * i`` snapped to ``w0 * wm**k`` and rounded to a multiple of ``divisor``."""
    if wa < 0 or w0 <= 0 or wm <= 1 or w0 % divisor != 0:
        raise ConfigError(f'RegNet arch needs wa >= 0, w0 > 0 divisible by {divisor} and wm > 1; '
                          f'got w0={w0}, wa={wa}, wm={wm}')
    widths_cont = np.arange(depth) * wa + w0
    steps = np.round(np.log(widths_cont / w0) / np.log(wm))
    widths = np.round(w0 * np.power(wm, steps) / divisor) * divisor
    return widths.astype(int).tolist()


def stages_from_widths(widths: list[int]) -> tuple[list[int], list[int]]:
    """Group equal consecutive block widths into stages: ``(stage_widths, blocks_per_stage)``."""
    stage_widths, stage_blocks = [], []
    for width in widths:
        if stage_widths and stage_widths[-1] == width:
            stage_blocks[-1] += 1
        else:
            stage_widths.append(width)
            stage_blocks.append(1)
    return stage_widths, stage_blocks


def adjust_width_group(widths: list[int], bot_muls: list[float], group_widths: list[int]):
    """Make each stage's bottleneck width a multiple of its group width (group width capped by it)."""
    bottleneck = [int(w * b) for w, b in zip(widths, bot_muls)]
    group_widths = [min(g, wb) for g, wb in zip(group_widths, bottleneck)]
    bottleneck = [int(round(wb / g) * g) for wb, g in zip(bottleneck, group_widths)]
    widths = [int(wb / b) for wb, b in zip(bottleneck, bot_muls)]
    return widths, group_widths


@BACKBONES.register_module()
class RegNet(ResNet):
    """RegNetX backbone as in mmcls: a 3x3/2 stem (``conv1``, ``bn1``), no max-pool, four grouped stages.

    Args:
        arch: one of :attr:`arch_settings` (``'regnetx_400mf'``...) or a dict with the keys
            ``w0, wa, wm, depth, group_w, bot_mul`` of the paper's design space.
        stem_channels: width of the stem. base_channels: unused, kept for mmcls configs.
        Other arguments: as :class:`ResNet` (strides default to 2 in every stage).
    """

    arch_settings = {
        'regnetx_400mf': dict(w0=24, wa=24.48, wm=2.54, group_w=16, depth=22, bot_mul=1.0),
        'regnetx_800mf': dict(w0=56, wa=35.73, wm=2.28, group_w=16, depth=16, bot_mul=1.0),
        'regnetx_1.6gf': dict(w0=80, wa=34.01, wm=2.25, group_w=24, depth=18, bot_mul=1.0),
        'regnetx_3.2gf': dict(w0=88, wa=26.31, wm=2.25, group_w=48, depth=25, bot_mul=1.0),
        'regnetx_4.0gf': dict(w0=96, wa=38.65, wm=2.43, group_w=40, depth=23, bot_mul=1.0),
        'regnetx_6.4gf': dict(w0=184, wa=60.83, wm=2.07, group_w=56, depth=17, bot_mul=1.0),
        'regnetx_8.0gf': dict(w0=80, wa=49.56, wm=2.88, group_w=120, depth=23, bot_mul=1.0),
        'regnetx_12gf': dict(w0=168, wa=73.36, wm=2.37, group_w=112, depth=19, bot_mul=1.0),
    }

    def __init__(self, arch: str | Mapping, in_channels: int = 3, stem_channels: int = 32, base_channels: int = 32,
                 strides: Sequence[int] = (2, 2, 2, 2), dilations: Sequence[int] = (1, 1, 1, 1),
                 out_indices: Sequence[int] = (3,), style: str = 'pytorch', deep_stem: bool = False,
                 avg_down: bool = False, frozen_stages: int = -1, conv_cfg: Mapping | None = None,
                 norm_cfg: Mapping = dict(type='BN', requires_grad=True),  # noqa: B006
                 norm_eval: bool = False, with_cp: bool = False, zero_init_residual: bool = True,
                 init_cfg: Mapping | Sequence[Mapping] | None = None):
        BaseBackbone.__init__(self, init_cfg)  # ResNet.__init__ builds fixed-depth stages: skip it
        arch = self._arch_dict(arch)
        if deep_stem:
            raise ConfigError('RegNet has no deep_stem variant: leave deep_stem=False')
        stage_widths, stage_blocks = stages_from_widths(
            generate_widths(arch['w0'], arch['wa'], arch['wm'], arch['depth']))
        num_stages = len(stage_widths)
        bot_muls = [arch['bot_mul']] * num_stages
        stage_widths, group_widths = adjust_width_group(stage_widths, bot_muls, [arch['group_w']] * num_stages)
        self.arch, self.stage_widths, self.group_widths = arch, stage_widths, group_widths
        self.bottleneck_ratio = bot_muls
        self.depth = sum(stage_blocks)
        try:
            self.out_indices = _check_resnet_args(self.depth, num_stages, strides, dilations, out_indices,
                                                  frozen_stages, style, (self.depth,), 'RegNet')
        except ConfigError as e:
            raise ConfigError(f'RegNet arch {arch} has {num_stages} stages: {e}') from None
        self.stem_channels, self.base_channels, self.num_stages = stem_channels, base_channels, num_stages
        self.strides, self.dilations, self.style = tuple(strides), tuple(dilations), style
        self.deep_stem, self.avg_down, self.frozen_stages = deep_stem, avg_down, frozen_stages
        self.conv_cfg, self.norm_cfg, self.with_cp = conv_cfg, norm_cfg, with_cp
        self.norm_eval, self.zero_init_residual = norm_eval, zero_init_residual
        self.stage_blocks = stage_blocks

        self._make_stem_layer(in_channels, stem_channels)
        self.res_layers = []
        in_ch = stem_channels
        for i, num_blocks in enumerate(stage_blocks):
            width = stage_widths[i]
            mid = int(round(width * bot_muls[i]))
            layer = self.make_res_layer(
                block=Bottleneck, num_blocks=num_blocks, in_channels=in_ch, out_channels=width, expansion=1,
                stride=self.strides[i], dilation=self.dilations[i], style=style, avg_down=avg_down,
                with_cp=with_cp, conv_cfg=conv_cfg, norm_cfg=norm_cfg, base_channels=width,
                groups=mid // group_widths[i], width_per_group=group_widths[i])
            in_ch = width
            self.add_module(f'layer{i + 1}', layer)
            self.res_layers.append(f'layer{i + 1}')
        self._freeze_stages()
        self.feat_dim = stage_widths[-1]

    def _arch_dict(self, arch) -> dict:
        """The arch settings of a named arch, or a checked copy of a user's dict."""
        if isinstance(arch, str):
            if arch not in self.arch_settings:
                raise ConfigError(f'unknown RegNet arch {arch!r}; valid names: {", ".join(self.arch_settings)} '
                                  f'(or a dict with the keys {", ".join(_ARCH_KEYS)})')
            return dict(self.arch_settings[arch])
        if not isinstance(arch, Mapping):
            raise ConfigError(f'RegNet arch must be a name or a dict, got {type(arch).__name__}: {arch!r}')
        missing = [k for k in _ARCH_KEYS if k not in arch]
        if missing:
            raise ConfigError(f'RegNet arch dict {dict(arch)!r} lacks the keys {missing}')
        return dict(arch)

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        """A single 3x3 stride-2 conv, norm and ReLU (and no max-pool)."""
        self.conv1 = build_conv_layer(self.conv_cfg, in_channels, stem_channels, kernel_size=3, stride=2,
                                      padding=1, bias=False)
        self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, stem_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.relu = nn.ReLU(inplace=True)
