"""Swin Transformer V2 (Liu et al. 2022), with mmcls 0.x's arguments and key names."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import build_norm_layer
from ..utils.attention import ShiftWindowMSA, WindowMSAV2
from ..utils.embed import PatchEmbed, PatchMerging, log_resize, to_2tuple
from ..utils.ffn import FFN
from ..utils.stages import check_frozen_stages, check_out_indices
from .base_backbone import BaseBackbone
from .swin_transformer import SwinTransformer

__all__ = ['SwinBlockV2', 'SwinBlockV2Sequence', 'SwinTransformerV2']


class SwinBlockV2(nn.Module):
    """Residual post-norm block: ``x + norm1(attn(x))``, then ``x + norm2(ffn(x))`` (and ``norm3`` if
    ``extra_norm``), with cosine window attention (WindowMSAV2)."""

    def __init__(self, embed_dims: int, num_heads: int, window_size: int = 8, shift: bool = False,
                 extra_norm: bool = False, ffn_ratio: float = 4.0, drop_path: float = 0.0,
                 pad_small_map: bool = False, attn_cfgs: Mapping = dict(), ffn_cfgs: Mapping = dict(),
                 norm_cfg: Mapping = dict(type='LN'), with_cp: bool = False, pretrained_window_size=0,
                 init_cfg=None):
        super().__init__()
        self.with_cp, self.extra_norm = with_cp, extra_norm
        self.init_cfg = init_cfg
        drop = dict(type='DropPath', drop_prob=drop_path)
        self.attn = ShiftWindowMSA(**{
            **dict(embed_dims=embed_dims, num_heads=num_heads, shift_size=window_size // 2 if shift else 0,
                   window_size=window_size, dropout_layer=drop, pad_small_map=pad_small_map), **attn_cfgs,
            'window_msa': WindowMSAV2, 'msa_cfg': dict(pretrained_window_size=to_2tuple(pretrained_window_size))})
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = FFN(**{**dict(embed_dims=embed_dims, feedforward_channels=int(embed_dims * ffn_ratio), num_fcs=2,
                                 ffn_drop=0, dropout_layer=drop, act_cfg=dict(type='GELU'), add_identity=False),
                          **ffn_cfgs})
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        if extra_norm:
            self.norm3 = build_norm_layer(norm_cfg, embed_dims)[1]

    def _forward(self, x: torch.Tensor, hw_shape) -> torch.Tensor:
        x = x + self.norm1(self.attn(x, hw_shape))
        x = x + self.norm2(self.ffn(x))
        return self.norm3(x) if self.extra_norm else x

    def forward(self, x: torch.Tensor, hw_shape) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._forward, x, hw_shape, use_reentrant=False)
        return self._forward(x, hw_shape)


class SwinBlockV2Sequence(nn.Module):
    """One Swin V2 stage: an optional PatchMerging first (post-norm by default), then ``depth`` blocks."""

    def __init__(self, embed_dims: int, depth: int, num_heads: int, window_size: int = 8, downsample: bool = False,
                 downsample_cfg: Mapping = dict(), drop_paths: float | Sequence[float] = 0.0,
                 block_cfgs: Mapping | Sequence[Mapping] = dict(), with_cp: bool = False,
                 pad_small_map: bool = False, extra_norm_every_n_blocks: int = 0, pretrained_window_size=0,
                 init_cfg=None):
        super().__init__()
        self.init_cfg = init_cfg
        drop_paths = list(drop_paths) if isinstance(drop_paths, Sequence) else [drop_paths] * depth
        if isinstance(block_cfgs, Mapping):
            block_cfgs = [copy.deepcopy(block_cfgs) for _ in range(depth)]
        self.out_channels = 2 * embed_dims if downsample else embed_dims
        self.downsample = PatchMerging(**{**dict(in_channels=embed_dims, out_channels=self.out_channels,
                                                 norm_cfg=dict(type='LN')), **downsample_cfg}) if downsample else None
        n = extra_norm_every_n_blocks
        self.blocks = nn.ModuleList([SwinBlockV2(**{
            **dict(embed_dims=self.out_channels, num_heads=num_heads, window_size=window_size, shift=i % 2 == 1,
                   extra_norm=bool(n) and (i + 1) % n == 0, drop_path=drop_paths[i], with_cp=with_cp,
                   pad_small_map=pad_small_map, pretrained_window_size=pretrained_window_size),
            **block_cfgs[i]}) for i in range(depth)])

    def forward(self, x: torch.Tensor, in_shape) -> tuple[torch.Tensor, tuple[int, int]]:
        if self.downsample is not None:
            x, in_shape = self.downsample(x, in_shape)
        for block in self.blocks:
            x = block(x, in_shape)
        return x, in_shape


def _per_stage(value, num: int, name: str) -> list[int]:
    values = [value] * num if isinstance(value, int) else list(value)
    if len(values) != num or not all(isinstance(v, int) and v >= 0 for v in values):
        raise ConfigError(f'SwinTransformerV2 {name}={value!r} must be an int or {num} ints')
    return values


@BACKBONES.register_module()
class SwinTransformerV2(SwinTransformer):
    """Swin Transformer V2 backbone (stage i > 0 starts with its PatchMerging, as in mmcls).

    Args:
        arch: ``'tiny' | 'small' | 'base' | 'large' | 'huge' | 'giant'`` or
            ``dict(embed_dims, depths, num_heads, extra_norm_every_n_blocks)``.
        window_size: an int or one per stage.
        pretrained_window_sizes: per stage, the window size of the checkpoint being fine-tuned (0 or
            None: this one); the log-spaced position offsets are scaled by it, so the position-bias MLP trained
            there carries over to the larger windows here.
        Other arguments: as SwinTransformer. ``stage_cfgs`` defaults to post-norm patch merging.

    The relative-position buffers of a checkpoint (another window size's, or stale) are replaced
    by this model's when it is loaded.
    """

    arch_zoo = {
        **dict.fromkeys(['t', 'tiny'], {'embed_dims': 96, 'depths': [2, 2, 6, 2], 'num_heads': [3, 6, 12, 24],
                                        'extra_norm_every_n_blocks': 0}),
        **dict.fromkeys(['s', 'small'], {'embed_dims': 96, 'depths': [2, 2, 18, 2], 'num_heads': [3, 6, 12, 24],
                                         'extra_norm_every_n_blocks': 0}),
        **dict.fromkeys(['b', 'base'], {'embed_dims': 128, 'depths': [2, 2, 18, 2], 'num_heads': [4, 8, 16, 32],
                                        'extra_norm_every_n_blocks': 0}),
        **dict.fromkeys(['l', 'large'], {'embed_dims': 192, 'depths': [2, 2, 18, 2], 'num_heads': [6, 12, 24, 48],
                                         'extra_norm_every_n_blocks': 0}),
        **dict.fromkeys(['h', 'huge'], {'embed_dims': 352, 'depths': [2, 2, 18, 2], 'num_heads': [8, 16, 32, 64],
                                        'extra_norm_every_n_blocks': 6}),
        **dict.fromkeys(['g', 'giant'], {'embed_dims': 512, 'depths': [2, 2, 42, 4],
                                         'num_heads': [16, 32, 64, 128], 'extra_norm_every_n_blocks': 6}),
    }
    arch_keys = ('embed_dims', 'depths', 'num_heads', 'extra_norm_every_n_blocks')

    def __init__(self, arch: str | Mapping = 'tiny', img_size=256, patch_size=4, in_channels: int = 3,
                 window_size: int | Sequence[int] = 8, drop_rate: float = 0.0, drop_path_rate: float = 0.1,
                 out_indices: Sequence[int] = (3,), use_abs_pos_embed: bool = False, interpolate_mode: str = 'bicubic',
                 with_cp: bool = False, frozen_stages: int = -1, norm_eval: bool = False, pad_small_map: bool = False,
                 norm_cfg: Mapping | None = dict(type='LN'),
                 stage_cfgs: Mapping | Sequence[Mapping] = dict(downsample_cfg=dict(is_post_norm=True)),
                 patch_cfg: Mapping = dict(), pretrained_window_sizes: Sequence[int] | None = None,
                 init_cfg: Mapping | Sequence[Mapping] | None = None):
        BaseBackbone.__init__(self, init_cfg)
        arch = self._arch(arch)
        self.embed_dims, self.depths, self.num_heads = arch['embed_dims'], arch['depths'], arch['num_heads']
        self.num_layers = len(self.depths)
        self.out_indices = check_out_indices('SwinTransformerV2', out_indices, self.num_layers)
        self.frozen_stages = check_frozen_stages('SwinTransformerV2', frozen_stages, -1, self.num_layers - 1)
        self.norm_eval = norm_eval
        self.use_abs_pos_embed, self.interpolate_mode = use_abs_pos_embed, interpolate_mode
        self.window_sizes = _per_stage(window_size, self.num_layers, 'window_size')
        pretrained = _per_stage(pretrained_window_sizes or 0, self.num_layers, 'pretrained_window_sizes')

        self.patch_embed = PatchEmbed(**{**dict(in_channels=in_channels, input_size=img_size,
                                                embed_dims=self.embed_dims, conv_type='Conv2d', kernel_size=patch_size,
                                                stride=patch_size, norm_cfg=dict(type='LN')), **patch_cfg})
        self.patch_resolution = self.patch_embed.init_out_size
        if use_abs_pos_embed:
            num_patches = self.patch_resolution[0] * self.patch_resolution[1]
            self.absolute_pos_embed = nn.Parameter(torch.zeros(1, num_patches, self.embed_dims))
            self._register_load_state_dict_pre_hook(self._prepare_abs_pos_embed)
        self._register_load_state_dict_pre_hook(self._renew_relative_position_buffers)
        self.drop_after_pos = nn.Dropout(p=drop_rate)

        total = sum(self.depths)
        dpr = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        self.stages = nn.ModuleList()
        dims = [self.embed_dims]
        for i, (depth, num_heads) in enumerate(zip(self.depths, self.num_heads)):
            stage_cfg = stage_cfgs[i] if isinstance(stage_cfgs, Sequence) else copy.deepcopy(stage_cfgs)
            stage = SwinBlockV2Sequence(**{**dict(
                embed_dims=dims[-1], depth=depth, num_heads=num_heads, window_size=self.window_sizes[i],
                downsample=i > 0, drop_paths=dpr[:depth], with_cp=with_cp, pad_small_map=pad_small_map,
                extra_norm_every_n_blocks=arch['extra_norm_every_n_blocks'], pretrained_window_size=pretrained[i]),
                **stage_cfg})
            self.stages.append(stage)
            dpr = dpr[depth:]
            dims.append(stage.out_channels)
        for i in self.out_indices:
            norm = build_norm_layer(norm_cfg, dims[i + 1])[1] if norm_cfg is not None else nn.Identity()
            self.add_module(f'norm{i}', norm)
        self._freeze_stages()

    def init_weights(self, pretrained: str | None = None) -> None:
        """``init_cfg`` (or ``pretrained``), then a truncated-normal absolute position embedding."""
        BaseBackbone.init_weights(self, pretrained)
        if pretrained is None and not self.is_pretrained_init() and self.use_abs_pos_embed:
            nn.init.trunc_normal_(self.absolute_pos_embed, std=0.02)

    def _renew_relative_position_buffers(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        """Load hook: the offsets and indices follow from the window sizes, so this model's own are kept."""
        for key, own in self.state_dict(keep_vars=True).items():
            if not key.endswith(('relative_coords_table', 'relative_position_index')):
                continue
            ckpt = state_dict.get(prefix + key)
            if ckpt is not None and ckpt.shape != own.shape and key.endswith('index'):
                old, new = (int(round(t.shape[0] ** 0.5)) for t in (ckpt, own))
                log_resize(key.rsplit('.', 1)[0], (old, old), (new, new), 'window')
            state_dict[prefix + key] = own.detach().clone()
