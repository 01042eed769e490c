"""Swin Transformer (Liu et al. 2021), with mmcls 0.x's arguments and key names."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import build_norm_layer
from ..utils.attention import ShiftWindowMSA
from ..utils.embed import (
    PatchEmbed,
    PatchMerging,
    log_resize,
    resize_pos_embed,
    resize_relative_position_bias_table,
)
from ..utils.ffn import FFN
from ..utils.stages import check_frozen_stages, check_out_indices
from .base_backbone import BaseBackbone

__all__ = ['SwinBlock', 'SwinBlockSequence', 'SwinTransformer']


class SwinBlock(nn.Module):
    """``x + attn(norm1(x))`` in (shifted) windows, then ``x + ffn(norm2(x))``."""

    def __init__(self, embed_dims: int, num_heads: int, window_size: int = 7, shift: bool = False,
                 ffn_ratio: float = 4.0, drop_path: float = 0.0, pad_small_map: bool = False,
                 attn_cfgs: Mapping = dict(), ffn_cfgs: Mapping = dict(), norm_cfg: Mapping = dict(type='LN'),
                 with_cp: bool = False, init_cfg=None):
        super().__init__()
        self.with_cp = with_cp
        self.init_cfg = init_cfg
        drop = dict(type='DropPath', drop_prob=drop_path)
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = ShiftWindowMSA(**{**dict(embed_dims=embed_dims, num_heads=num_heads,
                                             shift_size=window_size // 2 if shift else 0, window_size=window_size,
                                             dropout_layer=drop, pad_small_map=pad_small_map), **attn_cfgs})
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = FFN(**{**dict(embed_dims=embed_dims, feedforward_channels=int(embed_dims * ffn_ratio), num_fcs=2,
                                 ffn_drop=0, dropout_layer=drop, act_cfg=dict(type='GELU')), **ffn_cfgs})

    def _forward(self, x: torch.Tensor, hw_shape) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), hw_shape)
        return self.ffn(self.norm2(x), identity=x)

    def forward(self, x: torch.Tensor, hw_shape) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._forward, x, hw_shape, use_reentrant=False)
        return self._forward(x, hw_shape)


class SwinBlockSequence(nn.Module):
    """One Swin stage: ``depth`` blocks alternating plain and shifted windows, then an optional PatchMerging."""

    def __init__(self, embed_dims: int, depth: int, num_heads: int, window_size: int = 7, downsample: bool = False,
                 downsample_cfg: Mapping = dict(), drop_paths: float | Sequence[float] = 0.0,
                 block_cfgs: Mapping | Sequence[Mapping] = dict(), with_cp: bool = False,
                 pad_small_map: bool = False, init_cfg=None):
        super().__init__()
        self.init_cfg = init_cfg
        drop_paths = list(drop_paths) if isinstance(drop_paths, Sequence) else [drop_paths] * depth
        if isinstance(block_cfgs, Mapping):
            block_cfgs = [copy.deepcopy(block_cfgs) for _ in range(depth)]
        self.embed_dims = embed_dims
        self.blocks = nn.ModuleList([SwinBlock(**{
            **dict(embed_dims=embed_dims, num_heads=num_heads, window_size=window_size, shift=i % 2 == 1,
                   drop_path=drop_paths[i], with_cp=with_cp, pad_small_map=pad_small_map),
            **block_cfgs[i]}) for i in range(depth)])
        if downsample:
            self.downsample = PatchMerging(**{**dict(in_channels=embed_dims, out_channels=2 * embed_dims,
                                                     norm_cfg=dict(type='LN')), **downsample_cfg})
        else:
            self.downsample = None

    def forward(self, x: torch.Tensor, in_shape) -> tuple[torch.Tensor, tuple[int, int]]:
        for block in self.blocks:
            x = block(x, in_shape)
        if self.downsample is not None:
            return self.downsample(x, in_shape)
        return x, in_shape

    @property
    def out_channels(self) -> int:
        return self.downsample.out_channels if self.downsample is not None else self.embed_dims


@BACKBONES.register_module()
class SwinTransformer(BaseBackbone):
    """Swin Transformer backbone (stage i's output is taken after its PatchMerging, as in mmcls 0.x).

    Args:
        arch: ``'tiny' | 'small' | 'base' | 'large'`` or ``dict(embed_dims, depths, num_heads)``.
        img_size: the training size (sets the absolute position embedding's grid, when used).
        window_size: attention window side; checkpoints with another window size have their
            relative position bias tables resized when loaded.
        drop_path_rate: stochastic depth, rising linearly from 0 over all blocks.
        out_indices: stages whose normed (N, C, H, W) outputs are returned.
        use_abs_pos_embed: add a learnt absolute position embedding after the patch embedding.
        frozen_stages: freeze the patch embedding and stages 0..frozen_stages (-1: none).
        norm_eval: keep BatchNorm layers (if any were configured) in eval mode while training.
        pad_small_map: pad maps smaller than a window instead of refusing them.
        stage_cfgs / patch_cfg: extra arguments for each SwinBlockSequence / the PatchEmbed.
    """

    arch_zoo = {
        **dict.fromkeys(['t', 'tiny'], {'embed_dims': 96, 'depths': [2, 2, 6, 2], 'num_heads': [3, 6, 12, 24]}),
        **dict.fromkeys(['s', 'small'], {'embed_dims': 96, 'depths': [2, 2, 18, 2], 'num_heads': [3, 6, 12, 24]}),
        **dict.fromkeys(['b', 'base'], {'embed_dims': 128, 'depths': [2, 2, 18, 2], 'num_heads': [4, 8, 16, 32]}),
        **dict.fromkeys(['l', 'large'], {'embed_dims': 192, 'depths': [2, 2, 18, 2], 'num_heads': [6, 12, 24, 48]}),
    }
    arch_keys = ('embed_dims', 'depths', 'num_heads')
    num_extra_tokens = 0

    def __init__(self, arch: str | Mapping = 'tiny', img_size=224, patch_size=4, in_channels: int = 3,
                 window_size: int = 7, drop_rate: float = 0.0, drop_path_rate: float = 0.1,
                 out_indices: Sequence[int] = (3,), use_abs_pos_embed: bool = False, interpolate_mode: str = 'bicubic',
                 with_cp: bool = False, frozen_stages: int = -1, norm_eval: bool = False, pad_small_map: bool = False,
                 norm_cfg: Mapping | None = dict(type='LN'), stage_cfgs: Mapping | Sequence[Mapping] = dict(),
                 patch_cfg: Mapping = dict(), init_cfg: Mapping | Sequence[Mapping] | None = None):
        super().__init__(init_cfg)
        arch = self._arch(arch)
        self.embed_dims, self.depths, self.num_heads = arch['embed_dims'], arch['depths'], arch['num_heads']
        self.num_layers = len(self.depths)
        self.out_indices = check_out_indices('SwinTransformer', out_indices, self.num_layers)
        self.frozen_stages = check_frozen_stages('SwinTransformer', frozen_stages, -1, self.num_layers - 1)
        self.norm_eval = norm_eval
        self.use_abs_pos_embed, self.interpolate_mode = use_abs_pos_embed, interpolate_mode
        self.window_size = window_size

        self.patch_embed = PatchEmbed(**{**dict(in_channels=in_channels, input_size=img_size,
                                                embed_dims=self.embed_dims, conv_type='Conv2d', kernel_size=patch_size,
                                                stride=patch_size, norm_cfg=dict(type='LN')), **patch_cfg})
        self.patch_resolution = self.patch_embed.init_out_size
        if use_abs_pos_embed:
            num_patches = self.patch_resolution[0] * self.patch_resolution[1]
            self.absolute_pos_embed = nn.Parameter(torch.zeros(1, num_patches, self.embed_dims))
            self._register_load_state_dict_pre_hook(self._prepare_abs_pos_embed)
        self._register_load_state_dict_pre_hook(self._prepare_relative_position_bias_table)
        self.drop_after_pos = nn.Dropout(p=drop_rate)

        total = sum(self.depths)
        dpr = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        self.stages = nn.ModuleList()
        dims = [self.embed_dims]
        for i, (depth, num_heads) in enumerate(zip(self.depths, self.num_heads)):
            stage_cfg = stage_cfgs[i] if isinstance(stage_cfgs, Sequence) else copy.deepcopy(stage_cfgs)
            stage = SwinBlockSequence(**{**dict(embed_dims=dims[-1], depth=depth, num_heads=num_heads,
                                                window_size=window_size, downsample=i < self.num_layers - 1,
                                                drop_paths=dpr[:depth], with_cp=with_cp, pad_small_map=pad_small_map),
                                         **stage_cfg})
            self.stages.append(stage)
            dpr = dpr[depth:]
            dims.append(stage.out_channels)
        for i in self.out_indices:
            norm = build_norm_layer(norm_cfg, dims[i + 1])[1] if norm_cfg is not None else nn.Identity()
            self.add_module(f'norm{i}', norm)
        self._freeze_stages()

    def _arch(self, arch) -> dict:
        if isinstance(arch, str):
            if arch.lower() not in self.arch_zoo:
                raise ConfigError(f'{type(self).__name__} arch={arch!r} is unknown; choose one of '
                                  f'{", ".join(self.arch_zoo)} or give dict({", ".join(self.arch_keys)})')
            return self.arch_zoo[arch.lower()]
        needed = set(self.arch_keys)
        if not isinstance(arch, Mapping) or not needed <= set(arch):
            raise ConfigError(f'{type(self).__name__} arch dict needs the keys {sorted(needed)}, got {arch!r}')
        return dict(arch)

    def init_weights(self, pretrained: str | None = None) -> None:
        """``init_cfg`` (or ``pretrained``), then truncated-normal bias tables and position embedding."""
        super().init_weights(pretrained)
        if pretrained is not None or self.is_pretrained_init():
            return
        for module in self.modules():
            if hasattr(module, 'relative_position_bias_table'):
                module.init_weights()
        if self.use_abs_pos_embed:
            nn.init.trunc_normal_(self.absolute_pos_embed, std=0.02)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x, hw_shape = self.patch_embed(x)
        if self.use_abs_pos_embed:
            x = x + resize_pos_embed(self.absolute_pos_embed, self.patch_resolution, hw_shape,
                                     self.interpolate_mode, self.num_extra_tokens)
        x = self.drop_after_pos(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x, hw_shape = stage(x, hw_shape)
            if i in self.out_indices:
                out = getattr(self, f'norm{i}')(x)
                outs.append(out.view(-1, *hw_shape, stage.out_channels).permute(0, 3, 1, 2).contiguous())
        return tuple(outs)

    def _prepare_abs_pos_embed(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        """Load hook: resize an absolute position embedding made for another image size."""
        name = prefix + 'absolute_pos_embed'
        if name not in state_dict or state_dict[name].shape == self.absolute_pos_embed.shape:
            return
        ckpt = state_dict[name]
        side = int(round(ckpt.shape[1] ** 0.5))
        state_dict[name] = resize_pos_embed(ckpt, (side, side), self.patch_resolution, self.interpolate_mode,
                                            self.num_extra_tokens)
        log_resize(name, (side, side), self.patch_resolution, 'patch grid')

    def _prepare_relative_position_bias_table(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        """Load hook: resize bias tables (and rebuild their indices) from a checkpoint of another window size."""
        own = self.state_dict()
        for key in own:
            if not key.endswith('relative_position_bias_table') or prefix + key not in state_dict:
                continue
            table = state_dict[prefix + key]
            if table.shape == own[key].shape:
                continue
            src = int(round(table.shape[0] ** 0.5) + 1) // 2
            dst = int(round(own[key].shape[0] ** 0.5) + 1) // 2
            state_dict[prefix + key] = resize_relative_position_bias_table((src, src), (dst, dst), table,
                                                                           own[key].shape[1])
            log_resize(prefix + key, (src, src), (dst, dst), 'window')
            index_key = prefix + key.replace('relative_position_bias_table', 'relative_position_index')
            if index_key in state_dict:
                state_dict[index_key] = own[index_key[len(prefix):]]

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        frozen = [self.patch_embed, *self.stages[:self.frozen_stages + 1]]
        frozen += [getattr(self, f'norm{i}') for i in self.out_indices if i <= self.frozen_stages]
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

