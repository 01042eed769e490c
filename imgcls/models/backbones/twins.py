"""Twins (Chu et al. 2021): PCPVT and SVT, with mmcls 0.x's arguments and key names."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import build_norm_layer, constant_init, normal_init, trunc_normal_init
from ..utils.attention import scaled_dot_product_attention
from ..utils.dropout import build_dropout
from ..utils.embed import PatchEmbed
from ..utils.ffn import FFN
from ..utils.position_encoding import ConditionalPositionEncoding
from ..utils.stages import check_out_indices
from .base_backbone import BaseBackbone

__all__ = ['GlobalSubsampledAttention', 'LocallyGroupedSelfAttention', 'PCPVT', 'SVT']


class GlobalSubsampledAttention(nn.Module):
    """Every token attends to keys/values of a map shrunk ``sr_ratio`` times by a strided conv (``sr``) + LN."""

    def __init__(self, embed_dims: int, num_heads: int, norm_cfg: Mapping = dict(type='LN'), qkv_bias: bool = True,
                 sr_ratio: int = 1, attn_drop: float = 0.0, proj_drop: float = 0.0, init_cfg=None):
        super().__init__()
        if embed_dims % num_heads:
            raise ConfigError(f'embed_dims={embed_dims} must be divisible by num_heads={num_heads}')
        self.embed_dims, self.num_heads, self.sr_ratio = embed_dims, num_heads, sr_ratio
        self.init_cfg = init_cfg
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)
        self.q = nn.Linear(embed_dims, embed_dims, bias=qkv_bias)
        self.kv = nn.Linear(embed_dims, embed_dims * 2, bias=qkv_bias)
        if sr_ratio > 1:
            self.sr = nn.Conv2d(embed_dims, embed_dims, kernel_size=sr_ratio, stride=sr_ratio)
            self.norm = build_norm_layer(norm_cfg, embed_dims)[1]

    def forward(self, x: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
        B, N, C = x.shape
        heads, dims = self.num_heads, C // self.num_heads
        q = self.q(x).reshape(B, N, heads, dims).transpose(1, 2)
        if self.sr_ratio > 1:
            x = self.sr(x.transpose(1, 2).reshape(B, C, *hw_shape)).flatten(2).transpose(1, 2)
            x = self.norm(x)
        k, v = self.kv(x).reshape(B, -1, 2, heads, dims).permute(2, 0, 3, 1, 4)
        p = self.attn_drop.p if self.training else 0.0
        out = scaled_dot_product_attention(q, k, v, dropout_p=p)
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(B, N, C)))


class LocallyGroupedSelfAttention(nn.Module):
    """Self-attention inside non-overlapping ``window_size`` squares; maps are padded at the bottom/right and
    the padding is masked out of the keys."""

    def __init__(self, embed_dims: int, num_heads: int = 8, qkv_bias: bool = False, qk_scale: float | None = None,
                 attn_drop_rate: float = 0.0, proj_drop_rate: float = 0.0, window_size: int = 1, init_cfg=None):
        super().__init__()
        if embed_dims % num_heads:
            raise ConfigError(f'embed_dims={embed_dims} must be divisible by num_heads={num_heads}')
        self.embed_dims, self.num_heads, self.window_size = embed_dims, num_heads, window_size
        self.scale = qk_scale or (embed_dims // num_heads) ** -0.5
        self.init_cfg = init_cfg
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop_rate)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop_rate)

    def forward(self, x: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
        B, N, C = x.shape
        H, W = hw_shape
        ws, heads = self.window_size, self.num_heads
        pad_r, pad_b = (ws - W % ws) % ws, (ws - H % ws) % ws
        x = F.pad(x.view(B, H, W, C), (0, 0, 0, pad_r, 0, pad_b))
        nh, nw = x.shape[1] // ws, x.shape[2] // ws
        # (B, nh, ws, nw, ws, C) -> (B, nh*nw windows, ws*ws tokens, C)
        windows = x.view(B, nh, ws, nw, ws, C).transpose(2, 3).reshape(B, nh * nw, ws * ws, C)
        q, k, v = self.qkv(windows).reshape(B, nh * nw, ws * ws, 3, heads, C // heads).permute(3, 0, 1, 4, 2, 5)
        bias = None
        if pad_r or pad_b:
            padded = torch.ones(1, H + pad_b, W + pad_r, device=x.device, dtype=torch.bool)
            padded[:, :H, :W] = False
            padded = padded.view(1, nh, ws, nw, ws).transpose(2, 3).reshape(1, nh * nw, 1, 1, ws * ws)
            bias = torch.zeros(padded.shape, device=x.device, dtype=q.dtype).masked_fill(padded, -1000.0)
        p = self.attn_drop.p if self.training else 0.0
        out = scaled_dot_product_attention(q, k, v, bias, dropout_p=p, scale=self.scale)
        out = out.transpose(2, 3).reshape(B, nh, nw, ws, ws, C).transpose(2, 3).reshape(B, nh * ws, nw * ws, C)
        out = out[:, :H, :W].reshape(B, N, C)
        return self.proj_drop(self.proj(out))


class TwinsEncoderLayer(nn.Module):
    """``x + attn(norm1(x))``, then ``x + ffn(norm2(x))``, with global sub-sampled (GSA) or local (LSA) attention."""

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, drop_path_rate: float = 0.0, num_fcs: int = 2, qkv_bias: bool = True,
                 act_cfg: Mapping = dict(type='GELU'), norm_cfg: Mapping = dict(type='LN'), sr_ratio: int = 1,
                 window_size: int | None = None, init_cfg=None):
        super().__init__()
        self.init_cfg = init_cfg
        self.norm1 = build_norm_layer(norm_cfg, embed_dims, postfix=1)[1]
        if window_size is None:
            self.attn = GlobalSubsampledAttention(embed_dims, num_heads, norm_cfg=norm_cfg, qkv_bias=qkv_bias,
                                                  sr_ratio=sr_ratio, attn_drop=attn_drop_rate, proj_drop=drop_rate)
        else:
            self.attn = LocallyGroupedSelfAttention(embed_dims, num_heads, qkv_bias=qkv_bias,
                                                    attn_drop_rate=attn_drop_rate, proj_drop_rate=drop_rate,
                                                    window_size=window_size)
        self.norm2 = build_norm_layer(norm_cfg, embed_dims, postfix=2)[1]
        self.ffn = FFN(embed_dims, feedforward_channels, num_fcs=num_fcs, ffn_drop=drop_rate, act_cfg=act_cfg,
                       add_identity=False)
        self.drop_path = build_dropout(dict(type='DropPath', drop_prob=drop_path_rate))

    def forward(self, x: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), hw_shape))
        return x + self.drop_path(self.ffn(self.norm2(x)))


def _zoo(dims, depths, heads, mlp_ratios, window_sizes=None) -> dict:
    arch = dict(embed_dims=dims, depths=depths, num_heads=heads, patch_sizes=[4, 2, 2, 2], strides=[4, 2, 2, 2],
                mlp_ratios=mlp_ratios, sr_ratios=[8, 4, 2, 1])
    return arch if window_sizes is None else dict(arch, window_sizes=window_sizes)


@BACKBONES.register_module()
class PCPVT(BaseBackbone):
    """Twins-PCPVT: a pyramid of global sub-sampled attention stages, each after a patch embedding, with a
    conditional position encoding after every stage's first layer.

    Args:
        arch: ``'small' | 'base' | 'large'`` or a dict of per-stage lists (``essential_keys``).
        out_indices: stages whose (N, C, H, W) maps are returned.
        norm_after_stage: a bool, or one per stage: LayerNorm the stage's output.
        qkv_bias, drop_rate, attn_drop_rate, drop_path_rate, norm_cfg: as in the other transformers.

    The position encoding is a convolution, so any input size works (nothing to resize on load).
    """

    arch_zoo = {
        **dict.fromkeys(['s', 'small'], _zoo([64, 128, 320, 512], [3, 4, 6, 3], [1, 2, 5, 8], [8, 8, 4, 4])),
        **dict.fromkeys(['b', 'base'], _zoo([64, 128, 320, 512], [3, 4, 18, 3], [1, 2, 5, 8], [8, 8, 4, 4])),
        **dict.fromkeys(['l', 'large'], _zoo([64, 128, 320, 512], [3, 8, 27, 3], [1, 2, 5, 8], [8, 8, 4, 4])),
    }
    essential_keys = {'embed_dims', 'depths', 'num_heads', 'patch_sizes', 'strides', 'mlp_ratios', 'sr_ratios'}

    def __init__(self, arch: str | Mapping, in_channels: int = 3, out_indices: Sequence[int] = (3,),
                 qkv_bias: bool = False, drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, norm_cfg: Mapping = dict(type='LN'),
                 norm_after_stage: bool | Sequence[bool] = False, init_cfg=None):
        super().__init__(init_cfg)
        self.arch_settings = self._arch(arch)
        for key in ('depths', 'embed_dims', 'patch_sizes', 'strides', 'mlp_ratios', 'num_heads', 'sr_ratios'):
            setattr(self, key, self.arch_settings[key])
        self.num_stage = len(self.depths)
        self.num_extra_tokens = 0
        self.out_indices = check_out_indices(type(self).__name__, out_indices, self.num_stage)
        dims = [in_channels, *self.embed_dims]
        self.patch_embeds = nn.ModuleList([PatchEmbed(
            in_channels=dims[i], embed_dims=dims[i + 1], conv_type='Conv2d', kernel_size=self.patch_sizes[i],
            stride=self.strides[i], padding='corner', norm_cfg=dict(type='LN')) for i in range(self.num_stage)])
        self.position_encoding_drops = nn.ModuleList([nn.Dropout(p=drop_rate) for _ in range(self.num_stage)])
        self.stages = nn.ModuleList()  # registered before position_encodings: mmcls's key order
        self.position_encodings = nn.ModuleList([ConditionalPositionEncoding(d, d) for d in self.embed_dims])
        total = sum(self.depths)
        self.dpr = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        for k, depth in enumerate(self.depths):
            first = sum(self.depths[:k])
            self.stages.append(nn.ModuleList([TwinsEncoderLayer(
                embed_dims=self.embed_dims[k], num_heads=self.num_heads[k],
                feedforward_channels=self.mlp_ratios[k] * self.embed_dims[k], drop_rate=drop_rate,
                attn_drop_rate=attn_drop_rate, drop_path_rate=self.dpr[first + i], qkv_bias=qkv_bias,
                norm_cfg=norm_cfg, sr_ratio=self.sr_ratios[k], window_size=self._window(k, i))
                for i in range(depth)]))
        norms = [norm_after_stage] * self.num_stage if isinstance(norm_after_stage, bool) else list(norm_after_stage)
        if len(norms) != self.num_stage or not all(isinstance(n, bool) for n in norms):
            raise ConfigError(f'{type(self).__name__} norm_after_stage={norm_after_stage!r} must be a bool or '
                              f'{self.num_stage} bools')
        self.norm_after_stage = norms
        for i, has_norm in enumerate(norms):
            norm = build_norm_layer(norm_cfg, self.embed_dims[i])[1] if has_norm and norm_cfg else nn.Identity()
            self.add_module(f'norm_after_stage{i}', norm)

    def _window(self, stage: int, index: int) -> int | None:
        """The local attention window of layer ``index`` of ``stage``; None: global sub-sampled attention."""
        return None

    def _arch(self, arch) -> dict:
        name = type(self).__name__
        if isinstance(arch, str):
            if arch.lower() not in self.arch_zoo:
                raise ConfigError(f'{name} arch={arch!r} is unknown; choose one of {", ".join(self.arch_zoo)} '
                                  f'or give a dict with the keys {sorted(self.essential_keys)}')
            return self.arch_zoo[arch.lower()]
        if not isinstance(arch, Mapping) or set(arch) != self.essential_keys:
            raise ConfigError(f'{name} arch dict needs exactly the keys {sorted(self.essential_keys)}, got {arch!r}')
        lengths = {len(v) if isinstance(v, Sequence) else -1 for v in arch.values()}
        if len(lengths) != 1 or -1 in lengths:
            raise ConfigError(f'{name} arch dict: every value must be a list with one entry per stage, got {arch!r}')
        return dict(arch)

    def init_weights(self, pretrained: str | None = None) -> None:
        """``init_cfg`` (or ``pretrained``); without one, truncated-normal linears, unit norms and He-normal
        (fan-out) convolutions."""
        if self.init_cfg is not None or pretrained is not None:
            return super().init_weights(pretrained)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_init(m, std=0.02, bias=0.0)
            elif isinstance(m, (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._BatchNorm)):
                constant_init(m, val=1.0, bias=0.0)
            elif isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
                normal_init(m, mean=0, std=math.sqrt(2.0 / fan_out), bias=0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = []
        B = x.shape[0]
        for i in range(self.num_stage):
            x, hw_shape = self.patch_embeds[i](x)
            x = self.position_encoding_drops[i](x)
            for j, layer in enumerate(self.stages[i]):
                x = layer(x, hw_shape)
                if j == 0:
                    x = self.position_encodings[i](x, hw_shape)
            x = getattr(self, f'norm_after_stage{i}')(x)
            x = x.reshape(B, *hw_shape, -1).permute(0, 3, 1, 2).contiguous()
            if i in self.out_indices:
                outputs.append(x)
        return tuple(outputs)


@BACKBONES.register_module()
class SVT(PCPVT):
    """Twins-SVT: as PCPVT, but the even layers of each stage attend within local windows
    (``window_sizes`` in the arch) and the odd ones globally to a sub-sampled map."""

    arch_zoo = {
        **dict.fromkeys(['s', 'small'], _zoo([64, 128, 256, 512], [2, 2, 10, 4], [2, 4, 8, 16], [4, 4, 4, 4],
                                             [7, 7, 7, 7])),
        **dict.fromkeys(['b', 'base'], _zoo([96, 192, 384, 768], [2, 2, 18, 2], [3, 6, 12, 24], [4, 4, 4, 4],
                                            [7, 7, 7, 7])),
        **dict.fromkeys(['l', 'large'], _zoo([128, 256, 512, 1024], [2, 2, 18, 2], [4, 8, 16, 32], [4, 4, 4, 4],
                                             [7, 7, 7, 7])),
    }
    essential_keys = PCPVT.essential_keys | {'window_sizes'}

    def _window(self, stage: int, index: int) -> int | None:
        return self.arch_settings['window_sizes'][stage] if index % 2 == 0 else None
