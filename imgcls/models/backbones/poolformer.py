"""PoolFormer (Yu et al. 2022): the MetaFormer whose token mixer is plain average pooling.

State-dict keys follow mmcls 0.x: ``patch_embed.proj``, ``network.<i>`` (stages at even indices, downsampling
embeddings at odd ones) and ``norm<i>`` for each output index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import DropPath, build_norm_layer
from ..utils.conv_mlp import ConvMlp, channel_scale, drop_path_rates
from ..utils.stages import check_frozen_stages, check_out_indices, freeze
from .base_backbone import BaseBackbone

__all__ = ['PoolFormer']


class PatchEmbed(nn.Module):
    """A strided conv ``proj`` from one map to the next (no norm: ``norm`` is an Identity, as in mmcls)."""

    def __init__(self, patch_size: int, stride: int, padding: int, in_channels: int, embed_dims: int):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dims, patch_size, stride=stride, padding=padding)
        self.norm = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x))


class Pooling(nn.Module):
    """The token mixer: the average of each token's neighbourhood, minus the token (the block adds it back)."""

    def __init__(self, pool_size: int = 3):
        super().__init__()
        self.pool = nn.AvgPool2d(pool_size, stride=1, padding=pool_size // 2, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x) - x


class PoolFormerBlock(nn.Module):
    """norm → pooling and norm → MLP, each layer-scaled on a residual."""

    def __init__(self, dim: int, pool_size: int = 3, mlp_ratio: float = 4.,
                 norm_cfg: Mapping = dict(type='GN', num_groups=1), act_cfg: Mapping = dict(type='GELU'),  # noqa: B006
                 drop: float = 0., drop_path: float = 0., layer_scale_init_value: float = 1e-5):
        super().__init__()
        self.norm1 = build_norm_layer(norm_cfg, dim)[1]
        self.token_mixer = Pooling(pool_size)
        self.norm2 = build_norm_layer(norm_cfg, dim)[1]
        self.mlp = ConvMlp(dim, int(dim * mlp_ratio), act_cfg=act_cfg, drop=drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.layer_scale_1 = nn.Parameter(torch.full((dim,), float(layer_scale_init_value)))
        self.layer_scale_2 = nn.Parameter(torch.full((dim,), float(layer_scale_init_value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(channel_scale(self.layer_scale_1, self.token_mixer(self.norm1(x))))
        return x + self.drop_path(channel_scale(self.layer_scale_2, self.mlp(self.norm2(x))))


@BACKBONES.register_module()
class PoolFormer(BaseBackbone):
    """PoolFormer backbone. Its ``network`` alternates stages and downsampling: output indices 0..6 are
    [stage1, down, stage2, down, stage3, down, stage4]; each returned map goes through its own ``norm<i>``.

    Args:
        arch: ``'s12' | 's24' | 's36' | 'm36' | 'm48'``, or a dict with ``layers`` and ``embed_dims`` (and
            optionally ``mlp_ratios``, default 4 each, and ``layer_scale_init_value``, default 1e-5).
        pool_size: the pooling window of the token mixers.
        norm_cfg / act_cfg: of the blocks and output norms (GroupNorm with one group: LayerNorm over C, H, W).
        in_patch_size / in_stride / in_pad: the stem embedding; down_*: the downsampling embeddings.
        drop_rate: MLP dropout. drop_path_rate: stochastic depth of the last block (linear from 0).
        out_indices: indices into ``network`` whose normed maps are returned (-1: the last stage).
        frozen_stages: freeze the stem and ``network[0:frozen_stages]`` with their output norms (0: nothing).
    """

    arch_settings = {
        's12': dict(layers=[2, 2, 6, 2], embed_dims=[64, 128, 320, 512], layer_scale_init_value=1e-5),
        's24': dict(layers=[4, 4, 12, 4], embed_dims=[64, 128, 320, 512], layer_scale_init_value=1e-5),
        's36': dict(layers=[6, 6, 18, 6], embed_dims=[64, 128, 320, 512], layer_scale_init_value=1e-6),
        'm36': dict(layers=[6, 6, 18, 6], embed_dims=[96, 192, 384, 768], layer_scale_init_value=1e-6),
        'm48': dict(layers=[8, 8, 24, 8], embed_dims=[96, 192, 384, 768], layer_scale_init_value=1e-6),
    }

    def __init__(self, arch: str | Mapping = 's12', pool_size: int = 3,
                 norm_cfg: Mapping = dict(type='GN', num_groups=1), act_cfg: Mapping = dict(type='GELU'),  # noqa: B006
                 in_patch_size: int = 7, in_stride: int = 4, in_pad: int = 2, down_patch_size: int = 3,
                 down_stride: int = 2, down_pad: int = 1, drop_rate: float = 0., drop_path_rate: float = 0.,
                 out_indices: int | Sequence[int] = -1, frozen_stages: int = 0,
                 init_cfg: Mapping | Sequence[Mapping] | None = None):
        super().__init__(init_cfg)
        arch = self._arch(arch)
        layers, embed_dims = arch['layers'], arch['embed_dims']
        mlp_ratios = arch.get('mlp_ratios', [4] * len(layers))
        scale = arch.get('layer_scale_init_value', 1e-5)
        self.patch_embed = PatchEmbed(in_patch_size, in_stride, in_pad, 3, embed_dims[0])
        rates = drop_path_rates(layers, drop_path_rate)
        network = []
        for i, depth in enumerate(layers):
            network.append(nn.Sequential(*(
                PoolFormerBlock(embed_dims[i], pool_size, mlp_ratios[i], norm_cfg, act_cfg, drop_rate, rates[i][j],
                                scale) for j in range(depth))))
            if i < len(layers) - 1 and embed_dims[i] != embed_dims[i + 1]:
                network.append(PatchEmbed(down_patch_size, down_stride, down_pad, embed_dims[i], embed_dims[i + 1]))
        self.network = nn.ModuleList(network)
        self.out_indices = check_out_indices('PoolFormer', out_indices, len(network))
        # the channels after network[i]: a stage keeps its width, a downsampling gives the next one's
        widths, width = [], embed_dims[0]
        for module in network:
            width = module.proj.out_channels if isinstance(module, PatchEmbed) else width
            widths.append(width)
        for i in self.out_indices:
            self.add_module(f'norm{i}', build_norm_layer(norm_cfg, widths[i])[1])
        self.frozen_stages = check_frozen_stages('PoolFormer', frozen_stages, 0, len(network))
        self._freeze_stages()

    def _arch(self, arch) -> dict:
        if isinstance(arch, str):
            if arch not in self.arch_settings:
                raise ConfigError(f'PoolFormer arch {arch!r} is not one of {", ".join(self.arch_settings)}; or pass '
                                  'a dict with layers and embed_dims')
            return self.arch_settings[arch]
        if not isinstance(arch, Mapping) or not {'layers', 'embed_dims'} <= set(arch):
            raise ConfigError(f'PoolFormer arch dict needs the keys layers and embed_dims, got {arch!r}')
        if len(arch['layers']) != len(arch['embed_dims']):
            raise ConfigError(f'PoolFormer arch {dict(arch)}: layers and embed_dims need one entry per stage')
        return dict(arch)

    def _freeze_stages(self) -> None:
        # frozen_stages=0 freezes nothing (mmcls 0.25 froze the stem even then, so its default trained no stem)
        if self.frozen_stages > 0:
            freeze([self.patch_embed, *self.network[:self.frozen_stages],
                    *(getattr(self, f'norm{i}') for i in self.out_indices if i < self.frozen_stages)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return the normed maps of the ``out_indices`` entries of ``network``."""
        x = self.patch_embed(x)
        outs = []
        for i, module in enumerate(self.network):
            x = module(x)
            if i in self.out_indices:
                outs.append(getattr(self, f'norm{i}')(x))
        return tuple(outs)
