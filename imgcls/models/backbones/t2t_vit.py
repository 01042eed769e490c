"""Tokens-to-Token ViT (Yuan et al. 2021), with mmcls 0.x's arguments and key names."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn

from ...errors import CheckpointError, ConfigError
from ..builder import BACKBONES
from ..layers import build_norm_layer
from ..utils.attention import MultiheadAttention
from ..utils.embed import log_resize, resize_pos_embed
from ..utils.ffn import FFN
from ..utils.stages import check_frozen_stages, check_out_indices, freeze
from .base_backbone import BaseBackbone

__all__ = ['T2TModule', 'T2TTransformerLayer', 'T2T_ViT', 'get_sinusoid_encoding']


class T2TTransformerLayer(nn.Module):
    """Pre-norm transformer layer; with ``input_dims`` (the tokens-to-token steps) the attention changes the
    width, so its residual is its own value path (``v_shortcut``) instead of the input."""

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int, input_dims: int | None = None,
                 drop_rate: float = 0.0, attn_drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                 num_fcs: int = 2, qkv_bias: bool = False, qk_scale: float | None = None,
                 act_cfg: Mapping = dict(type='GELU'), norm_cfg: Mapping = dict(type='LN'), init_cfg=None):
        super().__init__()
        self.init_cfg = init_cfg
        self.v_shortcut = input_dims is not None
        input_dims = input_dims or embed_dims
        drop_path = dict(type='DropPath', drop_prob=drop_path_rate)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, input_dims, postfix=1)
        self.add_module(self.norm1_name, norm1)
        # the scale follows the input width (as the T2T reference code has it), not the head width
        self.attn = MultiheadAttention(embed_dims, num_heads, input_dims=input_dims, attn_drop=attn_drop_rate,
                                       proj_drop=drop_rate, dropout_layer=drop_path, qkv_bias=qkv_bias,
                                       qk_scale=qk_scale or (input_dims // num_heads) ** -0.5,
                                       v_shortcut=self.v_shortcut)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, embed_dims, postfix=2)
        self.add_module(self.norm2_name, norm2)
        self.ffn = FFN(embed_dims, feedforward_channels, num_fcs=num_fcs, ffn_drop=drop_rate,
                       dropout_layer=drop_path, act_cfg=act_cfg)

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attn(self.norm1(x)) if self.v_shortcut else x + self.attn(self.norm1(x))
        return self.ffn(self.norm2(x), identity=x)


def _unfold_size(unfold: nn.Unfold, size: Sequence[int]) -> tuple[int, int]:
    return tuple((s + 2 * unfold.padding[i] - (unfold.kernel_size[i] - 1) - 1) // unfold.stride[i] + 1
                 for i, s in enumerate(size))


class T2TModule(nn.Module):
    """Tokens-to-token: three soft splits (overlapping unfolds: 7x7/4, 3x3/2, 3x3/2) with a one-head
    transformer layer after the first two, then a linear projection to ``embed_dims`` (16x downsampling)."""

    def __init__(self, img_size=224, in_channels: int = 3, embed_dims: int = 384, token_dims: int = 64,
                 use_performer: bool = False, init_cfg=None):
        super().__init__()
        if use_performer:
            raise ConfigError('T2T_ViT t2t_cfg.use_performer=True (the Performer variant) is not available; '
                              'use the transformer variant (use_performer=False)')
        self.embed_dims = embed_dims
        self.init_cfg = init_cfg
        self.soft_split0 = nn.Unfold(kernel_size=(7, 7), stride=(4, 4), padding=(2, 2))
        self.soft_split1 = nn.Unfold(kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))
        self.soft_split2 = nn.Unfold(kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))
        self.attention1 = T2TTransformerLayer(input_dims=in_channels * 7 * 7, embed_dims=token_dims, num_heads=1,
                                              feedforward_channels=token_dims)
        self.attention2 = T2TTransformerLayer(input_dims=token_dims * 3 * 3, embed_dims=token_dims, num_heads=1,
                                              feedforward_channels=token_dims)
        self.project = nn.Linear(token_dims * 3 * 3, embed_dims)
        side = img_size // 16
        self.init_out_size = [side, side]
        self.num_patches = side * side

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        hw_shape = _unfold_size(self.soft_split0, x.shape[2:])
        x = self.soft_split0(x).transpose(1, 2)
        for step in (1, 2):
            x = getattr(self, f'attention{step}')(x).transpose(1, 2)
            x = x.reshape(x.shape[0], x.shape[1], *hw_shape)
            split = getattr(self, f'soft_split{step}')
            hw_shape = _unfold_size(split, hw_shape)
            x = split(x).transpose(1, 2)
        return self.project(x), hw_shape


def get_sinusoid_encoding(n_position: int, embed_dims: int) -> torch.Tensor:
    """(1, n_position, embed_dims) fixed sin/cos position table: channel pair i has frequency 10000^(-2i/d)."""
    channels = torch.arange(embed_dims, dtype=torch.float64)
    freq = torch.pow(10000.0, -(channels - channels % 2) / embed_dims)
    table = torch.arange(n_position, dtype=torch.float64)[:, None] * freq[None]
    table[:, 0::2] = table[:, 0::2].sin()
    table[:, 1::2] = table[:, 1::2].cos()
    return table.float().unsqueeze(0)


@BACKBONES.register_module()
class T2T_ViT(BaseBackbone):  # noqa: N801 - mmcls's registered name
    """T2T-ViT backbone: a tokens-to-token module, then a ViT encoder with a fixed sinusoidal position table.

    Args:
        img_size / embed_dims / num_layers: input size, width and depth (T2T-ViT-t-14: 384, 14).
        out_indices: layers whose ``[patch_tokens (N, C, H, W), cls_token]`` are returned; -1 is the last.
        final_norm / with_cls_token / output_cls_token / interpolate_mode: as in VisionTransformer.
        t2t_cfg / layer_cfgs: extra arguments of T2TModule / each encoder layer (defaults: 6 heads,
            3x feed-forward width, no qkv bias).
        frozen_stages: freeze the tokens-to-token module and the first ``frozen_stages`` layers (-1: none).

    The position table is a buffer in mmcls checkpoints; one made for another input size is resized on load.
    """

    num_extra_tokens = 1  # the class token

    def __init__(self, img_size=224, in_channels: int = 3, embed_dims: int = 384, num_layers: int = 14,
                 out_indices=-1, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                 norm_cfg: Mapping = dict(type='LN'), final_norm: bool = True, with_cls_token: bool = True,
                 output_cls_token: bool = True, interpolate_mode: str = 'bicubic', t2t_cfg: Mapping = dict(),
                 layer_cfgs: Mapping | Sequence[Mapping] = dict(), frozen_stages: int = -1, init_cfg=None):
        super().__init__(init_cfg)
        self.tokens_to_token = T2TModule(img_size=img_size, in_channels=in_channels, embed_dims=embed_dims,
                                         **t2t_cfg)
        self.patch_resolution = self.tokens_to_token.init_out_size
        if output_cls_token and not with_cls_token:
            raise ConfigError('T2T_ViT: output_cls_token=True needs with_cls_token=True')
        self.with_cls_token, self.output_cls_token = with_cls_token, output_cls_token
        self.embed_dims, self.num_layers = embed_dims, num_layers
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dims))
        self.interpolate_mode = interpolate_mode
        self.register_buffer('pos_embed', get_sinusoid_encoding(self.tokens_to_token.num_patches + 1, embed_dims))
        self._register_load_state_dict_pre_hook(self._prepare_pos_embed)
        self.drop_after_pos = nn.Dropout(p=drop_rate)
        self.out_indices = check_out_indices(type(self).__name__, out_indices, num_layers)
        self.frozen_stages = check_frozen_stages(type(self).__name__, frozen_stages, -1, num_layers)
        dpr = [drop_path_rate * i / max(num_layers - 1, 1) for i in range(num_layers)]
        self.encoder = nn.ModuleList()
        for i in range(num_layers):
            layer_cfg = layer_cfgs[i] if isinstance(layer_cfgs, Sequence) else copy.deepcopy(layer_cfgs)
            self.encoder.append(T2TTransformerLayer(**{
                **dict(embed_dims=embed_dims, num_heads=6, feedforward_channels=3 * embed_dims,
                       drop_path_rate=dpr[i], qkv_bias=False, norm_cfg=norm_cfg), **layer_cfg}))
        self.final_norm = final_norm
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1] if final_norm else nn.Identity()
        self._freeze_stages()

    def init_weights(self, pretrained: str | None = None) -> None:
        """``init_cfg`` (or ``pretrained``), then a truncated-normal class token."""
        super().init_weights(pretrained)
        if pretrained is None and not self.is_pretrained_init():
            nn.init.trunc_normal_(self.cls_token, std=0.02)

    def _prepare_pos_embed(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        """Load hook: resize a position table made for another input size to this one's grid."""
        name = prefix + 'pos_embed'
        if name not in state_dict or state_dict[name].shape == self.pos_embed.shape:
            return
        ckpt = state_dict[name]
        side = math.isqrt(max(ckpt.shape[1] - 1, 0)) if ckpt.dim() == 3 else 0
        if ckpt.dim() != 3 or side * side != ckpt.shape[1] - 1 or ckpt.shape[2] != self.embed_dims:
            raise CheckpointError(f'{name} of shape {tuple(ckpt.shape)} is not a square grid plus a class token '
                                  f'of {self.embed_dims} channels; cannot resize it to {tuple(self.pos_embed.shape)}')
        state_dict[name] = resize_pos_embed(ckpt, (side, side), self.patch_resolution, self.interpolate_mode, 1)
        log_resize(name, (side, side), self.patch_resolution, 'patch grid')

    def forward(self, x: torch.Tensor) -> tuple:
        B = x.shape[0]
        x, patch_resolution = self.tokens_to_token(x)
        x = torch.cat((self.cls_token.expand(B, -1, -1), x), dim=1)
        x = x + resize_pos_embed(self.pos_embed, self.patch_resolution, patch_resolution,
                                 mode=self.interpolate_mode, num_extra_tokens=1)
        x = self.drop_after_pos(x)
        if not self.with_cls_token:
            x = x[:, 1:]
        outs = []
        for i, layer in enumerate(self.encoder):
            x = layer(x)
            if i == self.num_layers - 1 and self.final_norm:
                x = self.norm(x)
            if i in self.out_indices:
                patches = (x[:, 1:] if self.with_cls_token else x).reshape(B, *patch_resolution, -1)
                patches = patches.permute(0, 3, 1, 2)
                outs.append([patches, x[:, 0]] if self.output_cls_token else patches)
        return tuple(outs)

    def _freeze_stages(self) -> None:
        if self.frozen_stages <= 0:
            return
        self.cls_token.requires_grad = False
        frozen = [self.tokens_to_token, *self.encoder[:self.frozen_stages]]
        if self.frozen_stages == self.num_layers:
            frozen.append(self.norm)
        freeze(frozen)
