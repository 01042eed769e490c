"""Conformer (Peng et al. 2021): a CNN branch and a transformer branch that exchange features at every block,
with mmcls 0.x's arguments and key names."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import DropPath, build_activation_layer, build_norm_layer
from ..utils.embed import AdaptivePadding
from ..utils.stages import check_frozen_stages, check_out_indices, freeze
from .base_backbone import BaseBackbone
from .vision_transformer import TransformerEncoderLayer

__all__ = ['ConvBlock', 'ConvTransBlock', 'Conformer', 'FCUDown', 'FCUUp']


class ConvBlock(nn.Module):
    """Bottleneck (1x1, 3x3 ``stride``/``groups``, 1x1 to ``out_channels``; 4x expansion); the 3x3 conv's input
    can take the transformer branch's features (``fusion_features``), and its activation is returned too."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, groups: int = 1,
                 drop_path_rate: float = 0.0, with_residual_conv: bool = False,
                 norm_cfg: Mapping = dict(type='BN', eps=1e-6), act_cfg: Mapping = dict(type='ReLU', inplace=True),
                 init_cfg=None):
        super().__init__()
        self.init_cfg = init_cfg
        mid = out_channels // 4
        self.conv1 = nn.Conv2d(in_channels, mid, kernel_size=1, bias=False)
        self.bn1 = build_norm_layer(norm_cfg, mid)[1]
        self.act1 = build_activation_layer(act_cfg)
        self.conv2 = nn.Conv2d(mid, mid, kernel_size=3, stride=stride, groups=groups, padding=1, bias=False)
        self.bn2 = build_norm_layer(norm_cfg, mid)[1]
        self.act2 = build_activation_layer(act_cfg)
        self.conv3 = nn.Conv2d(mid, out_channels, kernel_size=1, bias=False)
        self.bn3 = build_norm_layer(norm_cfg, out_channels)[1]
        self.act3 = build_activation_layer(act_cfg)
        if with_residual_conv:
            self.residual_conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)
            self.residual_bn = build_norm_layer(norm_cfg, out_channels)[1]
        self.with_residual_conv = with_residual_conv
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def zero_init_last_bn(self) -> None:
        """Start the block as the identity (the last BN's scale at zero)."""
        nn.init.zeros_(self.bn3.weight)

    def forward(self, x: torch.Tensor, fusion_features: torch.Tensor | None = None, out_conv2: bool = True):
        identity = x
        x = self.act1(self.bn1(self.conv1(x)))
        x2 = self.act2(self.bn2(self.conv2(x if fusion_features is None else x + fusion_features)))
        x = self.drop_path(self.bn3(self.conv3(x2)))
        if self.with_residual_conv:
            identity = self.residual_bn(self.residual_conv(identity))
        x = self.act3(x + identity)
        return (x, x2) if out_conv2 else x


class FCUDown(nn.Module):
    """CNN -> transformer: 1x1 projection, average pooling to the token grid, LN and GELU; the class token of
    the transformer branch is put back first."""

    def __init__(self, in_channels: int, out_channels: int, down_stride: int, with_cls_token: bool = True,
                 norm_cfg: Mapping = dict(type='LN', eps=1e-6), act_cfg: Mapping = dict(type='GELU'),
                 init_cfg=None):
        super().__init__()
        self.init_cfg = init_cfg
        self.down_stride, self.with_cls_token = down_stride, with_cls_token
        self.conv_project = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        self.sample_pooling = nn.AvgPool2d(kernel_size=down_stride, stride=down_stride)
        self.ln = build_norm_layer(norm_cfg, out_channels)[1]
        self.act = build_activation_layer(act_cfg)

    def forward(self, x: torch.Tensor, x_t: torch.Tensor) -> torch.Tensor:
        x = self.act(self.ln(self.sample_pooling(self.conv_project(x)).flatten(2).transpose(1, 2)))
        return torch.cat([x_t[:, :1], x], dim=1) if self.with_cls_token else x


