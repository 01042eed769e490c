"""EfficientNet (Tan & Le 2019) b0-b8 and EfficientNet-EdgeTPU (es/em/el), with mmcls's layer names."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import ConvModule, make_divisible
from ..layers.conv2d_adaptive_padding import Conv2dAdaptivePadding  # noqa: F401 - registers the conv_cfg type
from ..utils.efficientnet_block import EdgeResidual
from ..utils.inverted_residual import InvertedResidual
from ..utils.stages import check_frozen_stages, check_out_indices, freeze
from .base_backbone import BaseBackbone

__all__ = ['EfficientNet', 'model_scaling']


def _split_runs(stage: list) -> list[list]:
    """Split a stage into runs of consecutive blocks with the same output width."""
    runs = [[stage[0]]]
    for block in stage[1:]:
        if block[1] == runs[-1][-1][1]:
            runs[-1].append(block)
        else:
            runs.append([block])
    return runs


def model_scaling(layer_setting: list, arch_setting: tuple) -> list:
    """Scale widths by ``arch_setting[0]`` and depths by ``arch_setting[1]``, as mmcls does.

    Every run of equal-width blocks is scaled to ``ceil(depth * n)`` blocks (repeating its last block),
    the unit the paper scales; a run that starts with stride 1 then joins the previous stage.
    """
    width, depth = arch_setting[0], arch_setting[1]
    setting = copy.deepcopy(layer_setting)
    for stage in setting:
        for block in stage:
            block[1] = make_divisible(block[1] * width, 8)
    merged = [setting[0]]
    runs = [run for stage in setting[1:-1] for run in _split_runs(stage)]
    for i, run in enumerate(runs):
        n = int(math.ceil(depth * len(run)))
        run = run[:n] + [copy.deepcopy(run[-1]) for _ in range(n - len(run))]
        if run[0][3] == 1 and i != 0:
            merged[-1] += run
        else:
            merged.append(run)
    merged.append(setting[-1])
    return merged


@BACKBONES.register_module()
class EfficientNet(BaseBackbone):
    """EfficientNet backbone: ``layers.0`` (stem), ``layers.1`` .. ``layers.5`` (block stages), ``layers.6`` (1x1).

    Args:
        arch: 'b0' .. 'b8', or 'es' / 'em' / 'el' (EdgeTPU).
        drop_path_rate: stochastic depth, rising linearly from 0 to this rate over the blocks.
        out_indices: outputs to return, 0..6.
        frozen_stages: freeze ``layers.0`` .. ``layers.<frozen_stages - 1>`` (0: nothing).
        conv_cfg: ``dict(type='Conv2dAdaptivePadding')`` pads like TensorFlow (for weights converted from
            TF, as mmcls's are); None uses plain symmetric padding (torchvision / timm ``efficientnet_b*``).
        norm_eval: keep BatchNorm layers in eval mode while training.
        with_cp: gradient checkpointing in the blocks.
    """

    # per block: kernel size, out channels, SE ratio, stride, expand ratio,
    # block type (-1: plain conv, 0: InvertedResidual, 1: EdgeResidual)
    layer_settings = {
        'b': [[[3, 32, 0, 2, 0, -1]],
              [[3, 16, 4, 1, 1, 0]],
              [[3, 24, 4, 2, 6, 0], [3, 24, 4, 1, 6, 0]],
              [[5, 40, 4, 2, 6, 0], [5, 40, 4, 1, 6, 0]],
              [[3, 80, 4, 2, 6, 0], [3, 80, 4, 1, 6, 0], [3, 80, 4, 1, 6, 0],
               [5, 112, 4, 1, 6, 0], [5, 112, 4, 1, 6, 0], [5, 112, 4, 1, 6, 0]],
              [[5, 192, 4, 2, 6, 0], [5, 192, 4, 1, 6, 0], [5, 192, 4, 1, 6, 0], [5, 192, 4, 1, 6, 0],
               [3, 320, 4, 1, 6, 0]],
              [[1, 1280, 0, 1, 0, -1]]],
        'e': [[[3, 32, 0, 2, 0, -1]],
              [[3, 24, 0, 1, 3, 1]],
              [[3, 32, 0, 2, 8, 1], [3, 32, 0, 1, 8, 1]],
              [[3, 48, 0, 2, 8, 1], [3, 48, 0, 1, 8, 1], [3, 48, 0, 1, 8, 1], [3, 48, 0, 1, 8, 1]],
              [[5, 96, 0, 2, 8, 0], [5, 96, 0, 1, 8, 0], [5, 96, 0, 1, 8, 0], [5, 96, 0, 1, 8, 0],
               [5, 96, 0, 1, 8, 0], [5, 144, 0, 1, 8, 0], [5, 144, 0, 1, 8, 0], [5, 144, 0, 1, 8, 0],
               [5, 144, 0, 1, 8, 0]],
              [[5, 192, 0, 2, 8, 0], [5, 192, 0, 1, 8, 0]],
              [[1, 1280, 0, 1, 0, -1]]],
    }

    # width multiplier, depth multiplier, resolution
    arch_settings = {
        'b0': (1.0, 1.0, 224), 'b1': (1.0, 1.1, 240), 'b2': (1.1, 1.2, 260), 'b3': (1.2, 1.4, 300),
        'b4': (1.4, 1.8, 380), 'b5': (1.6, 2.2, 456), 'b6': (1.8, 2.6, 528), 'b7': (2.0, 3.1, 600),
        'b8': (2.2, 3.6, 672), 'es': (1.0, 1.0, 224), 'em': (1.0, 1.1, 240), 'el': (1.2, 1.4, 300),
    }

    def __init__(self, arch: str = 'b0', drop_path_rate: float = 0., out_indices: Sequence[int] = (6,),
                 frozen_stages: int = 0,
                 conv_cfg: Mapping | None = dict(type='Conv2dAdaptivePadding'),  # noqa: B006
                 norm_cfg: Mapping = dict(type='BN', eps=1e-3),  # noqa: B006
                 act_cfg: Mapping = dict(type='Swish'), norm_eval: bool = False,  # noqa: B006
                 with_cp: bool = False,
                 init_cfg=[dict(type='Kaiming', layer='Conv2d'),  # noqa: B006
                           dict(type='Constant', layer=['_BatchNorm', 'GroupNorm'], val=1)]):
        super().__init__(init_cfg)
        if arch not in self.arch_settings:
            raise ConfigError(f'EfficientNet arch {arch!r} is not one of {", ".join(self.arch_settings)}')
        if not 0 <= drop_path_rate < 1:
            raise ConfigError(f'EfficientNet drop_path_rate must be in [0, 1), got {drop_path_rate!r}')
        self.arch_setting = self.arch_settings[arch]
        base_setting = self.layer_settings[arch[:1]]
        self.out_indices = check_out_indices('EfficientNet', out_indices, len(base_setting))
        self.frozen_stages = check_frozen_stages('EfficientNet', frozen_stages, 0, len(base_setting))
        self.drop_path_rate, self.conv_cfg, self.norm_cfg, self.act_cfg = drop_path_rate, conv_cfg, norm_cfg, act_cfg
        self.norm_eval, self.with_cp = norm_eval, with_cp
        self.layer_setting = model_scaling(base_setting, self.arch_setting)

        stem, last = self.layer_setting[0][0], self.layer_setting[-1][0]
        self.in_channels = make_divisible(stem[1], 8)
        self.out_channels = self.feat_dim = last[1]
        self.layers = nn.ModuleList([self._conv(3, self.in_channels, stem)])
        self.make_layer()
        self.layers.append(self._conv(self.in_channels, self.out_channels, last))
        self._freeze_stages()

    def _conv(self, in_channels: int, out_channels: int, block_cfg: list) -> ConvModule:
        """The stem or the last conv; padding k//2 so plain Conv2d (conv_cfg=None) pads like torchvision."""
        kernel_size, stride = block_cfg[0], block_cfg[3]
        return ConvModule(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2,
                          conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)

    def _block(self, block_cfg: list, first_in_stage: bool, drop_path_rate: float) -> nn.Module:
        """One InvertedResidual or EdgeResidual from its ``layer_settings`` row."""
        kernel_size, out_channels, se_ratio, stride, expand_ratio, block_type = block_cfg
        out_channels = make_divisible(out_channels, 8)
        kwargs = dict(kernel_size=kernel_size, stride=stride, conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg,
                      act_cfg=self.act_cfg, drop_path_rate=drop_path_rate, with_cp=self.with_cp)
        if block_type == 1:
            # EdgeTPU: a non-first block with expand ratio 3 is widened to 4 and has no shortcut (as mmcls)
            with_residual = first_in_stage or expand_ratio != 3
            expand_ratio = expand_ratio if with_residual else 4
            kwargs['with_residual'] = with_residual
        mid_channels = int(self.in_channels * expand_ratio)
        # SE squeezes to in_channels / se_ratio (the block input, not the expanded width)
        kwargs['se_cfg'] = None if se_ratio <= 0 else dict(
            channels=mid_channels, ratio=expand_ratio * se_ratio, divisor=1,
            act_cfg=(self.act_cfg, dict(type='Sigmoid')))
        block_cls = EdgeResidual if block_type == 1 else InvertedResidual
        return block_cls(self.in_channels, out_channels, mid_channels, **kwargs)

    def make_layer(self) -> None:
        """Append the block stages (all but the stem and the last conv) to ``self.layers``."""
        stages = self.layer_setting[1:-1]
        total = sum(len(stage) for stage in stages)
        rates = [self.drop_path_rate * i / (total - 1) if total > 1 else 0. for i in range(total)]
        for stage in stages:
            blocks = []
            for i, block_cfg in enumerate(stage):
                blocks.append(self._block(block_cfg, i == 0, rates.pop(0)))
                self.in_channels = make_divisible(block_cfg[1], 8)
            self.layers.append(nn.Sequential(*blocks))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return the outputs of the ``out_indices`` stages, as a tuple."""
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _freeze_stages(self) -> None:
        freeze(list(self.layers[:self.frozen_stages]))

