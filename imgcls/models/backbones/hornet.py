"""HorNet (Rao et al. 2022): ConvNeXt-style stages whose spatial mixer is the recursive gated conv (gnConv), with
a depthwise conv or a global filter (GF: a learnt filter in the Fourier domain next to a 3x3 depthwise conv).

State-dict keys follow mmcls 0.x: ``downsample_layers.<i>``, ``stages.<i>.<j>`` and ``norm<i>`` per output.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import DropPath, LayerNorm2d
from ..utils.conv_mlp import drop_path_rates
from ..utils.layer_scale import LayerScale
from ..utils.stages import check_frozen_stages, check_out_indices, freeze
from .base_backbone import BaseBackbone

__all__ = ['HorNet']


def _norm2d(channels: int) -> LayerNorm2d:
    return LayerNorm2d(channels, eps=1e-6)


class GlobalLocalFilter(nn.Module):
    """Half the channels through a 3x3 depthwise conv, half through a learnt global filter (multiplied in the
    2-D Fourier domain; resized bilinearly when the map's spectrum has another size), between two LayerNorms."""

    def __init__(self, dim: int, h: int = 14, w: int = 8):
        super().__init__()
        self.dw = nn.Conv2d(dim // 2, dim // 2, 3, padding=1, bias=False, groups=dim // 2)
        self.complex_weight = nn.Parameter(torch.randn(dim // 2, h, w, 2) * 0.02)
        self.pre_norm = _norm2d(dim)
        self.post_norm = _norm2d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pre_norm(x)
        local, glob = torch.chunk(x, 2, dim=1)
        local = self.dw(local)
        height, width = glob.shape[2:]
        # the FFT runs in fp32 whatever the autocast dtype
        spectrum = torch.fft.rfft2(glob.float(), dim=(2, 3), norm='ortho')
        weight = self.complex_weight
        if weight.shape[1:3] != spectrum.shape[2:4]:
            weight = F.interpolate(weight.permute(3, 0, 1, 2), size=spectrum.shape[2:4], mode='bilinear',
                                   align_corners=True).permute(1, 2, 3, 0)
        spectrum = spectrum * torch.view_as_complex(weight.float().contiguous())
        glob = torch.fft.irfft2(spectrum, s=(height, width), dim=(2, 3), norm='ortho').to(local.dtype)
        # interleave the two halves channel by channel: (local_0, global_0, local_1, global_1, ...)
        mixed = torch.stack([local, glob], dim=2).flatten(1, 2)
        return self.post_norm(mixed)


class gnConv(nn.Module):  # noqa: N801 - mmcls's class name, kept for code that imports it
    """Recursive gated conv of ``order``: one projection gives a gate and (order) features of doubling widths;
    a spatial mixer (``dwconv``) runs on the features; each step multiplies by the next feature, 1x1 between."""

    def __init__(self, dim: int, order: int = 5, dw_cfg: Mapping = dict(type='DW', kernel_size=7),  # noqa: B006
                 scale: float = 1.0):
        super().__init__()
        self.order, self.scale = order, scale
        self.dims = [dim // 2 ** i for i in range(order)][::-1]
        self.proj_in = nn.Conv2d(dim, 2 * dim, 1)
        cfg = dict(dw_cfg)
        kind = cfg.pop('type', None)
        if kind == 'DW':
            kernel = cfg.get('kernel_size', 7)
            self.dwconv = nn.Conv2d(sum(self.dims), sum(self.dims), kernel, padding=(kernel - 1) // 2,
                                    bias=cfg.get('bias', True), groups=sum(self.dims))
        elif kind == 'GF':
            self.dwconv = GlobalLocalFilter(sum(self.dims), **cfg)
        else:
            raise ConfigError(f"HorNet dw_cfg type must be 'DW' (depthwise conv) or 'GF' (global filter), got {kind!r}")
        self.proj_out = nn.Conv2d(dim, dim, 1)
        self.projs = nn.ModuleList(nn.Conv2d(self.dims[i], self.dims[i + 1], 1) for i in range(order - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, feats = torch.split(self.proj_in(x), (self.dims[0], sum(self.dims)), dim=1)
        feats = torch.split(self.dwconv(feats) * self.scale, self.dims, dim=1)
        x = gate * feats[0]
        for proj, feat in zip(self.projs, feats[1:]):
            x = proj(x) * feat
        return self.proj_out(x)


class HorNetBlock(nn.Module):
    """norm → gnConv and norm → MLP (channels-last linears, 4x), each layer-scaled on a residual."""

    def __init__(self, dim: int, order: int = 5, dw_cfg: Mapping = dict(type='DW', kernel_size=7),  # noqa: B006
                 scale: float = 1.0, drop_path_rate: float = 0., use_layer_scale: bool = True):
        super().__init__()
        self.out_channels = dim
        self.norm1 = _norm2d(dim)
        self.gnconv = gnConv(dim, order, dw_cfg, scale)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma1 = LayerScale(dim, data_format='channels_first') if use_layer_scale else nn.Identity()
        self.gamma2 = LayerScale(dim) if use_layer_scale else nn.Identity()
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.gamma1(self.gnconv(self.norm1(x))))
        y = self.gamma2(self.pwconv2(self.act(self.pwconv1(self.norm2(x.permute(0, 2, 3, 1))))))
        return x + self.drop_path(y.permute(0, 3, 1, 2))


def _arch(base_dim: int, gf: tuple[tuple[int, int], tuple[int, int]] | None = None) -> dict:
    # every preset: depths 2-3-18-2, gnConv orders 2-5, depthwise 7x7 mixers (global filters in stages 3-4)
    dw = dict(type='DW', kernel_size=7)
    last = [dw, dw] if gf is None else [dict(type='GF', h=h, w=w) for h, w in gf]
    return dict(base_dim=base_dim, depths=[2, 3, 18, 2], orders=[2, 3, 4, 5], dw_cfg=[dw, dw, *last])


@BACKBONES.register_module()
class HorNet(BaseBackbone):
    """HorNet backbone: a 4x4 stem, then four stages (2x2 downsampling between), strides 4..32.

    Args:
        arch: ``'tiny' | 'small' | 'base' | 'large'`` (or ``t/s/b/l``), each with ``-gf`` (global filters), and
            ``'base-gf384' | 'large-gf384'``; or a dict with ``base_dim``, ``depths``, ``orders``, ``dw_cfg``.
        in_channels: image channels. drop_path_rate: stochastic depth of the last block (linear from 0).
        scale: multiplier of the spatial mixer outputs. use_layer_scale: layer scale on both residuals.
        out_indices: stages whose normed outputs are returned. frozen_stages: freeze stages 0..k (-1: none).
        with_cp: gradient checkpointing over each stage's blocks.
        gap_before_final_norm: average each output over space before its norm, giving (N, C) vectors.
    """

    arch_zoo = {
        **dict.fromkeys(['t', 'tiny'], _arch(64)), **dict.fromkeys(['t-gf', 'tiny-gf'], _arch(64, ((14, 8), (7, 4)))),
        **dict.fromkeys(['s', 'small'], _arch(96)),
        **dict.fromkeys(['s-gf', 'small-gf'], _arch(96, ((14, 8), (7, 4)))),
        **dict.fromkeys(['b', 'base'], _arch(128)),
        **dict.fromkeys(['b-gf', 'base-gf'], _arch(128, ((14, 8), (7, 4)))),
        **dict.fromkeys(['b-gf384', 'base-gf384'], _arch(128, ((24, 12), (13, 7)))),
        **dict.fromkeys(['l', 'large'], _arch(192)),
        **dict.fromkeys(['l-gf', 'large-gf'], _arch(192, ((14, 8), (7, 4)))),
        **dict.fromkeys(['l-gf384', 'large-gf384'], _arch(192, ((24, 12), (13, 7)))),
    }

    def __init__(self, arch: str | Mapping = 'tiny', in_channels: int = 3, drop_path_rate: float = 0.,
                 scale: float = 1 / 3, use_layer_scale: bool = True, out_indices: int | Sequence[int] = (3,),
                 frozen_stages: int = -1, with_cp: bool = False, gap_before_final_norm: bool = True,
                 init_cfg: Mapping | Sequence[Mapping] | None = None):
        super().__init__(init_cfg)
        self.arch_settings = self._arch(arch)
        self.scale, self.with_cp, self.gap_before_final_norm = scale, with_cp, gap_before_final_norm
        depths = self.arch_settings['depths']
        self.out_indices = check_out_indices('HorNet', out_indices, len(depths))
        self.frozen_stages = check_frozen_stages('HorNet', frozen_stages, -1, len(depths) - 1)
        dims = [self.arch_settings['base_dim'] * 2 ** i for i in range(len(depths))]
        self.downsample_layers = nn.ModuleList([nn.Sequential(nn.Conv2d(in_channels, dims[0], 4, stride=4),
                                                              _norm2d(dims[0]))])
        for i in range(len(depths) - 1):
            self.downsample_layers.append(nn.Sequential(_norm2d(dims[i]), nn.Conv2d(dims[i], dims[i + 1], 2, stride=2)))
        rates = drop_path_rates(depths, drop_path_rate)
        self.stages = nn.ModuleList(nn.Sequential(*(
            HorNetBlock(dims[i], self.arch_settings['orders'][i], self.arch_settings['dw_cfg'][i], scale,
                        rates[i][j], use_layer_scale) for j in range(depth))) for i, depth in enumerate(depths))
        for i in self.out_indices:
            self.add_module(f'norm{i}', _norm2d(dims[i]))
        self._freeze_stages()

    def _arch(self, arch) -> dict:
        if isinstance(arch, str):
            if arch.lower() not in self.arch_zoo:
                raise ConfigError(f'HorNet arch {arch!r} is not one of {", ".join(self.arch_zoo)}; or pass a dict '
                                  'with base_dim, depths, orders and dw_cfg')
            return copy.deepcopy(self.arch_zoo[arch.lower()])
        needed = {'base_dim', 'depths', 'orders', 'dw_cfg'}
        if not isinstance(arch, Mapping) or set(arch) != needed:
            raise ConfigError(f'HorNet arch dict needs exactly the keys {sorted(needed)}, got {arch!r}')
        if not len(arch['depths']) == len(arch['orders']) == len(arch['dw_cfg']):
            raise ConfigError(f'HorNet arch {dict(arch)}: depths, orders and dw_cfg need one entry per stage')
        return dict(arch)

    def _freeze_stages(self) -> None:
        k = self.frozen_stages
        freeze([*self.downsample_layers[:k + 1], *self.stages[:k + 1],
                *(getattr(self, f'norm{i}') for i in self.out_indices if i <= k)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return the normed outputs of the ``out_indices`` stages: (N, C) vectors with gap_before_final_norm,
        else (N, C, H, W) maps."""
        outs = []
        for i, (down, stage) in enumerate(zip(self.downsample_layers, self.stages)):
            x = down(x)
            if self.with_cp and x.requires_grad:
                x = cp.checkpoint_sequential(stage, len(stage), x, use_reentrant=False)
            else:
                x = stage(x)
            if i in self.out_indices:
                norm = getattr(self, f'norm{i}')
                outs.append(norm(x.mean((2, 3), keepdim=True)).flatten(1) if self.gap_before_final_norm
                            else norm(x))
        return tuple(outs)
