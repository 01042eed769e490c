"""Multiscale Vision Transformers v2 (Li et al. 2022), with mmcls 0.x's arguments and key names."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import DropPath, build_activation_layer, build_norm_layer
from ..utils.attention import scaled_dot_product_attention
from ..utils.embed import PatchEmbed, resize_pos_embed, to_2tuple
from .base_backbone import BaseBackbone

__all__ = ['MLP', 'MViT', 'MultiScaleAttention', 'MultiScaleBlock']


def resize_decomposed_rel_pos(rel_pos: torch.Tensor, q_size: int, k_size: int) -> torch.Tensor:
    """(q_size, k_size, C) embeddings of the offsets between q and k positions along one axis, from a
    (2 * max - 1, C) table (linearly resized when its length differs); the coarser side is stretched."""
    length = 2 * max(q_size, k_size) - 1
    if rel_pos.shape[0] != length:
        rel_pos = F.interpolate(rel_pos.transpose(0, 1).unsqueeze(0), size=length, mode='linear')
        rel_pos = rel_pos.squeeze(0).transpose(0, 1)
    q_ratio, k_ratio = max(k_size / q_size, 1.0), max(q_size / k_size, 1.0)
    coords = torch.arange(q_size, device=rel_pos.device)[:, None] * q_ratio
    coords = coords - torch.arange(k_size, device=rel_pos.device)[None, :] * k_ratio + (k_size - 1) * k_ratio
    return rel_pos[coords.long()]


def decomposed_rel_pos_bias(q: torch.Tensor, q_shape, k_shape, rel_pos_h: torch.Tensor,
                            rel_pos_w: torch.Tensor) -> torch.Tensor:
    """(B, heads, Nq, Nk) attention bias ``q . R_h[dy] + q . R_w[dx]`` (height and width offsets apart)."""
    B, heads, _, C = q.shape
    (qh, qw), (kh, kw) = q_shape, k_shape
    r_q = q.reshape(B, heads, qh, qw, C)
    rel_h = torch.einsum('byhwc,hkc->byhwk', r_q, resize_decomposed_rel_pos(rel_pos_h, qh, kh))
    rel_w = torch.einsum('byhwc,wkc->byhwk', r_q, resize_decomposed_rel_pos(rel_pos_w, qw, kw))
    return (rel_h[..., :, None] + rel_w[..., None, :]).reshape(B, heads, qh * qw, kh * kw)


class MLP(nn.Module):
    """``fc2(act(fc1(x)))`` from ``in_channels`` to ``out_channels``."""

    def __init__(self, in_channels: int, hidden_channels: int | None = None, out_channels: int | None = None,
                 act_cfg: Mapping = dict(type='GELU'), init_cfg=None):
        super().__init__()
        self.init_cfg = init_cfg
        self.fc1 = nn.Linear(in_channels, hidden_channels or in_channels)
        self.act = build_activation_layer(act_cfg)
        self.fc2 = nn.Linear(hidden_channels or in_channels, out_channels or in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def attention_pool(x: torch.Tensor, pool: nn.Module, in_size, norm: nn.Module | None = None):
    """Pool (B, [heads,] H*W, C) tokens as a map with ``pool``, then ``norm``; returns ``(tokens, (H', W'))``."""
    squeeze = x.dim() == 3
    if squeeze:
        x = x.unsqueeze(1)
    B, heads, L, C = x.shape
    H, W = in_size
    if L != H * W:
        raise ValueError(f'attention_pool: {L} tokens do not form the {H}x{W} grid it was given')
    x = pool(x.reshape(B * heads, H, W, C).permute(0, 3, 1, 2))
    out_size = tuple(x.shape[-2:])
    x = x.reshape(B, heads, C, -1).transpose(2, 3)
    if norm is not None:
        x = norm(x)
    return (x.squeeze(1) if squeeze else x), out_size


class MultiScaleAttention(nn.Module):
    """Pooling attention: q, k and v are pooled per head by strided depthwise convs (+ LN), with decomposed
    relative position biases and the pooled q added back (``residual_pooling``)."""

    def __init__(self, in_dims: int, out_dims: int, num_heads: int, qkv_bias: bool = True,
                 norm_cfg: Mapping = dict(type='LN'), pool_kernel=(3, 3), stride_q: int = 1, stride_kv: int = 1,
                 rel_pos_spatial: bool = False, residual_pooling: bool = True, input_size=None,
                 rel_pos_zero_init: bool = False, init_cfg=None):
        super().__init__()
        self.init_cfg = init_cfg
        self.num_heads, self.in_dims, self.out_dims = num_heads, in_dims, out_dims
        head_dim = out_dims // num_heads
        self.scale = head_dim ** -0.5
        if rel_pos_spatial:  # parameters first: mmcls's key order
            if input_size is None or input_size[0] != input_size[1]:
                raise ConfigError(f'MViT relative positions need a square input grid, got {input_size!r}')
            rel_dim = 2 * max(input_size[0] // stride_q, input_size[0] // stride_kv) - 1
            self.rel_pos_h = nn.Parameter(torch.zeros(rel_dim, head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(rel_dim, head_dim))
        self.qkv = nn.Linear(in_dims, out_dims * 3, bias=qkv_bias)
        self.proj = nn.Linear(out_dims, out_dims)
        for name, stride in (('q', stride_q), ('k', stride_kv), ('v', stride_kv)):
            self.add_module(f'pool_{name}', nn.Conv2d(head_dim, head_dim, pool_kernel, stride=stride,
                                                      padding=[k // 2 for k in pool_kernel], groups=head_dim,
                                                      bias=False))
            self.add_module(f'norm_{name}', build_norm_layer(norm_cfg, head_dim)[1])
        self.residual_pooling, self.rel_pos_spatial = residual_pooling, rel_pos_spatial
        self.rel_pos_zero_init = rel_pos_zero_init

    def init_weights(self) -> None:
        """Truncated-normal(0.02) relative position tables, unless ``rel_pos_zero_init``."""
        if self.rel_pos_spatial and not self.rel_pos_zero_init:
            nn.init.trunc_normal_(self.rel_pos_h, std=0.02)
            nn.init.trunc_normal_(self.rel_pos_w, std=0.02)

    def forward(self, x: torch.Tensor, in_size) -> tuple[torch.Tensor, tuple[int, int]]:
        B, N, _ = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        q, q_shape = attention_pool(q, self.pool_q, in_size, norm=self.norm_q)
        k, k_shape = attention_pool(k, self.pool_k, in_size, norm=self.norm_k)
        v, _ = attention_pool(v, self.pool_v, in_size, norm=self.norm_v)
        bias = None
        if self.rel_pos_spatial:
            bias = decomposed_rel_pos_bias(q, q_shape, k_shape, self.rel_pos_h, self.rel_pos_w)
        out = scaled_dot_product_attention(q, k, v, bias, scale=self.scale)
        if self.residual_pooling:
            out = out + q
        return self.proj(out.transpose(1, 2).reshape(B, -1, self.out_dims)), q_shape


class MultiScaleBlock(nn.Module):
    """``skip + attn(norm1(x))``, then ``skip + mlp(norm2(x))``; the skip is pooled (max) when q is, and
    projected (``proj``) where the width changes."""

    def __init__(self, in_dims: int, out_dims: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 drop_path: float = 0.0, norm_cfg: Mapping = dict(type='LN'), act_cfg: Mapping = dict(type='GELU'),
                 qkv_pool_kernel=(3, 3), stride_q: int = 1, stride_kv: int = 1, rel_pos_spatial: bool = True,
                 residual_pooling: bool = True, dim_mul_in_attention: bool = True, input_size=None,
                 rel_pos_zero_init: bool = False, init_cfg=None):
        super().__init__()
        self.init_cfg = init_cfg
        self.in_dims, self.out_dims, self.dim_mul_in_attention = in_dims, out_dims, dim_mul_in_attention
        self.norm1 = build_norm_layer(norm_cfg, in_dims)[1]
        attn_dims = out_dims if dim_mul_in_attention else in_dims
        self.attn = MultiScaleAttention(in_dims, attn_dims, num_heads=num_heads, qkv_bias=qkv_bias, norm_cfg=norm_cfg,
                                        pool_kernel=qkv_pool_kernel, stride_q=stride_q, stride_kv=stride_kv,
                                        rel_pos_spatial=rel_pos_spatial, residual_pooling=residual_pooling,
                                        input_size=input_size, rel_pos_zero_init=rel_pos_zero_init)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = build_norm_layer(norm_cfg, attn_dims)[1]
        self.mlp = MLP(attn_dims, int(attn_dims * mlp_ratio), out_dims, act_cfg=act_cfg)
        self.proj = nn.Linear(in_dims, out_dims) if in_dims != out_dims else None
        if stride_q > 1:
            self.pool_skip = nn.MaxPool2d(stride_q + 1, stride_q, (stride_q + 1) // 2, ceil_mode=False)
            self.init_out_size = [s // stride_q for s in to_2tuple(input_size)] if input_size is not None else None
        else:
            self.pool_skip = None
            self.init_out_size = input_size

    def forward(self, x: torch.Tensor, in_size) -> tuple[torch.Tensor, tuple[int, int]]:
        x_norm = self.norm1(x)
        x_attn, out_size = self.attn(x_norm, in_size)
        skip = self.proj(x_norm) if self.dim_mul_in_attention and self.proj is not None else x
        if self.pool_skip is not None:
            skip, _ = attention_pool(skip, self.pool_skip, in_size)
        x = skip + self.drop_path(x_attn)
        x_norm = self.norm2(x)
        skip = self.proj(x_norm) if not self.dim_mul_in_attention and self.proj is not None else x
        return skip + self.drop_path(self.mlp(x_norm)), out_size


@BACKBONES.register_module()
class MViT(BaseBackbone):
    """MViT v2 backbone: a patch embedding, then multiscale blocks that halve the map (and double the width and
    heads) at ``downscale_indices``.

    Args:
        arch: ``'tiny' | 'small' | 'base' | 'large'`` or ``dict(embed_dims, num_layers, num_heads,
            downscale_indices)``.
        out_scales: scales (0 .. len(downscale_indices)) whose normed (N, C, H, W) maps are returned; -1 is the
            last. As in mmcls, a returned scale's norm also feeds the following blocks.
        pool_kernel, dim_mul, head_mul, adaptive_kv_stride, rel_pos_spatial, residual_pooling,
            dim_mul_in_attention, rel_pos_zero_init, mlp_ratio, qkv_bias: the MViT v2 options (as mmcls).
        use_abs_pos_embed: a learnt absolute position embedding (resized for other input sizes).
        patch_cfg: the patch embedding (7x7 convolution, stride 4, padding 3 by default).
    """

    arch_zoo = {
        'tiny': {'embed_dims': 96, 'num_layers': 10, 'num_heads': 1, 'downscale_indices': [1, 3, 8]},
        'small': {'embed_dims': 96, 'num_layers': 16, 'num_heads': 1, 'downscale_indices': [1, 3, 14]},
        'base': {'embed_dims': 96, 'num_layers': 24, 'num_heads': 1, 'downscale_indices': [2, 5, 21]},
        'large': {'embed_dims': 144, 'num_layers': 48, 'num_heads': 2, 'downscale_indices': [2, 8, 44]},
    }
    num_extra_tokens = 0

    def __init__(self, arch: str | Mapping = 'base', img_size=224, in_channels: int = 3, out_scales=-1,
                 drop_path_rate: float = 0.0, use_abs_pos_embed: bool = False, interpolate_mode: str = 'bicubic',
                 pool_kernel=(3, 3), dim_mul: int = 2, head_mul: int = 2, adaptive_kv_stride: int = 4,
                 rel_pos_spatial: bool = True, residual_pooling: bool = True, dim_mul_in_attention: bool = True,
                 rel_pos_zero_init: bool = False, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 norm_cfg: Mapping = dict(type='LN', eps=1e-6),
                 patch_cfg: Mapping = dict(kernel_size=7, stride=4, padding=3), init_cfg=None):
        super().__init__(init_cfg)
        s = self._arch(arch)
        self.embed_dims, self.num_layers, self.num_heads = s['embed_dims'], s['num_layers'], s['num_heads']
        self.downscale_indices = list(s['downscale_indices'])
        self.num_scales = len(self.downscale_indices) + 1
        # the last block of each scale
        self.stage_indices = {index - 1: i for i, index in enumerate(self.downscale_indices)}
        self.stage_indices[self.num_layers - 1] = self.num_scales - 1
        self.use_abs_pos_embed, self.interpolate_mode = use_abs_pos_embed, interpolate_mode
        scales = [out_scales] if isinstance(out_scales, int) else list(out_scales)
        scales = [i + self.num_scales if isinstance(i, int) and -self.num_scales <= i < 0 else i for i in scales]
        if not scales or not all(isinstance(i, int) and 0 <= i < self.num_scales for i in scales):
            raise ConfigError(f'MViT out_scales={out_scales!r}: each must be a scale index in '
                              f'[-{self.num_scales}, {self.num_scales - 1}]')
        self.out_scales = sorted(scales)
        self.patch_embed = PatchEmbed(**{**dict(in_channels=in_channels, input_size=img_size,
                                                embed_dims=self.embed_dims, conv_type='Conv2d'), **patch_cfg})
        self.patch_resolution = self.patch_embed.init_out_size
        if use_abs_pos_embed:
            num_patches = self.patch_resolution[0] * self.patch_resolution[1]
            self.pos_embed = nn.Parameter(torch.zeros(1, num_patches, self.embed_dims))
        dpr = [drop_path_rate * i / max(self.num_layers - 1, 1) for i in range(self.num_layers)]
        self.blocks = nn.ModuleList()
        dims, heads, stride_kv = [self.embed_dims], self.num_heads, adaptive_kv_stride
        input_size = self.patch_resolution
        for i in range(self.num_layers):
            stride_q = 1
            if i in self.downscale_indices:
                heads, stride_q, stride_kv = heads * head_mul, 2, max(stride_kv // 2, 1)
            grows = i in self.downscale_indices if dim_mul_in_attention else i + 1 in self.downscale_indices
            out_dims = dims[-1] * dim_mul if grows else dims[-1]
            block = MultiScaleBlock(dims[-1], out_dims, heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop_path=dpr[i],
                                    norm_cfg=norm_cfg, qkv_pool_kernel=pool_kernel, stride_q=stride_q,
                                    stride_kv=stride_kv, rel_pos_spatial=rel_pos_spatial,
                                    residual_pooling=residual_pooling, dim_mul_in_attention=dim_mul_in_attention,
                                    input_size=input_size, rel_pos_zero_init=rel_pos_zero_init)
            self.blocks.append(block)
            input_size = block.init_out_size
            dims.append(out_dims)
            if self.stage_indices.get(i) in self.out_scales:
                self.add_module(f'norm{self.stage_indices[i]}', build_norm_layer(norm_cfg, out_dims)[1])

    def _arch(self, arch) -> dict:
        keys = {'embed_dims', 'num_layers', 'num_heads', 'downscale_indices'}
        if isinstance(arch, str):
            if arch.lower() not in self.arch_zoo:
                raise ConfigError(f'MViT arch={arch!r} is unknown; choose one of {", ".join(self.arch_zoo)} or give '
                                  f'dict({", ".join(sorted(keys))})')
            return self.arch_zoo[arch.lower()]
        if not isinstance(arch, Mapping) or not keys <= set(arch):
            raise ConfigError(f'MViT arch dict needs the keys {sorted(keys)}, got {arch!r}')
        return dict(arch)

    def init_weights(self, pretrained: str | None = None) -> None:
        """``init_cfg`` (or ``pretrained``), then truncated-normal position tables."""
        super().init_weights(pretrained)
        if pretrained is not None or self.is_pretrained_init():
            return
        for block in self.blocks:
            block.attn.init_weights()
        if self.use_abs_pos_embed:
            nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x, patch_resolution = self.patch_embed(x)
        if self.use_abs_pos_embed:
            x = x + resize_pos_embed(self.pos_embed, self.patch_resolution, patch_resolution,
                                     mode=self.interpolate_mode, num_extra_tokens=0)
        outs = []
        for i, block in enumerate(self.blocks):
            x, patch_resolution = block(x, patch_resolution)
            if self.stage_indices.get(i) in self.out_scales:
                x = getattr(self, f'norm{self.stage_indices[i]}')(x)
                outs.append(x.transpose(1, 2).reshape(x.shape[0], -1, *patch_resolution).contiguous())
        return tuple(outs)
