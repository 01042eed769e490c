"""ConvNeXt (Liu et al. 2022, "A ConvNet for the 2020s"), with mmcls 0.x's arguments and key names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from itertools import chain

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import DropPath, build_activation_layer, build_norm_layer
from ..utils.stages import check_frozen_stages, check_out_indices
from .base_backbone import BaseBackbone

__all__ = ['ConvNeXt', 'ConvNeXtBlock']


class ConvNeXtBlock(nn.Module):
    """7x7 depthwise conv → norm → pointwise MLP (x4, GELU) → layer scale, plus the input.

    Args:
        linear_pw_conv: run the pointwise convs as ``nn.Linear`` on channels-last tensors (faster;
            the released weights use it).
        layer_scale_init_value: initial ``gamma``; 0 disables layer scale.
        with_cp: recompute the block in the backward pass to save memory.
    """

    def __init__(self, in_channels: int, norm_cfg: Mapping = dict(type='LN2d', eps=1e-6),
                 act_cfg: Mapping = dict(type='GELU'), mlp_ratio: float = 4.0, linear_pw_conv: bool = True,
                 drop_path_rate: float = 0.0, layer_scale_init_value: float = 1e-6, with_cp: bool = False):
        super().__init__()
        self.with_cp = with_cp
        self.depthwise_conv = nn.Conv2d(in_channels, in_channels, kernel_size=7, padding=3, groups=in_channels)
        self.linear_pw_conv = linear_pw_conv
        self.norm = build_norm_layer(norm_cfg, in_channels)[1]
        mid_channels = int(mlp_ratio * in_channels)
        pw_conv = nn.Linear if linear_pw_conv else partial(nn.Conv2d, kernel_size=1)
        self.pointwise_conv1 = pw_conv(in_channels, mid_channels)
        self.act = build_activation_layer(act_cfg)
        self.pointwise_conv2 = pw_conv(mid_channels, in_channels)
        self.gamma = (nn.Parameter(torch.full((in_channels,), float(layer_scale_init_value)))
                      if layer_scale_init_value > 0 else None)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.depthwise_conv(x))
        if self.linear_pw_conv:
            x = x.permute(0, 2, 3, 1)  # the Linear layers act on the last dim
        x = self.pointwise_conv2(self.act(self.pointwise_conv1(x)))
        if self.linear_pw_conv:
            x = x.permute(0, 3, 1, 2)
        if self.gamma is not None:
            x = x * self.gamma.view(1, -1, 1, 1)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            residual = cp.checkpoint(self._residual, x, use_reentrant=False)
        else:
            residual = self._residual(x)
        return x + self.drop_path(residual)


@BACKBONES.register_module()
class ConvNeXt(BaseBackbone):
    """ConvNeXt backbone.

    Args:
        arch: ``'tiny' | 'small' | 'base' | 'large' | 'xlarge'``, or
            ``dict(depths=[...], channels=[...])``.
        stem_patch_size: kernel and stride of the patchify stem.
        drop_path_rate: stochastic depth, rising linearly from 0 over the blocks.
        out_indices: stages whose (normed) outputs are returned; -1 is the last.
        frozen_stages: freeze the first ``frozen_stages`` stages (and their downsampling layers).
        gap_before_final_norm: return globally pooled, then normed, (N, C) vectors (the classifier's
            features); otherwise normed (N, C, H, W) maps.
    """

    arch_settings = {
        'tiny': {'depths': [3, 3, 9, 3], 'channels': [96, 192, 384, 768]},
        'small': {'depths': [3, 3, 27, 3], 'channels': [96, 192, 384, 768]},
        'base': {'depths': [3, 3, 27, 3], 'channels': [128, 256, 512, 1024]},
        'large': {'depths': [3, 3, 27, 3], 'channels': [192, 384, 768, 1536]},
        'xlarge': {'depths': [3, 3, 27, 3], 'channels': [256, 512, 1024, 2048]},
    }

    def __init__(self, arch: str | Mapping = 'tiny', in_channels: int = 3, stem_patch_size: int = 4,
                 norm_cfg: Mapping = dict(type='LN2d', eps=1e-6), act_cfg: Mapping = dict(type='GELU'),
                 linear_pw_conv: bool = True, drop_path_rate: float = 0.0, layer_scale_init_value: float = 1e-6,
                 out_indices: int | Sequence[int] = -1, frozen_stages: int = 0, gap_before_final_norm: bool = True,
                 with_cp: bool = False, init_cfg: Mapping | Sequence[Mapping] | None = None):
        super().__init__(init_cfg)
        arch = self._arch(arch)
        self.depths, self.channels = arch['depths'], arch['channels']
        self.num_stages = len(self.depths)
        self.out_indices = check_out_indices('ConvNeXt', out_indices, self.num_stages)
        self.frozen_stages = check_frozen_stages('ConvNeXt', frozen_stages, 0, self.num_stages)
        self.gap_before_final_norm = gap_before_final_norm

        total = sum(self.depths)
        dpr = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        self.downsample_layers = nn.ModuleList([nn.Sequential(
            nn.Conv2d(in_channels, self.channels[0], kernel_size=stem_patch_size, stride=stem_patch_size),
            build_norm_layer(norm_cfg, self.channels[0])[1])])
        self.stages = nn.ModuleList()
        block_idx = 0
        for i, (depth, channels) in enumerate(zip(self.depths, self.channels)):
            if i > 0:
                self.downsample_layers.append(nn.Sequential(
                    build_norm_layer(norm_cfg, self.channels[i - 1])[1],
                    nn.Conv2d(self.channels[i - 1], channels, kernel_size=2, stride=2)))
            self.stages.append(nn.Sequential(*[
                ConvNeXtBlock(channels, norm_cfg=norm_cfg, act_cfg=act_cfg, linear_pw_conv=linear_pw_conv,
                              drop_path_rate=dpr[block_idx + j], layer_scale_init_value=layer_scale_init_value,
                              with_cp=with_cp) for j in range(depth)]))
            block_idx += depth
            if i in self.out_indices:
                self.add_module(f'norm{i}', build_norm_layer(norm_cfg, channels)[1])
        self._freeze_stages()

    def _arch(self, arch) -> dict:
        if isinstance(arch, str):
            if arch not in self.arch_settings:
                raise ConfigError(f'ConvNeXt arch={arch!r} is unknown; choose one of '
                                  f'{", ".join(self.arch_settings)} or give dict(depths=..., channels=...)')
            return self.arch_settings[arch]
        if not isinstance(arch, Mapping) or not {'depths', 'channels'} <= set(arch):
            raise ConfigError(f'ConvNeXt arch must be a name or dict(depths=[...], channels=[...]), got {arch!r}')
        if len(arch['depths']) != len(arch['channels']):
            raise ConfigError(f'ConvNeXt arch {dict(arch)!r}: depths and channels need the same length')
        return dict(arch)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(self.downsample_layers[i](x))
            if i in self.out_indices:
                norm = getattr(self, f'norm{i}')
                if self.gap_before_final_norm:
                    outs.append(norm(x.mean([-2, -1], keepdim=True)).flatten(1))
                else:
                    outs.append(norm(x).contiguous())
        return tuple(outs)

    def _freeze_stages(self) -> None:
        for i in range(self.frozen_stages):
            for module in (self.downsample_layers[i], self.stages[i]):
                module.eval()
            for param in chain(self.downsample_layers[i].parameters(), self.stages[i].parameters()):
                param.requires_grad = False

