"""VAN, the Visual Attention Network (Guo et al. 2022): large-kernel attention in a four-stage conv network.

State-dict keys follow mmcls 0.x: ``patch_embed<i>.projection`` / ``.norm``, ``blocks<i>.<j>`` and ``norm<i>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import DropPath, build_activation_layer, build_norm_layer
from ..utils.conv_mlp import ConvMlp, channel_scale, drop_path_rates
from ..utils.stages import check_frozen_stages, check_out_indices, freeze
from .base_backbone import BaseBackbone

__all__ = ['VAN']


class LKA(nn.Module):
    """Large-kernel attention: 5x5 depthwise → 7x7 depthwise dilated by 3 → 1x1, used as a multiplicative gate."""

    def __init__(self, channels: int):
        super().__init__()
        self.DW_conv = nn.Conv2d(channels, channels, 5, padding=2, groups=channels)
        self.DW_D_conv = nn.Conv2d(channels, channels, 7, padding=9, dilation=3, groups=channels)
        self.conv1 = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv1(self.DW_D_conv(self.DW_conv(x)))


class SpatialAttention(nn.Module):
    """1x1 conv → act → LKA → 1x1 conv, plus the input."""

    def __init__(self, channels: int, act_cfg: Mapping = dict(type='GELU')):  # noqa: B006
        super().__init__()
        self.proj_1 = nn.Conv2d(channels, channels, 1)
        self.activation = build_activation_layer(act_cfg)
        self.spatial_gating_unit = LKA(channels)
        self.proj_2 = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.proj_2(self.spatial_gating_unit(self.activation(self.proj_1(x))))


class VANBlock(nn.Module):
    """norm → attention and norm → MixFFN (1x1, 3x3 depthwise, 1x1), each layer-scaled on a residual."""

    def __init__(self, embed_dims: int, ffn_ratio: float = 4., drop_rate: float = 0., drop_path_rate: float = 0.,
                 act_cfg: Mapping = dict(type='GELU'), norm_cfg: Mapping = dict(type='BN', eps=1e-5),  # noqa: B006
                 layer_scale_init_value: float = 1e-2):
        super().__init__()
        self.out_channels = embed_dims
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = SpatialAttention(embed_dims, act_cfg=act_cfg)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.mlp = ConvMlp(embed_dims, int(embed_dims * ffn_ratio), act_cfg=act_cfg, drop=drop_rate,
                           with_dwconv=True)
        scales = [nn.Parameter(torch.full((embed_dims,), float(layer_scale_init_value)))
                  if layer_scale_init_value > 0 else None for _ in range(2)]
        self.layer_scale_1, self.layer_scale_2 = scales

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(channel_scale(self.layer_scale_1, self.attn(self.norm1(x))))
        return x + self.drop_path(channel_scale(self.layer_scale_2, self.mlp(self.norm2(x))))


class VANPatchEmbed(nn.Module):
    """Overlapping patch embedding: a strided conv (``projection``) and a BatchNorm on the map (``norm``)."""

    def __init__(self, in_channels: int, embed_dims: int, patch_size: int,
                 norm_cfg: Mapping = dict(type='BN')):  # noqa: B006
        super().__init__()
        self.projection = nn.Conv2d(in_channels, embed_dims, patch_size, stride=patch_size // 2 + 1,
                                    padding=patch_size // 2)
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.projection(x))


def _arch_setting(embed_dims: list[int], depths: list[int]) -> dict:
    # every VAN preset widens its MLPs 8x in the first two stages and 4x in the last two
    return dict(embed_dims=embed_dims, depths=depths, ffn_ratios=[8, 8, 4, 4])


@BACKBONES.register_module()
class VAN(BaseBackbone):
    """VAN backbone: four stages of (patch embedding, VAN blocks, LayerNorm), strides 4, 8, 16, 32.

    Args:
        arch: ``'b0'``..``'b6'`` (also ``'t'/'tiny'``, ``'s'/'small'``, ``'b'/'base'``, ``'l'/'large'``), or a
            dict with ``embed_dims``, ``depths`` and ``ffn_ratios`` (one per stage).
        patch_sizes: the kernel of each stage's patch embedding (stride ``size // 2 + 1``).
        drop_rate: dropout in the MLPs. drop_path_rate: stochastic depth of the last block (linear from 0).
        out_indices: stages whose (normed) maps are returned; negative ones count from the end.
        frozen_stages: freeze stages 0..frozen_stages (-1: none).
        norm_eval: keep BatchNorm layers in eval mode while training.
        norm_cfg: the norm after each stage. block_cfgs: extra VANBlock arguments for every block.
    """

    arch_zoo = {
        **dict.fromkeys(['b0', 't', 'tiny'], _arch_setting([32, 64, 160, 256], [3, 3, 5, 2])),
        **dict.fromkeys(['b1', 's', 'small'], _arch_setting([64, 128, 320, 512], [2, 2, 4, 2])),
        **dict.fromkeys(['b2', 'b', 'base'], _arch_setting([64, 128, 320, 512], [3, 3, 12, 3])),
        **dict.fromkeys(['b3', 'l', 'large'], _arch_setting([64, 128, 320, 512], [3, 5, 27, 3])),
        'b4': _arch_setting([64, 128, 320, 512], [3, 6, 40, 3]),
        'b5': _arch_setting([96, 192, 480, 768], [3, 3, 24, 3]),
        'b6': _arch_setting([96, 192, 384, 768], [6, 6, 90, 6]),
    }

    def __init__(self, arch: str | Mapping = 'tiny', patch_sizes: Sequence[int] = (7, 3, 3, 3), in_channels: int = 3,
                 drop_rate: float = 0., drop_path_rate: float = 0., out_indices: int | Sequence[int] = (3,),
                 frozen_stages: int = -1, norm_eval: bool = False, norm_cfg: Mapping = dict(type='LN'),  # noqa: B006
                 block_cfgs: Mapping = dict(), init_cfg=None):  # noqa: B006
        super().__init__(init_cfg)
        arch = self._arch(arch)
        self.embed_dims, self.depths, self.ffn_ratios = arch['embed_dims'], arch['depths'], arch['ffn_ratios']
        self.num_stages = len(self.depths)
        if len(patch_sizes) != self.num_stages:
            raise ConfigError(f'VAN patch_sizes={tuple(patch_sizes)} needs one size per stage ({self.num_stages})')
        self.out_indices = check_out_indices('VAN', out_indices, self.num_stages)
        self.frozen_stages = check_frozen_stages('VAN', frozen_stages, -1, self.num_stages - 1)
        self.norm_eval = norm_eval
        rates = drop_path_rates(self.depths, drop_path_rate)
        channels = in_channels
        for i, (dims, depth) in enumerate(zip(self.embed_dims, self.depths)):
            self.add_module(f'patch_embed{i + 1}', VANPatchEmbed(channels, dims, patch_sizes[i]))
            self.add_module(f'blocks{i + 1}', nn.ModuleList(
                VANBlock(dims, ffn_ratio=self.ffn_ratios[i], drop_rate=drop_rate, drop_path_rate=rates[i][j],
                         **block_cfgs) for j in range(depth)))
            self.add_module(f'norm{i + 1}', build_norm_layer(norm_cfg, dims)[1])
            channels = dims
        self._freeze_stages()

    def _arch(self, arch) -> dict:
        if isinstance(arch, str):
            if arch.lower() not in self.arch_zoo:
                raise ConfigError(f'VAN arch {arch!r} is not one of {", ".join(self.arch_zoo)}; or pass a dict '
                                  'with embed_dims, depths and ffn_ratios')
            return self.arch_zoo[arch.lower()]
        needed = {'embed_dims', 'depths', 'ffn_ratios'}
        if not isinstance(arch, Mapping) or set(arch) != needed:
            raise ConfigError(f'VAN arch dict needs exactly the keys {sorted(needed)}, got {arch!r}')
        if not len(arch['embed_dims']) == len(arch['depths']) == len(arch['ffn_ratios']):
            raise ConfigError(f'VAN arch {dict(arch)}: embed_dims, depths and ffn_ratios need one entry per stage')
        return dict(arch)

    def _freeze_stages(self) -> None:
        freeze([getattr(self, f'{part}{i + 1}') for i in range(self.frozen_stages + 1)
                for part in ('patch_embed', 'blocks', 'norm')])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return the normed maps (N, C, H, W) of the ``out_indices`` stages."""
        outs = []
        for i in range(self.num_stages):
            x = getattr(self, f'patch_embed{i + 1}')(x)
            for block in getattr(self, f'blocks{i + 1}'):
                x = block(x)
            # the stage norm is a LayerNorm over channels: apply it channels-last
            x = getattr(self, f'norm{i + 1}')(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2).contiguous()
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