class FCUUp(nn.Module):
    """Transformer -> CNN: the patch tokens as a map, 1x1 projection, BN, ReLU, nearest upsampling."""

    def __init__(self, in_channels: int, out_channels: int, up_stride: int, with_cls_token: bool = True,
                 norm_cfg: Mapping = dict(type='BN', eps=1e-6), act_cfg: Mapping = dict(type='ReLU', inplace=True),
                 init_cfg=None):
        super().__init__()
        self.init_cfg = init_cfg
        self.up_stride, self.with_cls_token = up_stride, with_cls_token
        self.conv_project = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        self.bn = build_norm_layer(norm_cfg, out_channels)[1]
        self.act = build_activation_layer(act_cfg)

    def forward(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        B, _, C = x.shape
        tokens = x[:, 1:] if self.with_cls_token else x
        x = self.act(self.bn(self.conv_project(tokens.transpose(1, 2).reshape(B, C, height, width))))
        return F.interpolate(x, size=(height * self.up_stride, width * self.up_stride))


class ConvTransBlock(nn.Module):
    """One Conformer block: a ConvBlock, the transformer layer fed with its squeezed features, and a fusion
    ConvBlock that takes the transformer output back (stride 2 in the last block with ``last_fusion``)."""

    def __init__(self, in_channels: int, out_channels: int, embed_dims: int, conv_stride: int = 1, groups: int = 1,
                 with_residual_conv: bool = False, down_stride: int = 4, num_heads: int = 12,
                 mlp_ratio: float = 4.0, qkv_bias: bool = False, with_cls_token: bool = True, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, drop_path_rate: float = 0.0, last_fusion: bool = False,
                 init_cfg=None):
        super().__init__()
        self.init_cfg = init_cfg
        self.cnn_block = ConvBlock(in_channels, out_channels, stride=conv_stride, groups=groups,
                                   with_residual_conv=with_residual_conv)
        self.fusion_block = ConvBlock(out_channels, out_channels, stride=2 if last_fusion else 1, groups=groups,
                                      with_residual_conv=last_fusion, drop_path_rate=drop_path_rate)
        self.squeeze_block = FCUDown(out_channels // 4, embed_dims, down_stride, with_cls_token=with_cls_token)
        self.expand_block = FCUUp(embed_dims, out_channels // 4, down_stride, with_cls_token=with_cls_token)
        self.trans_block = TransformerEncoderLayer(embed_dims, num_heads, int(embed_dims * mlp_ratio),
                                                   drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
                                                   drop_path_rate=drop_path_rate, qkv_bias=qkv_bias,
                                                   norm_cfg=dict(type='LN', eps=1e-6))
        self.down_stride, self.embed_dim, self.last_fusion = down_stride, embed_dims, last_fusion

    def forward(self, cnn_input: torch.Tensor, trans_input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, x_conv2 = self.cnn_block(cnn_input, out_conv2=True)
        H, W = x_conv2.shape[2:]
        trans_output = self.trans_block(self.squeeze_block(x_conv2, trans_input) + trans_input)
        trans_features = self.expand_block(trans_output, H // self.down_stride, W // self.down_stride)
        return self.fusion_block(x, fusion_features=trans_features, out_conv2=False), trans_output


@BACKBONES.register_module()
class Conformer(BaseBackbone):
    """Conformer backbone.

    Args:
        arch: ``'tiny' | 'small' | 'base'`` or ``dict(embed_dims, depths, num_heads, channel_ratio)``.
        patch_size: 16 or 32 (a multiple of 16): the transformer's token stride.
        base_channels: CNN width before ``channel_ratio`` (stages of 1x, 2x and 4x that).
        out_indices: outputs after k transformer layers, numbered as mmcls does: 2..depths are the blocks
            ``conv_trans_k`` (-1 is the last), 1 the stem (``conv_1`` / ``trans_1``) and 0 the embeddings before
            it. Each output is ``[pooled CNN features (N, C_cnn), class token (or mean token) (N, C)]``.
        frozen_stages: freeze the first k transformer layers with their CNN parts (1: the stem; 0: none).
        norm_eval: keep the BatchNorms in eval mode while training. mmcls accepts this argument (default True)
            but never applies it; the default here is False, which is what mmcls's models do.
    """

    arch_zoo = {
        **dict.fromkeys(['t', 'tiny'], {'embed_dims': 384, 'channel_ratio': 1, 'num_heads': 6, 'depths': 12}),
        **dict.fromkeys(['s', 'small'], {'embed_dims': 384, 'channel_ratio': 4, 'num_heads': 6, 'depths': 12}),
        **dict.fromkeys(['b', 'base'], {'embed_dims': 576, 'channel_ratio': 6, 'num_heads': 9, 'depths': 12}),
    }

    def __init__(self, arch: str | Mapping = 'tiny', patch_size: int = 16, base_channels: int = 64,
                 mlp_ratio: float = 4.0, qkv_bias: bool = True, with_cls_token: bool = True,
                 drop_path_rate: float = 0.0, norm_eval: bool = False, frozen_stages: int = 0, out_indices=-1,
                 init_cfg=None):
        super().__init__(init_cfg)
        s = self._arch(arch)
        self.num_features = self.embed_dims = s['embed_dims']
        self.depths, self.num_heads, self.channel_ratio = s['depths'], s['num_heads'], s['channel_ratio']
        if not isinstance(patch_size, int) or patch_size % 16:
            raise ConfigError(f'Conformer patch_size={patch_size!r} must be a multiple of 16')
        # outputs 0..depths: after that many transformer layers (mmcls's numbering; -1 is the last)
        self.out_indices = check_out_indices(type(self).__name__, out_indices, self.depths + 1)
        self.frozen_stages = check_frozen_stages(type(self).__name__, frozen_stages, 0, self.depths)
        self.norm_eval, self.with_cls_token = norm_eval, with_cls_token
        if with_cls_token:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
        self.trans_dpr = [drop_path_rate * i / max(self.depths - 1, 1) for i in range(self.depths)]
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.act1 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        stride = patch_size // 4
        self.auto_pad = AdaptivePadding(stride, stride)
        widths = [int(base_channels * self.channel_ratio * m) for m in (1, 2, 4)]
        self.conv_1 = ConvBlock(64, widths[0], stride=1, with_residual_conv=True)
        self.trans_patch_conv = nn.Conv2d(64, self.embed_dims, kernel_size=stride, stride=stride)
        self.trans_1 = TransformerEncoderLayer(self.embed_dims, self.num_heads, int(self.embed_dims * mlp_ratio),
                                               drop_path_rate=self.trans_dpr[0], qkv_bias=qkv_bias,
                                               norm_cfg=dict(type='LN', eps=1e-6))
        third = self.depths // 3
        for i in range(2, self.depths + 1):
            stage = 0 if i <= third else 1 if i <= 2 * third else 2
            first = i in (third + 1, 2 * third + 1)  # the first block of stages 2 and 3 halves the map
            self.add_module(f'conv_trans_{i}', ConvTransBlock(
                in_channels=widths[stage - 1] if first else widths[stage], out_channels=widths[stage],
                embed_dims=self.embed_dims, conv_stride=2 if first else 1, with_residual_conv=first,
                down_stride=stride // 2 ** stage, num_heads=self.num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
                drop_path_rate=self.trans_dpr[i - 1], with_cls_token=with_cls_token,
                last_fusion=i == self.depths))
        self.fin_stage = self.depths + 1
        self.pooling = nn.AdaptiveAvgPool2d(1)
        self.trans_norm = nn.LayerNorm(self.embed_dims)
        if with_cls_token:
            nn.init.trunc_normal_(self.cls_token, std=0.02)
        self._freeze_stages()

    def _arch(self, arch) -> dict:
        keys = {'embed_dims', 'depths', 'num_heads', 'channel_ratio'}
        if isinstance(arch, str):
            if arch.lower() not in self.arch_zoo:
                raise ConfigError(f'Conformer arch={arch!r} is unknown; choose one of {", ".join(self.arch_zoo)} '
                                  f'or give dict({", ".join(sorted(keys))})')
            return self.arch_zoo[arch.lower()]
        if not isinstance(arch, Mapping) or set(arch) != keys:
            raise ConfigError(f'Conformer arch dict needs exactly the keys {sorted(keys)}, got {arch!r}')
        if arch['depths'] % 3 or arch['depths'] < 3:
            raise ConfigError(f"Conformer arch depths={arch['depths']!r} must be a multiple of 3 (three stages)")
        return dict(arch)

    def init_weights(self, pretrained: str | None = None) -> None:
        """``init_cfg`` (or ``pretrained``); unless that loads a checkpoint: truncated-normal linears, unit
        norms, He-normal (fan-out) convolutions and each bottleneck's last BN at zero."""
        super().init_weights(pretrained)
        if pretrained is not None or self.is_pretrained_init():
            return
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.LayerNorm, nn.BatchNorm2d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            if isinstance(m, ConvBlock):
                m.zero_init_last_bn()

    def _output(self, x: torch.Tensor, x_t: torch.Tensor) -> list[torch.Tensor]:
        tokens = self.trans_norm(x_t)
        return [self.pooling(x).flatten(1), tokens[:, 0] if self.with_cls_token else tokens.mean(dim=1)]

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], ...]:
        B = x.shape[0]
        x_base = self.auto_pad(self.maxpool(self.act1(self.bn1(self.conv1(x)))))
        x_t = self.trans_patch_conv(x_base).flatten(2).transpose(1, 2)
        if self.with_cls_token:
            x_t = torch.cat([self.cls_token.expand(B, -1, -1), x_t], dim=1)
        output = [self._output(x_base, x_t)] if 0 in self.out_indices else []
        x = self.conv_1(x_base, out_conv2=False)
        x_t = self.trans_1(x_t)
        if 1 in self.out_indices:
            output.append(self._output(x, x_t))
        for i in range(2, self.fin_stage):
            x, x_t = getattr(self, f'conv_trans_{i}')(x, x_t)
            if i in self.out_indices:
                output.append(self._output(x, x_t))
        return tuple(output)

    def _freeze_stages(self) -> None:
        if self.frozen_stages <= 0:
            return
        frozen = [self.conv1, self.bn1, self.conv_1, self.trans_patch_conv, self.trans_1]
        frozen += [getattr(self, f'conv_trans_{i}') for i in range(2, self.frozen_stages + 1)]
        if self.with_cls_token:
            self.cls_token.requires_grad = False
        freeze(frozen)
