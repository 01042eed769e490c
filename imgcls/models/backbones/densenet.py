"""DenseNet (Huang et al. 2017): every layer of a block reads the concatenation of all earlier outputs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import build_activation_layer, build_norm_layer
from ..utils.stages import check_frozen_stages, check_out_indices, freeze
from .base_backbone import BaseBackbone

__all__ = ['DenseBlock', 'DenseLayer', 'DenseNet', 'DenseTransition']


class DenseLayer(nn.Module):
    """BN-act-1x1 conv to ``bn_size * growth_rate`` channels, BN-act-3x3 conv to ``growth_rate`` channels.

    Takes the list of earlier feature maps; ``memory_efficient`` recomputes their concatenation and the
    1x1 conv in backward instead of storing them (Pleiss et al. 2017).
    """

    def __init__(self, in_channels: int, growth_rate: int, bn_size: int,
                 norm_cfg: Mapping = dict(type='BN'), act_cfg: Mapping = dict(type='ReLU'),  # noqa: B006
                 drop_rate: float = 0.0, memory_efficient: bool = False):
        super().__init__()
        self.norm1 = build_norm_layer(norm_cfg, in_channels)[1]
        self.conv1 = nn.Conv2d(in_channels, bn_size * growth_rate, 1, bias=False)
        self.act = build_activation_layer(act_cfg)
        self.norm2 = build_norm_layer(norm_cfg, bn_size * growth_rate)[1]
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)
        self.drop_rate, self.memory_efficient = float(drop_rate), memory_efficient

    def _bottleneck(self, *features: torch.Tensor) -> torch.Tensor:
        return self.conv1(self.act(self.norm1(torch.cat(features, 1))))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        if self.memory_efficient and self.training and any(f.requires_grad for f in features):
            out = cp.checkpoint(self._bottleneck, *features, use_reentrant=False)
        else:
            out = self._bottleneck(*features)
        out = self.conv2(self.act(self.norm2(out)))
        return F.dropout(out, p=self.drop_rate, training=self.training) if self.drop_rate > 0 else out


class DenseBlock(nn.Module):
    """``num_layers`` dense layers (``block.i``); the output concatenates the input and every layer's output."""

    def __init__(self, num_layers: int, in_channels: int, bn_size: int, growth_rate: int, **kwargs):
        super().__init__()
        self.block = nn.ModuleList(DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size, **kwargs)
                                   for i in range(num_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.block:
            features.append(layer(features))
        return torch.cat(features, 1)


class DenseTransition(nn.Sequential):
    """BN, act, 1x1 conv (compression), 2x2 average pool: ``norm``, ``act``, ``conv``, ``pool``."""

    def __init__(self, in_channels: int, out_channels: int, norm_cfg: Mapping = dict(type='BN'),  # noqa: B006
                 act_cfg: Mapping = dict(type='ReLU')):  # noqa: B006
        super().__init__()
        self.add_module('norm', build_norm_layer(norm_cfg, in_channels)[1])
        self.add_module('act', build_activation_layer(act_cfg))
        self.add_module('conv', nn.Conv2d(in_channels, out_channels, 1, bias=False))
        self.add_module('pool', nn.AvgPool2d(kernel_size=2, stride=2))


@BACKBONES.register_module()
class DenseNet(BaseBackbone):
    """DenseNet backbone with mmcls's keys: ``stem``, ``stages.i.block.j``, ``transitions.i``.

    Args:
        arch: '121', '169', '201', '161', or a dict with ``growth_rate``, ``depths`` and ``init_channels``.
        bn_size: the 1x1 conv of a layer has ``bn_size * growth_rate`` channels.
        drop_rate: dropout on each layer's new features.
        compression_factor: a transition keeps ``floor(channels * compression_factor)`` channels.
        memory_efficient: recompute the concatenations in backward (less memory, slower).
        out_indices: stages to return (negative counts from the end; default the last).
        frozen_stages: freeze the first ``frozen_stages`` stages with their transitions (the stem never).
    """

    arch_settings = {
        '121': dict(growth_rate=32, depths=[6, 12, 24, 16], init_channels=64),
        '169': dict(growth_rate=32, depths=[6, 12, 32, 32], init_channels=64),
        '201': dict(growth_rate=32, depths=[6, 12, 48, 32], init_channels=64),
        '161': dict(growth_rate=48, depths=[6, 12, 36, 24], init_channels=96),
    }

    def __init__(self, arch: str | Mapping = '121', in_channels: int = 3, bn_size: int = 4, drop_rate: float = 0,
                 compression_factor: float = 0.5, memory_efficient: bool = False,
                 norm_cfg: Mapping = dict(type='BN'), act_cfg: Mapping = dict(type='ReLU'),  # noqa: B006
                 out_indices: int | Sequence[int] = -1, frozen_stages: int = 0, init_cfg=None):
        super().__init__(init_cfg)
        arch = self._check_arch(arch)
        self.growth_rate, self.depths, self.init_channels = arch['growth_rate'], arch['depths'], arch['init_channels']
        self.num_stages = len(self.depths)
        self.out_indices = check_out_indices('DenseNet', out_indices, self.num_stages)
        self.frozen_stages = check_frozen_stages('DenseNet', frozen_stages, 0, self.num_stages)
        self.act = build_activation_layer(act_cfg)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, self.init_channels, 7, stride=2, padding=3, bias=False),
            build_norm_layer(norm_cfg, self.init_channels)[1], self.act,
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        self.stages, self.transitions = nn.ModuleList(), nn.ModuleList()
        channels = self.init_channels
        for i, depth in enumerate(self.depths):
            self.stages.append(DenseBlock(depth, channels, bn_size, self.growth_rate, norm_cfg=norm_cfg,
                                          act_cfg=act_cfg, drop_rate=drop_rate, memory_efficient=memory_efficient))
            channels += depth * self.growth_rate
            if i < self.num_stages - 1:
                out = math.floor(channels * compression_factor)
                self.transitions.append(DenseTransition(channels, out, norm_cfg=norm_cfg, act_cfg=act_cfg))
                channels = out
            else:  # the last stage ends with a norm and activation instead
                self.transitions.append(nn.Sequential(build_norm_layer(norm_cfg, channels)[1], self.act))
        self.feat_dim = channels
        self._freeze_stages()

    def _check_arch(self, arch) -> dict:
        if isinstance(arch, str):
            if arch not in self.arch_settings:
                raise ConfigError(f'DenseNet arch {arch!r} is unknown; choose one of {sorted(self.arch_settings)} '
                                  'or give a dict')
            return self.arch_settings[arch]
        if not isinstance(arch, Mapping):
            raise ConfigError(f'DenseNet arch must be a name or a dict, got {type(arch).__name__}')
        missing = {'growth_rate', 'depths', 'init_channels'} - set(arch)
        if missing:
            raise ConfigError(f'DenseNet arch dict lacks {sorted(missing)}')
        return dict(arch)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return the outputs of the ``out_indices`` stages (after their transitions), as a tuple."""
        x = self.stem(x)
        outs = []
        for i, (stage, transition) in enumerate(zip(self.stages, self.transitions)):
            x = transition(stage(x))
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _freeze_stages(self) -> None:
        freeze([m for i in range(self.frozen_stages) for m in (self.stages[i], self.transitions[i])])
