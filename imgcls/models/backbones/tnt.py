"""Transformer in Transformer (Han et al. 2021), with mmcls 0.x's arguments and key names."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import build_norm_layer
from ..utils.attention import scaled_dot_product_attention
from ..utils.dropout import build_dropout
from ..utils.embed import to_2tuple
from ..utils.ffn import FFN
from .base_backbone import BaseBackbone

__all__ = ['PixelEmbed', 'TNT', 'TnTLayer', 'TransformerBlock']


class PackedInProjAttention(nn.Module):
    """Multi-head self-attention with the parameter layout of ``torch.nn.MultiheadAttention``
    (``in_proj_weight``, ``in_proj_bias``, ``out_proj``), which mmcv-built checkpoints hold."""

    def __init__(self, embed_dims: int, num_heads: int, attn_drop: float = 0.0, bias: bool = True):
        super().__init__()
        if embed_dims % num_heads:
            raise ConfigError(f'embed_dims={embed_dims} must be divisible by num_heads={num_heads}')
        self.embed_dims, self.num_heads, self.dropout = embed_dims, num_heads, attn_drop
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dims, embed_dims))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dims)) if bias else None
        self.out_proj = nn.Linear(embed_dims, embed_dims)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).reshape(
            B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        out = scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.out_proj(out.transpose(1, 2).reshape(B, N, C))


class _ResidualAttention(nn.Module):
    """``identity + drop_path(proj_drop(attn(x)))`` (mmcv's MultiheadAttention layout: ``attn.*``)."""

    def __init__(self, embed_dims: int, num_heads: int, attn_drop: float, proj_drop: float, drop_path: float,
                 qkv_bias: bool):
        super().__init__()
        self.attn = PackedInProjAttention(embed_dims, num_heads, attn_drop=attn_drop, bias=qkv_bias)
        self.proj_drop = nn.Dropout(proj_drop)
        self.dropout_layer = build_dropout(dict(type='DropPath', drop_prob=drop_path))

    def forward(self, x: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
        return identity + self.dropout_layer(self.proj_drop(self.attn(x)))


class TransformerBlock(nn.Module):
    """Pre-norm transformer block with ``norm_attn`` / ``norm_ffn``, as TNT's inner and outer blocks."""

    def __init__(self, embed_dims: int, num_heads: int, ffn_ratio: int = 4, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, drop_path_rate: float = 0.0, num_fcs: int = 2, qkv_bias: bool = False,
                 act_cfg: Mapping = dict(type='GELU'), norm_cfg: Mapping = dict(type='LN'), batch_first: bool = True,
                 init_cfg=None):
        super().__init__()
        if not batch_first:
            raise ConfigError('TNT TransformerBlock: only batch_first=True (tokens as (N, L, C)) is supported')
        self.init_cfg = init_cfg
        self.norm_attn = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = _ResidualAttention(embed_dims, num_heads, attn_drop_rate, drop_rate, drop_path_rate, qkv_bias)
        self.norm_ffn = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = FFN(embed_dims, embed_dims * ffn_ratio, num_fcs=num_fcs, ffn_drop=drop_rate,
                       dropout_layer=dict(type='DropPath', drop_prob=drop_path_rate), act_cfg=act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attn(self.norm_attn(x), identity=x)
        return self.ffn(self.norm_ffn(x), identity=x)


class TnTLayer(nn.Module):
    """An inner block over each patch's pixel tokens, whose result is projected into the patch tokens, then an
    outer block over the patch tokens (the class token, first, gets no pixel projection)."""

    def __init__(self, num_pixel: int, embed_dims_inner: int, embed_dims_outer: int, num_heads_inner: int,
                 num_heads_outer: int, inner_block_cfg: Mapping = dict(), outer_block_cfg: Mapping = dict(),
                 norm_cfg: Mapping = dict(type='LN'), init_cfg=None):
        super().__init__()
        self.init_cfg = init_cfg
        self.inner_block = TransformerBlock(embed_dims_inner, num_heads_inner, **inner_block_cfg)
        self.norm_proj = build_norm_layer(norm_cfg, embed_dims_inner)[1]
        self.projection = nn.Linear(embed_dims_inner * num_pixel, embed_dims_outer, bias=True)
        self.outer_block = TransformerBlock(embed_dims_outer, num_heads_outer, **outer_block_cfg)

    def forward(self, pixel_embed: torch.Tensor, patch_embed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pixel_embed = self.inner_block(pixel_embed)
        B, N, _ = patch_embed.shape
        pixels = self.projection(self.norm_proj(pixel_embed).reshape(B, N - 1, -1))
        patch_embed = torch.cat((patch_embed[:, :1], patch_embed[:, 1:] + pixels), dim=1)
        return pixel_embed, self.outer_block(patch_embed)


class PixelEmbed(nn.Module):
    """Pixel tokens: a 7x7 conv (``stride``), unfolded into one (ceil(patch / stride))^2 group per patch, plus a
    learnt pixel position embedding."""

    def __init__(self, img_size=224, patch_size=16, in_channels: int = 3, embed_dims_inner: int = 48,
                 stride: int = 4, init_cfg=None):
        super().__init__()
        self.init_cfg = init_cfg
        self.img_size, patch_size = to_2tuple(img_size), to_2tuple(patch_size)
        self.num_patches = (self.img_size[0] // patch_size[0]) * (self.img_size[1] // patch_size[1])
        self.embed_dims_inner = embed_dims_inner
        self.new_patch_size = [math.ceil(p / stride) for p in patch_size]
        self.proj = nn.Conv2d(in_channels, embed_dims_inner, kernel_size=7, padding=3, stride=stride)
        self.unfold = nn.Unfold(kernel_size=self.new_patch_size, stride=self.new_patch_size)

    def forward(self, x: torch.Tensor, pixel_pos: torch.Tensor) -> torch.Tensor:
        B, _, H, W = x.shape
        if (H, W) != self.img_size:
            raise ValueError(f'TNT takes {self.img_size[0]}x{self.img_size[1]} images only (its position embeddings '
                             f'are per patch), got {H}x{W}: resize the input or build it with that img_size')
        x = self.unfold(self.proj(x)).transpose(1, 2)
        x = x.reshape(B * self.num_patches, self.embed_dims_inner, *self.new_patch_size) + pixel_pos
        return x.reshape(B * self.num_patches, self.embed_dims_inner, -1).transpose(1, 2)


_DEFAULT_INIT = (dict(type='TruncNormal', layer='Linear', std=.02),
                 dict(type='Constant', layer='LayerNorm', val=1., bias=0.))


@BACKBONES.register_module()
class TNT(BaseBackbone):
    """TNT backbone; returns ``(class_token (N, C),)`` after the final norm.

    Args:
        arch: ``'small' | 'base'`` or ``dict(embed_dims_outer, embed_dims_inner, num_layers, num_heads_outer,
            num_heads_inner)``.
        img_size / patch_size: the (fixed) input size and the patch size; ``first_stride`` the pixel conv stride.
        ffn_ratio, qkv_bias, drop_rate, attn_drop_rate, drop_path_rate, num_fcs, act_cfg, norm_cfg: of every
            inner and outer block.
    """

    arch_zoo = {
        **dict.fromkeys(['s', 'small'], {'embed_dims_outer': 384, 'embed_dims_inner': 24, 'num_layers': 12,
                                         'num_heads_outer': 6, 'num_heads_inner': 4}),
        **dict.fromkeys(['b', 'base'], {'embed_dims_outer': 640, 'embed_dims_inner': 40, 'num_layers': 12,
                                        'num_heads_outer': 10, 'num_heads_inner': 4}),
    }

    def __init__(self, arch: str | Mapping = 'b', img_size=224, patch_size=16, in_channels: int = 3,
                 ffn_ratio: int = 4, qkv_bias: bool = False, drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, act_cfg: Mapping = dict(type='GELU'),
                 norm_cfg: Mapping = dict(type='LN'), first_stride: int = 4, num_fcs: int = 2,
                 init_cfg=_DEFAULT_INIT):
        super().__init__(init_cfg)
        s = self._arch(arch)
        self.embed_dims_inner, self.embed_dims_outer = s['embed_dims_inner'], s['embed_dims_outer']
        self.embed_dims, self.num_layers = self.embed_dims_outer, s['num_layers']
        # the learnt embeddings first: mmcls's key order
        self.pixel_embed = PixelEmbed(img_size, patch_size, in_channels, self.embed_dims_inner, first_stride)
        self.num_patches = self.pixel_embed.num_patches
        new_patch = self.pixel_embed.new_patch_size
        num_pixel = new_patch[0] * new_patch[1]
        self.norm1_proj = build_norm_layer(norm_cfg, num_pixel * self.embed_dims_inner)[1]
        self.projection = nn.Linear(num_pixel * self.embed_dims_inner, self.embed_dims_outer)
        self.norm2_proj = build_norm_layer(norm_cfg, self.embed_dims_outer)[1]
        self.cls_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims_outer))
        self.patch_pos = nn.Parameter(torch.zeros(1, self.num_patches + 1, self.embed_dims_outer))
        self.pixel_pos = nn.Parameter(torch.zeros(1, self.embed_dims_inner, *new_patch))
        self.drop_after_pos = nn.Dropout(p=drop_rate)
        dpr = [drop_path_rate * i / max(self.num_layers - 1, 1) for i in range(self.num_layers)]
        self.layers = nn.ModuleList()
        for i in range(self.num_layers):
            block_cfg = dict(ffn_ratio=ffn_ratio, drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
                             drop_path_rate=dpr[i], num_fcs=num_fcs, qkv_bias=qkv_bias, act_cfg=act_cfg,
                             norm_cfg=norm_cfg)
            self.layers.append(TnTLayer(num_pixel, self.embed_dims_inner, self.embed_dims_outer, s['num_heads_inner'],
                                        s['num_heads_outer'], block_cfg, block_cfg, norm_cfg))
        self.norm = build_norm_layer(norm_cfg, self.embed_dims_outer)[1]
        for p in (self.cls_token, self.patch_pos, self.pixel_pos):
            nn.init.trunc_normal_(p, std=0.02)

    def _arch(self, arch) -> dict:
        keys = {'embed_dims_outer', 'embed_dims_inner', 'num_layers', 'num_heads_inner', 'num_heads_outer'}
        if isinstance(arch, str):
            if arch.lower() not in self.arch_zoo:
                raise ConfigError(f'TNT arch={arch!r} is unknown; choose one of {", ".join(self.arch_zoo)} or give '
                                  f'dict({", ".join(sorted(keys))})')
            return self.arch_zoo[arch.lower()]
        if not isinstance(arch, Mapping) or set(arch) != keys:
            raise ConfigError(f'TNT arch dict needs exactly the keys {sorted(keys)}, got {arch!r}')
        return dict(arch)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        B = x.shape[0]
        pixel_embed = self.pixel_embed(x, self.pixel_pos)
        patch_embed = self.norm2_proj(self.projection(self.norm1_proj(pixel_embed.reshape(B, self.num_patches, -1))))
        patch_embed = torch.cat((self.cls_token.expand(B, -1, -1), patch_embed), dim=1) + self.patch_pos
        patch_embed = self.drop_after_pos(patch_embed)
        for layer in self.layers:
            pixel_embed, patch_embed = layer(pixel_embed, patch_embed)
        return (self.norm(patch_embed)[:, 0],)
