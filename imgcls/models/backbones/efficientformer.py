"""EfficientFormer (Li et al. 2022): PoolFormer-style 4-D stages, then attention blocks on the last stage's tokens.

State-dict keys follow mmcls 0.x: ``patch_embed.<0|1>`` (conv-BN-ReLU stem), ``network.<i>.<j>`` (a stage's
downsampling ConvModule first, a parameter-free ``Flat`` before the attention blocks) and ``norm<i>``.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn

from ...errors import ConfigError, DataError
from ..builder import BACKBONES
from ..layers import ConvModule, DropPath, build_activation_layer, build_norm_layer
from ..utils.conv_mlp import ConvMlp, drop_path_rates
from ..utils.layer_scale import LayerScale
from ..utils.stages import check_frozen_stages, check_out_indices, freeze
from .base_backbone import BaseBackbone
from .poolformer import Pooling

__all__ = ['EfficientFormer']


def _conv_bn(in_channels: int, out_channels: int, act: bool) -> ConvModule:
    """A stride-2 3x3 conv (with a bias, which mmcls's checkpoints hold) → BN [→ ReLU]."""
    with warnings.catch_warnings():
        # the bias before BN has no effect, but the checkpoints have one: say nothing about it
        warnings.filterwarnings('ignore', message='ConvModule: a conv bias')
        return ConvModule(in_channels, out_channels, 3, stride=2, padding=1, bias=True, norm_cfg=dict(type='BN'),
                          act_cfg=dict(type='ReLU') if act else None)


class AttentionWithBias(nn.Module):
    """Multi-head self-attention over a ``resolution`` x ``resolution`` token grid, with a learnt bias per head
    for each (|dy|, |dx|) offset between two tokens (``attention_biases``, gathered by ``attention_bias_idxs``)."""

    def __init__(self, embed_dims: int, num_heads: int = 8, key_dim: int = 32, attn_ratio: float = 4.,
                 resolution: int = 7):
        super().__init__()
        self.num_heads, self.key_dim, self.scale = num_heads, key_dim, key_dim ** -0.5
        self.resolution = resolution
        self.d = int(attn_ratio * key_dim)
        self.dh = self.d * num_heads
        self.qkv = nn.Linear(embed_dims, self.dh + 2 * key_dim * num_heads)
        self.proj = nn.Linear(self.dh, embed_dims)
        points = list(itertools.product(range(resolution), range(resolution)))
        offsets: dict[tuple[int, int], int] = {}
        idxs = [offsets.setdefault((abs(a[0] - b[0]), abs(a[1] - b[1])), len(offsets))
                for a in points for b in points]
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, len(offsets)))
        # saved in checkpoints, as mmcls does
        self.register_buffer('attention_bias_idxs', torch.tensor(idxs, dtype=torch.long).view(len(points), -1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, _ = x.shape
        if tokens != self.resolution ** 2:
            raise DataError(f'EfficientFormer attention has position biases for a {self.resolution}x{self.resolution} '
                            f'grid of tokens (224x224 images), got {tokens} tokens: resize the images to '
                            f'{32 * self.resolution}x{32 * self.resolution}')
        qkv = self.qkv(x).reshape(batch, tokens, self.num_heads, -1).permute(0, 2, 1, 3)
        q, k, v = qkv.split([self.key_dim, self.key_dim, self.d], dim=-1)
        attn = (q @ k.transpose(-2, -1)) * self.scale + self.attention_biases[:, self.attention_bias_idxs]
        x = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(batch, tokens, self.dh)
        return self.proj(x)


class Flat(nn.Module):
    """(N, C, H, W) maps → (N, H*W, C) tokens."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).transpose(1, 2)


class LinearMlp(nn.Module):
    """fc1 → act → dropout → fc2 → dropout, on (N, L, C) tokens."""

    def __init__(self, in_features: int, hidden_features: int, act_cfg: Mapping = dict(type='GELU'),  # noqa: B006
                 drop: float = 0.):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = build_activation_layer(act_cfg)
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden_features, in_features)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))


class Meta3D(nn.Module):
    """Transformer block on tokens: LN → attention with biases, LN → MLP, each layer-scaled."""

    def __init__(self, dim: int, mlp_ratio: float = 4., act_cfg: Mapping = dict(type='GELU'),  # noqa: B006
                 drop: float = 0., drop_path: float = 0., use_layer_scale: bool = True):
        super().__init__()
        self.norm1 = build_norm_layer(dict(type='LN'), dim)[1]
        self.token_mixer = AttentionWithBias(dim)
        self.norm2 = build_norm_layer(dict(type='LN'), dim)[1]
        self.mlp = LinearMlp(dim, int(dim * mlp_ratio), act_cfg, drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.ls1 = LayerScale(dim) if use_layer_scale else nn.Identity()
        self.ls2 = LayerScale(dim) if use_layer_scale else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.ls1(self.token_mixer(self.norm1(x))))
        return x + self.drop_path(self.ls2(self.mlp(self.norm2(x))))


class Meta4D(nn.Module):
    """PoolFormer-style block on maps (no norm before the mixers; BN inside the MLP), layer-scaled."""

    def __init__(self, dim: int, pool_size: int = 3, mlp_ratio: float = 4.,
                 act_cfg: Mapping = dict(type='GELU'), drop: float = 0., drop_path: float = 0.,  # noqa: B006
                 use_layer_scale: bool = True):
        super().__init__()
        self.token_mixer = Pooling(pool_size)
        self.mlp = ConvMlp(dim, int(dim * mlp_ratio), act_cfg=act_cfg, drop=drop, norm_cfg=dict(type='BN'))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.ls1 = LayerScale(dim, data_format='channels_first') if use_layer_scale else nn.Identity()
        self.ls2 = LayerScale(dim, data_format='channels_first') if use_layer_scale else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.ls1(self.token_mixer(x)))
        return x + self.drop_path(self.ls2(self.mlp(x)))


@BACKBONES.register_module()
class EfficientFormer(BaseBackbone):
    """EfficientFormer backbone: a 2-conv stem, four stages (strides 4..32); the last ``vit_num`` blocks of the
    last stage are attention blocks on its 7x7 tokens (so the model takes 224x224 images).

    Args:
        arch: ``'l1' | 'l3' | 'l7'``, or a dict with ``layers``, ``embed_dims``, ``downsamples`` and ``vit_num``.
        in_channels: image channels. pool_size: of the pooling mixers. mlp_ratios: MLP widening (all blocks).
        reshape_last_feat: give the last stage as an (N, C, H, W) map (GroupNorm) instead of (N, C, L) tokens
            (LayerNorm) when it ends in attention blocks.
        out_indices: stages whose normed outputs are returned (-1: the last).
        frozen_stages: freeze the stem (0) and the first ``frozen_stages`` stages (-1: nothing).
        act_cfg / drop_rate / drop_path_rate / use_layer_scale: of the blocks.
        norm_eval: keep BatchNorm layers in eval mode while training (not in mmcls 0.25's EfficientFormer).
    """

    arch_settings = {
        'l1': dict(layers=[3, 2, 6, 4], embed_dims=[48, 96, 224, 448], downsamples=[False, True, True, True],
                   vit_num=1),
        'l3': dict(layers=[4, 4, 12, 6], embed_dims=[64, 128, 320, 512], downsamples=[False, True, True, True],
                   vit_num=4),
        'l7': dict(layers=[6, 6, 18, 8], embed_dims=[96, 192, 384, 768], downsamples=[False, True, True, True],
                   vit_num=8),
    }

    def __init__(self, arch: str | Mapping = 'l1', in_channels: int = 3, pool_size: int = 3, mlp_ratios: float = 4,
                 reshape_last_feat: bool = False, out_indices: int | Sequence[int] = -1, frozen_stages: int = -1,
                 act_cfg: Mapping = dict(type='GELU'), drop_rate: float = 0., drop_path_rate: float = 0.,  # noqa: B006
                 use_layer_scale: bool = True, norm_eval: bool = False,
                 init_cfg: Mapping | Sequence[Mapping] | None = None):
        super().__init__(init_cfg)
        self.norm_eval = norm_eval
        self.num_extra_tokens = 0  # no class or distillation token
        arch = self._arch(arch)
        self.layers, self.embed_dims = arch['layers'], arch['embed_dims']
        self.downsamples, self.vit_num = arch['downsamples'], arch['vit_num']
        self.reshape_last_feat = reshape_last_feat
        dims = self.embed_dims
        self.patch_embed = nn.Sequential(_conv_bn(in_channels, dims[0] // 2, act=True),
                                         _conv_bn(dims[0] // 2, dims[0], act=True))
        rates = drop_path_rates(self.layers, drop_path_rate)
        blocks = dict(act_cfg=act_cfg, drop=drop_rate, use_layer_scale=use_layer_scale)
        network = []
        for i, depth in enumerate(self.layers):
            stage = []
            if self.downsamples[i]:
                stage.append(_conv_bn(dims[i - 1] if i else dims[0], dims[i], act=False))
            # the last stage ends in vit_num attention blocks, on tokens
            attention_from = depth - self.vit_num if i == len(self.layers) - 1 else depth
            for j in range(depth):
                if j == attention_from:
                    stage.append(Flat())
                stage.append(Meta3D(dims[i], mlp_ratios, drop_path=rates[i][j], **blocks) if j >= attention_from
                             else Meta4D(dims[i], pool_size, mlp_ratios, drop_path=rates[i][j], **blocks))
            network.append(nn.Sequential(*stage))
        self.network = nn.ModuleList(network)
        self.out_indices = check_out_indices('EfficientFormer', out_indices, len(network))
        last = len(network) - 1
        for i in self.out_indices:
            tokens = i == last and self.vit_num > 0 and not reshape_last_feat
            norm = dict(type='LN') if tokens else dict(type='GN', num_groups=1)
            self.add_module(f'norm{i}', build_norm_layer(norm, dims[i])[1])
        self.frozen_stages = check_frozen_stages('EfficientFormer', frozen_stages, -1, len(network))
        self._freeze_stages()

    def _arch(self, arch) -> dict:
        if isinstance(arch, str):
            if arch not in self.arch_settings:
                raise ConfigError(f'EfficientFormer arch {arch!r} is not one of {", ".join(self.arch_settings)}; '
                                  'or pass a dict with layers, embed_dims, downsamples and vit_num')
            return self.arch_settings[arch]
        needed = {'layers', 'embed_dims', 'downsamples', 'vit_num'}
        if not isinstance(arch, Mapping) or set(arch) != needed:
            raise ConfigError(f'EfficientFormer arch dict needs exactly the keys {sorted(needed)}, got {arch!r}')
        if not len(arch['layers']) == len(arch['embed_dims']) == len(arch['downsamples']):
            raise ConfigError(f'EfficientFormer arch {dict(arch)}: layers, embed_dims and downsamples need one '
                              'entry per stage')
        if not 0 <= arch['vit_num'] <= arch['layers'][-1]:
            raise ConfigError(f"EfficientFormer arch vit_num={arch['vit_num']!r} must be in 0..{arch['layers'][-1]} "
                              '(the attention blocks are the last stage\'s last blocks)')
        return dict(arch)

    def _freeze_stages(self) -> None:
        if self.frozen_stages >= 0:
            freeze([self.patch_embed, *self.network[:self.frozen_stages],
                    *(getattr(self, f'norm{i}') for i in self.out_indices if i < self.frozen_stages)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return the normed outputs of the ``out_indices`` stages; a last stage of tokens comes as (N, C, L),
        or as an (N, C, H, W) map with ``reshape_last_feat``."""
        x = self.patch_embed(x)
        outs = []
        for i, stage in enumerate(self.network):
            height, width = x.shape[2:]
            if self.downsamples[i]:
                height, width = (height + 1) // 2, (width + 1) // 2
            x = stage(x)
            if i not in self.out_indices:
                continue
            norm = getattr(self, f'norm{i}')
            if x.dim() == 3 and self.reshape_last_feat:
                outs.append(norm(x.transpose(1, 2).reshape(x.shape[0], -1, height, width)))
            elif x.dim() == 3:
                outs.append(norm(x).transpose(1, 2).contiguous())
            else:
                outs.append(norm(x))
        return tuple(outs)
