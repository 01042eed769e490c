"""MLP-Mixer (Tolstikhin et al. 2021), with mmcls 0.x's arguments and key names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import build_norm_layer
from ..utils.embed import PatchEmbed, to_2tuple
from ..utils.ffn import FFN
from ..utils.stages import check_frozen_stages, check_out_indices, freeze
from .base_backbone import BaseBackbone

__all__ = ['MixerBlock', 'MlpMixer']


class MixerBlock(nn.Module):
    """``x + token_mix(norm1(x)^T)^T`` (an MLP across the patches), then ``x + channel_mix(norm2(x))``."""

    def __init__(self, num_tokens: int, embed_dims: int, tokens_mlp_dims: int, channels_mlp_dims: int,
                 drop_rate: float = 0.0, drop_path_rate: float = 0.0, num_fcs: int = 2,
                 act_cfg: Mapping = dict(type='GELU'), norm_cfg: Mapping = dict(type='LN'), init_cfg=None):
        super().__init__()
        self.init_cfg = init_cfg
        drop_path = dict(type='DropPath', drop_prob=drop_path_rate)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, embed_dims, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.token_mix = FFN(num_tokens, tokens_mlp_dims, num_fcs=num_fcs, ffn_drop=drop_rate,
                             dropout_layer=drop_path, act_cfg=act_cfg, add_identity=False)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, embed_dims, postfix=2)
        self.add_module(self.norm2_name, norm2)
        self.channel_mix = FFN(embed_dims, channels_mlp_dims, num_fcs=num_fcs, ffn_drop=drop_rate,
                               dropout_layer=drop_path, act_cfg=act_cfg)

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    def init_weights(self) -> None:
        """Xavier-uniform weights and tiny normal biases in both MLPs."""
        for m in (*self.token_mix.modules(), *self.channel_mix.modules()):
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.normal_(m.bias, std=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.token_mix(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return self.channel_mix(self.norm2(x), identity=x)


@BACKBONES.register_module()
class MlpMixer(BaseBackbone):
    """MLP-Mixer backbone: patch embedding, then blocks that mix across patches and across channels.

    Args:
        arch: ``'small' | 'base' | 'large'`` or ``dict(embed_dims, num_layers, tokens_mlp_dims,
            channels_mlp_dims)``.
        img_size: the input size; the token-mixing MLPs are as wide as its patch count, so the model
            only takes this size.
        out_indices: layers whose (N, C, L) token outputs are returned; -1 is the last (after ``ln1``).
        frozen_stages: freeze the patch embedding and the first ``frozen_stages`` layers (-1: none).
        patch_cfg / layer_cfgs: extra arguments for PatchEmbed / each MixerBlock.
    """

    arch_zoo = {
        **dict.fromkeys(['s', 'small'], {'embed_dims': 512, 'num_layers': 8, 'tokens_mlp_dims': 256,
                                         'channels_mlp_dims': 2048}),
        **dict.fromkeys(['b', 'base'], {'embed_dims': 768, 'num_layers': 12, 'tokens_mlp_dims': 384,
                                        'channels_mlp_dims': 3072}),
        **dict.fromkeys(['l', 'large'], {'embed_dims': 1024, 'num_layers': 24, 'tokens_mlp_dims': 512,
                                         'channels_mlp_dims': 4096}),
    }

    def __init__(self, arch: str | Mapping = 'base', img_size=224, patch_size=16, out_indices=-1,
                 drop_rate: float = 0.0, drop_path_rate: float = 0.0, norm_cfg: Mapping = dict(type='LN'),
                 act_cfg: Mapping = dict(type='GELU'), patch_cfg: Mapping = dict(),
                 layer_cfgs: Mapping | Sequence[Mapping] = dict(), frozen_stages: int = -1, init_cfg=None):
        super().__init__(init_cfg)
        settings = self._arch(arch)
        self.embed_dims, self.num_layers = settings['embed_dims'], settings['num_layers']
        self.img_size = to_2tuple(img_size)
        self.patch_embed = PatchEmbed(**{**dict(input_size=img_size, embed_dims=self.embed_dims, conv_type='Conv2d',
                                                kernel_size=patch_size, stride=patch_size), **patch_cfg})
        self.patch_resolution = self.patch_embed.init_out_size
        num_patches = self.patch_resolution[0] * self.patch_resolution[1]
        name = type(self).__name__
        self.out_indices = check_out_indices(name, out_indices, self.num_layers)
        self.frozen_stages = check_frozen_stages(name, frozen_stages, -1, self.num_layers)
        if isinstance(layer_cfgs, Mapping):
            layer_cfgs = [layer_cfgs] * self.num_layers
        elif len(layer_cfgs) != self.num_layers:
            raise ConfigError(f'MlpMixer layer_cfgs has {len(layer_cfgs)} entries for {self.num_layers} layers')
        self.layers = nn.ModuleList([MixerBlock(**{**dict(
            num_tokens=num_patches, embed_dims=self.embed_dims, tokens_mlp_dims=settings['tokens_mlp_dims'],
            channels_mlp_dims=settings['channels_mlp_dims'], drop_rate=drop_rate, drop_path_rate=drop_path_rate,
            act_cfg=act_cfg, norm_cfg=norm_cfg), **layer_cfgs[i]}) for i in range(self.num_layers)])
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, self.embed_dims, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self._freeze_stages()

    def _arch(self, arch) -> dict:
        keys = {'embed_dims', 'num_layers', 'tokens_mlp_dims', 'channels_mlp_dims'}
        if isinstance(arch, str):
            if arch.lower() not in self.arch_zoo:
                raise ConfigError(f'MlpMixer arch={arch!r} is unknown; choose one of {", ".join(self.arch_zoo)} '
                                  f'or give dict({", ".join(sorted(keys))})')
            return self.arch_zoo[arch.lower()]
        if not isinstance(arch, Mapping) or not keys <= set(arch):
            raise ConfigError(f'MlpMixer arch dict needs the keys {sorted(keys)}, got {arch!r}')
        return dict(arch)

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    def init_weights(self, pretrained: str | None = None) -> None:
        """``init_cfg`` (or ``pretrained``), then the blocks' own init."""
        super().init_weights(pretrained)
        if pretrained is None and not self.is_pretrained_init():
            for layer in self.layers:
                layer.init_weights()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if tuple(x.shape[2:]) != self.img_size:
            raise ValueError(f'MlpMixer takes {self.img_size[0]}x{self.img_size[1]} images only (its token MLPs '
                             f'are as wide as the patch count), got {x.shape[2]}x{x.shape[3]}: resize the '
                             'input or build it with that img_size')
        x, _ = self.patch_embed(x)
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == self.num_layers - 1:
                x = self.norm1(x)
            if i in self.out_indices:
                outs.append(x.transpose(1, 2))
        return tuple(outs)

    def _freeze_stages(self) -> None:
        if self.frozen_stages <= 0:
            return
        frozen = [self.patch_embed, *self.layers[:self.frozen_stages]]
        if self.frozen_stages == self.num_layers:
            frozen.append(self.norm1)
        freeze(frozen)
