"""Vision Transformer (Dosovitskiy et al. 2021) and DeiT sizes, with mmcls 0.x's arguments and key names."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn

from ...errors import CheckpointError, ConfigError
from ..builder import BACKBONES
from ..layers import build_norm_layer
from ..utils.attention import MultiheadAttention
from ..utils.embed import PatchEmbed, log_resize, resize_pos_embed, to_2tuple
from ..utils.ffn import FFN
from ..utils.stages import check_frozen_stages, check_out_indices
from .base_backbone import BaseBackbone

__all__ = ['TransformerEncoderLayer', 'VisionTransformer']


class TransformerEncoderLayer(nn.Module):
    """Pre-norm transformer block: ``x + attn(ln1(x))``, then ``x + ffn(ln2(x))``."""

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, drop_path_rate: float = 0.0, num_fcs: int = 2, qkv_bias: bool = True,
                 act_cfg: Mapping = dict(type='GELU'), norm_cfg: Mapping = dict(type='LN'), init_cfg=None):
        super().__init__()
        self.embed_dims = embed_dims
        self.init_cfg = init_cfg
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, embed_dims, postfix=1)
        self.add_module(self.norm1_name, norm1)
        drop_path = dict(type='DropPath', drop_prob=drop_path_rate)
        self.attn = MultiheadAttention(embed_dims, num_heads, attn_drop=attn_drop_rate, proj_drop=drop_rate,
                                       dropout_layer=drop_path, qkv_bias=qkv_bias)
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

    def init_weights(self) -> None:
        """Xavier-uniform FFN weights with tiny normal biases, as the ViT reference code does."""
        for m in self.ffn.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.normal_(m.bias, std=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return self.ffn(self.norm2(x), identity=x)


def _arch_zoo() -> dict:
    def spec(dims, layers, heads, ffn):
        return {'embed_dims': dims, 'num_layers': layers, 'num_heads': heads, 'feedforward_channels': ffn}

    zoo = {}
    for names, setting in [
        (('s', 'small'), spec(768, 8, 8, 768 * 3)),  # mmcls's 'small' (not the ViT-S of timm / DeiT)
        (('b', 'base'), spec(768, 12, 12, 3072)),
        (('l', 'large'), spec(1024, 24, 16, 4096)),
        (('h', 'huge'), spec(1280, 32, 16, 5120)),
        (('deit-t', 'deit-tiny'), spec(192, 12, 3, 192 * 4)),
        (('deit-s', 'deit-small'), spec(384, 12, 6, 384 * 4)),  # = timm's vit_small_patch16_224
        (('deit-b', 'deit-base'), spec(768, 12, 12, 768 * 4)),
    ]:
        zoo.update(dict.fromkeys(names, setting))
    return zoo


@BACKBONES.register_module()
class VisionTransformer(BaseBackbone):
    """Vision Transformer backbone.

    Args:
        arch: a name in ``arch_zoo`` (``'base'``, ``'large'``, ``'deit-small'``...) or
            ``dict(embed_dims, num_layers, num_heads, feedforward_channels)``.
        img_size: the training size; the position embedding holds its patch grid and is resized
            (``interpolate_mode``) for other input sizes and for checkpoints of another size.
        out_indices: layers whose outputs are returned; -1 is the last.
        final_norm: apply the final LayerNorm (``ln1``) after the last layer.
        with_cls_token / output_cls_token: prepend a class token / return it with the patch tokens.
        frozen_stages: freeze the embeddings and the first ``frozen_stages`` layers (-1: none).
        norm_eval: keep every BatchNorm in eval mode while training (only matters with a BN ``norm_cfg``
            or ``patch_cfg``: the default LayerNorms have no running statistics).
        patch_cfg / layer_cfgs: extra arguments for PatchEmbed / each TransformerEncoderLayer.

    ``forward`` returns, per out index, ``[patch_tokens (N, C, H, W), cls_token (N, C)]`` (or just
    the patch tokens when ``output_cls_token`` is False).
    """

    arch_zoo = _arch_zoo()
    num_extra_tokens = 1  # the class token

    def __init__(self, arch: str | Mapping = 'base', img_size=224, patch_size=16, in_channels: int = 3,
                 out_indices: int | Sequence[int] = -1, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                 qkv_bias: bool = True, norm_cfg: Mapping = dict(type='LN', eps=1e-6), final_norm: bool = True,
                 with_cls_token: bool = True, output_cls_token: bool = True, interpolate_mode: str = 'bicubic',
                 patch_cfg: Mapping = dict(), layer_cfgs: Mapping | Sequence[Mapping] = dict(),
                 frozen_stages: int = -1, norm_eval: bool = False, init_cfg: Mapping | Sequence[Mapping] | None = None):
        super().__init__(init_cfg)
        name = type(self).__name__
        self.arch_settings = self._arch(arch)
        self.embed_dims = self.arch_settings['embed_dims']
        self.num_layers = self.arch_settings['num_layers']
        self.img_size = to_2tuple(img_size)
        self.patch_embed = PatchEmbed(**{**dict(in_channels=in_channels, input_size=img_size,
                                                embed_dims=self.embed_dims, conv_type='Conv2d',
                                                kernel_size=patch_size, stride=patch_size), **patch_cfg})
        self.patch_resolution = self.patch_embed.init_out_size
        num_patches = self.patch_resolution[0] * self.patch_resolution[1]
        if output_cls_token and not with_cls_token:
            raise ConfigError(f'{name}: output_cls_token=True needs with_cls_token=True')
        self.with_cls_token, self.output_cls_token = with_cls_token, output_cls_token
        self.interpolate_mode = interpolate_mode
        self.cls_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + self.num_extra_tokens, self.embed_dims))
        self._register_load_state_dict_pre_hook(self._prepare_pos_embed)
        self.drop_after_pos = nn.Dropout(p=drop_rate)
        self.out_indices = check_out_indices(name, out_indices, self.num_layers)
        self.frozen_stages = check_frozen_stages(name, frozen_stages, -1, self.num_layers)
        self.norm_eval = norm_eval

        if isinstance(layer_cfgs, Mapping):
            layer_cfgs = [layer_cfgs] * self.num_layers
        elif len(layer_cfgs) != self.num_layers:
            raise ConfigError(f'{name} layer_cfgs has {len(layer_cfgs)} entries for {self.num_layers} layers')
        self.layers = nn.ModuleList()
        for i in range(self.num_layers):
            layer_cfg = dict(embed_dims=self.embed_dims, num_heads=self.arch_settings['num_heads'],
                             feedforward_channels=self.arch_settings['feedforward_channels'], drop_rate=drop_rate,
                             drop_path_rate=drop_path_rate * i / max(self.num_layers - 1, 1), qkv_bias=qkv_bias,
                             norm_cfg=norm_cfg)
            self.layers.append(TransformerEncoderLayer(**{**layer_cfg, **layer_cfgs[i]}))
        self.final_norm = final_norm
        if final_norm:
            self.norm1_name, norm1 = build_norm_layer(norm_cfg, self.embed_dims, postfix=1)
            self.add_module(self.norm1_name, norm1)
        self._freeze_stages()

    def _arch(self, arch) -> dict:
        if isinstance(arch, str):
            if arch.lower() not in self.arch_zoo:
                raise ConfigError(f'{type(self).__name__} arch={arch!r} is unknown; choose one of '
                                  f'{", ".join(self.arch_zoo)} or give a dict')
            return self.arch_zoo[arch.lower()]
        needed = {'embed_dims', 'num_layers', 'num_heads', 'feedforward_channels'}
        if not isinstance(arch, Mapping) or not needed <= set(arch):
            raise ConfigError(f'{type(self).__name__} arch dict needs the keys {sorted(needed)}, got {arch!r}')
        return dict(arch)

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    def init_weights(self, pretrained: str | None = None) -> None:
        """``init_cfg`` (or ``pretrained``), the layers' own init, then a truncated-normal pos_embed."""
        super().init_weights(pretrained)
        if pretrained is not None or self.is_pretrained_init():
            return
        for layer in self.layers:
            layer.init_weights()
        nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def _prepare_pos_embed(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        """Load hook: resize a checkpoint's pos_embed made for another image size to this one's grid."""
        name = prefix + 'pos_embed'
        if name not in state_dict or state_dict[name].shape == self.pos_embed.shape:
            return
        ckpt = state_dict[name]
        extra = self.num_extra_tokens
        side = math.isqrt(max(ckpt.shape[1] - extra, 0)) if ckpt.dim() == 3 else 0
        if ckpt.dim() != 3 or side * side != ckpt.shape[1] - extra or ckpt.shape[2] != self.embed_dims:
            raise CheckpointError(f'{name} of shape {tuple(ckpt.shape)} is not a square patch grid plus '
                                  f'{extra} extra token(s) of {self.embed_dims} channels, so it '
                                  f'cannot be resized to {tuple(self.pos_embed.shape)}')
        state_dict[name] = resize_pos_embed(ckpt, (side, side), self.patch_resolution, self.interpolate_mode,
                                            extra)
        log_resize(name, (side, side), self.patch_resolution, 'patch grid')

    def _extra_tokens(self, batch: int) -> list[torch.Tensor]:
        """The tokens put before the patch tokens (the class token here), each (batch, 1, C)."""
        return [self.cls_token.expand(batch, -1, -1)]

    def forward(self, x: torch.Tensor) -> tuple:
        B = x.shape[0]
        x, patch_resolution = self.patch_embed(x)
        x = torch.cat((*self._extra_tokens(B), x), dim=1)
        x = x + resize_pos_embed(self.pos_embed, self.patch_resolution, patch_resolution,
                                 mode=self.interpolate_mode, num_extra_tokens=self.num_extra_tokens)
        x = self.drop_after_pos(x)
        if not self.with_cls_token:
            x = x[:, self.num_extra_tokens:]
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == self.num_layers - 1 and self.final_norm:
                x = self.norm1(x)
            if i in self.out_indices:
                outs.append(self._format_output(x, patch_resolution))
        return tuple(outs)

    def _format_output(self, x: torch.Tensor, patch_resolution):
        """``[patch_tokens (N, C, H, W), *extra_tokens (N, C)]``, or the patch tokens alone."""
        B, _, C = x.shape
        extra = self.num_extra_tokens if self.with_cls_token else 0
        patches = x[:, extra:].reshape(B, *patch_resolution, C).permute(0, 3, 1, 2)
        if self.output_cls_token:
            return [patches, *(x[:, i] for i in range(extra))]
        return patches

    def _freeze_stages(self) -> None:
        if self.frozen_stages <= 0:
            return
        self.pos_embed.requires_grad = False
        self.cls_token.requires_grad = False
        self.drop_after_pos.eval()
        frozen = [self.patch_embed, *self.layers[:self.frozen_stages]]
        if self.frozen_stages == self.num_layers and self.final_norm:
            frozen.append(self.norm1)
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

