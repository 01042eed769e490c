"""CSPNet (Wang et al. 2020): stages that send half the channels through the blocks and concatenate the
other half back, built over Darknet, ResNet and ResNeXt bottlenecks."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn as nn

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import ConvModule, DropPath
from ..utils.stages import check_out_indices, freeze
from .base_backbone import BaseBackbone
from .resnet import Bottleneck as ResNetBottleneck
from .resnext import Bottleneck as ResNeXtBottleneck

__all__ = ['CSPDarkNet', 'CSPNet', 'CSPResNeXt', 'CSPResNet', 'CSPStage', 'DarknetBottleneck']

_LEAKY = dict(type='LeakyReLU', inplace=True)
_BN = dict(type='BN', eps=1e-5)
# PyTorch's default conv init, written as a Kaiming init (as mmcls's CSPDarkNet)
_DARKNET_INIT = dict(type='Kaiming', layer='Conv2d', a=math.sqrt(5), distribution='uniform', mode='fan_in',
                     nonlinearity='leaky_relu')


class DepthwiseSeparableConvModule(nn.Module):
    """A depthwise k x k ConvModule then a pointwise 1x1 ConvModule (``depthwise_conv``, ``pointwise_conv``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 **kwargs):
        super().__init__()
        self.depthwise_conv = ConvModule(in_channels, in_channels, kernel_size, stride=stride, padding=padding,
                                         groups=in_channels, **kwargs)
        self.pointwise_conv = ConvModule(in_channels, out_channels, 1, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise_conv(self.depthwise_conv(x))


class DarknetBottleneck(nn.Module):
    """1x1 ConvModule to ``out_channels / expansion``, 3x3 ConvModule back, plus the input when shapes allow."""

    def __init__(self, in_channels: int, out_channels: int, expansion: float = 2, add_identity: bool = True,
                 use_depthwise: bool = False, conv_cfg: Mapping | None = None, drop_path_rate: float = 0,
                 norm_cfg: Mapping = _BN, act_cfg: Mapping = _LEAKY, init_cfg=None):
        super().__init__()
        hidden = int(out_channels / expansion)
        convs = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv1 = ConvModule(in_channels, hidden, 1, **convs)
        conv = DepthwiseSeparableConvModule if use_depthwise else ConvModule
        self.conv2 = conv(hidden, out_channels, 3, stride=1, padding=1, **convs)
        self.add_identity = add_identity and in_channels == out_channels
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 1e-5 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.drop_path(self.conv2(self.conv1(x)))
        return out + x if self.add_identity else out


class CSPStage(nn.Module):
    """[3x3/2 ``downsample_conv``], 1x1 ``expand_conv``, split in halves; one half through ``blocks`` and
    ``atfer_blocks_conv`` (mmcls's spelling), concatenated with the other; 1x1 ``final_conv``.

    Args:
        down_growth: the downsampling conv already widens to ``out_channels``.
        expand_ratio: ``expand_conv`` width relative to the downsampled width.
        bottle_ratio: the blocks' ``expansion``.
        block_dpr: drop path rate per block (one number for all).
    """

    def __init__(self, block_fn: Callable, in_channels: int, out_channels: int, has_downsampler: bool = True,
                 down_growth: bool = False, expand_ratio: float = 0.5, bottle_ratio: float = 2, num_blocks: int = 1,
                 block_dpr: float | Sequence[float] = 0, block_args: Mapping | None = None,
                 conv_cfg: Mapping | None = None, norm_cfg: Mapping = _BN, act_cfg: Mapping = _LEAKY, init_cfg=None):
        super().__init__()
        down_channels = out_channels if down_growth else in_channels
        rates = [block_dpr] * num_blocks if isinstance(block_dpr, (int, float)) else list(block_dpr)
        self.downsample_conv = ConvModule(
            in_channels, down_channels, 3, stride=2, padding=1, groups=32 if block_fn is ResNeXtBottleneck else 1,
            norm_cfg=norm_cfg, act_cfg=act_cfg) if has_downsampler else nn.Identity()
        exp_channels = int(down_channels * expand_ratio)
        if exp_channels % 2:
            raise ConfigError(f'CSPStage: the expand conv width {exp_channels} (= {down_channels} x expand_ratio '
                              f'{expand_ratio}) must be even, to split in halves')
        # Darknet stages activate after the expand conv; the ResNe(X)t ones do not
        self.expand_conv = ConvModule(down_channels, exp_channels, 1, norm_cfg=norm_cfg,
                                      act_cfg=act_cfg if block_fn is DarknetBottleneck else None)
        half = exp_channels // 2
        self.blocks = nn.Sequential(*(
            block_fn(in_channels=half, out_channels=half, expansion=bottle_ratio, drop_path_rate=rates[i],
                     conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg, **(block_args or {}))
            for i in range(num_blocks)))
        self.atfer_blocks_conv = ConvModule(half, half, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.final_conv = ConvModule(2 * half, out_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.expand_conv(self.downsample_conv(x))
        half = x.shape[1] // 2
        through = self.atfer_blocks_conv(self.blocks(x[:, half:]))
        return self.final_conv(torch.cat((x[:, :half], through), dim=1))


class CSPNet(BaseBackbone):
    """A stem and a sequence of :class:`CSPStage` (``stem``, ``stages.i``); subclasses set the arch and stem.

    Args:
        arch: ``block_fn``, ``in_channels``, ``out_channels``, ``num_blocks`` (one per stage) and optionally
            ``expand_ratio``, ``bottle_ratio``, ``has_downsampler``, ``down_growth``, ``block_args`` (one value
            for all stages, or one per stage).
        stem_fn: builds the stem from the number of input channels.
        out_indices: stages to return (negative counts from the end).
        frozen_stages: freeze the stem and stages ``0..frozen_stages`` (-1: nothing), as mmcls.
        drop_path_rate: stochastic depth, rising linearly over the blocks.
    """

    def __init__(self, arch: Mapping, stem_fn: Callable[[int], nn.Module], in_channels: int = 3,
                 out_indices: int | Sequence[int] = -1, frozen_stages: int = -1, drop_path_rate: float = 0.,
                 conv_cfg: Mapping | None = None, norm_cfg: Mapping = _BN, act_cfg: Mapping = _LEAKY,
                 norm_eval: bool = False, init_cfg=dict(type='Kaiming', layer='Conv2d')):  # noqa: B006
        super().__init__(init_cfg)
        self.arch = self.expand_arch(arch)
        self.num_stages = len(self.arch['in_channels'])
        self.conv_cfg, self.norm_cfg, self.act_cfg, self.norm_eval = conv_cfg, norm_cfg, act_cfg, norm_eval
        if not isinstance(frozen_stages, int) or not -1 <= frozen_stages < self.num_stages:
            raise ConfigError(f'{type(self).__name__} frozen_stages must be an int in -1..{self.num_stages - 1}, '
                              f'got {frozen_stages!r}')
        self.frozen_stages = frozen_stages
        self.out_indices = check_out_indices(type(self).__name__, out_indices, self.num_stages)
        self.stem = stem_fn(in_channels)
        depths = self.arch['num_blocks']
        rates = torch.linspace(0, drop_path_rate, sum(depths), device='cpu').tolist()
        stages = []
        for i in range(self.num_stages):
            stages.append(CSPStage(**{k: v[i] for k, v in self.arch.items()}, block_dpr=rates[:depths[i]],
                                   conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg))
            rates = rates[depths[i]:]
        self.stages = nn.Sequential(*stages)
        self.feat_dim = self.arch['out_channels'][-1]
        self._freeze_stages()

    @staticmethod
    def expand_arch(arch: Mapping) -> dict:
        """The arch with every setting given per stage."""
        missing = {'block_fn', 'in_channels', 'out_channels', 'num_blocks'} - set(arch)
        if missing:
            raise ConfigError(f'CSPNet arch lacks {sorted(missing)}')
        num_stages = len(arch['in_channels'])

        def per_stage(name, value):
            if isinstance(value, (list, tuple)):
                if len(value) != num_stages:
                    raise ConfigError(f'CSPNet arch {name} has {len(value)} values for {num_stages} stages')
                return tuple(value)
            return (value,) * num_stages

        full = {k: per_stage(k, v) for k, v in arch.items()}
        full.setdefault('block_args', ({},) * num_stages)
        return full

    def _freeze_stages(self) -> None:
        if self.frozen_stages >= 0:
            freeze([self.stem] + list(self.stages[:self.frozen_stages + 1]))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return the outputs of the ``out_indices`` stages, as a tuple."""
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


def _check_depth(cls: type, depth) -> dict:
    if depth not in cls.arch_settings:
        raise ConfigError(f'{cls.__name__} depth must be one of {sorted(cls.arch_settings)}, got {depth!r}')
    return cls.arch_settings[depth]


@BACKBONES.register_module()
class CSPDarkNet(CSPNet):
    """CSP-Darknet-53 (YOLOv4's backbone): a stride-1 3x3 stem and five stages of Darknet bottlenecks."""

    arch_settings = {
        53: dict(block_fn=DarknetBottleneck, in_channels=(32, 64, 128, 256, 512),
                 out_channels=(64, 128, 256, 512, 1024), num_blocks=(1, 2, 8, 8, 4), expand_ratio=(2, 1, 1, 1, 1),
                 bottle_ratio=(2, 1, 1, 1, 1), has_downsampler=True, down_growth=True),
    }

    def __init__(self, depth: int, in_channels: int = 3, out_indices: Sequence[int] = (4,),
                 frozen_stages: int = -1, conv_cfg: Mapping | None = None, norm_cfg: Mapping = _BN,
                 act_cfg: Mapping = _LEAKY, norm_eval: bool = False, drop_path_rate: float = 0.,
                 init_cfg=_DARKNET_INIT):
        super().__init__(_check_depth(type(self), depth), self._make_stem_layer, in_channels, out_indices,
                         frozen_stages, drop_path_rate, conv_cfg, norm_cfg, act_cfg, norm_eval, init_cfg)

    def _make_stem_layer(self, in_channels: int) -> nn.Module:
        return ConvModule(in_channels, self.arch['in_channels'][0], 3, padding=1, norm_cfg=self.norm_cfg,
                          act_cfg=self.act_cfg)


@BACKBONES.register_module()
class CSPResNet(CSPNet):
    """CSP-ResNet-50: a ResNet stem (7x7/2 conv and max-pool, or ``deep_stem``) and ResNet bottlenecks."""

    arch_settings = {
        50: dict(block_fn=ResNetBottleneck, in_channels=(64, 128, 256, 512), out_channels=(128, 256, 512, 1024),
                 num_blocks=(3, 3, 5, 2), expand_ratio=4, bottle_ratio=2,
                 has_downsampler=(False, True, True, True), down_growth=False),
    }

    def __init__(self, depth: int, in_channels: int = 3, out_indices: Sequence[int] = (3,),
                 frozen_stages: int = -1, deep_stem: bool = False, conv_cfg: Mapping | None = None,
                 norm_cfg: Mapping = _BN, act_cfg: Mapping = _LEAKY, norm_eval: bool = False,
                 drop_path_rate: float = 0., init_cfg=dict(type='Kaiming', layer='Conv2d')):  # noqa: B006
        self.deep_stem = deep_stem
        super().__init__(_check_depth(type(self), depth), self._make_stem_layer, in_channels, out_indices,
                         frozen_stages, drop_path_rate, conv_cfg, norm_cfg, act_cfg, norm_eval, init_cfg)

    def _make_stem_layer(self, in_channels: int) -> nn.Module:
        channels = self.arch['in_channels'][0]
        convs = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        if self.deep_stem:
            return nn.Sequential(ConvModule(in_channels, channels // 2, 3, stride=2, padding=1, **convs),
                                 ConvModule(channels // 2, channels // 2, 3, padding=1, **convs),
                                 ConvModule(channels // 2, channels, 3, padding=1, **convs))
        return nn.Sequential(ConvModule(in_channels, channels, 7, stride=2, padding=3, **convs),
                             nn.MaxPool2d(kernel_size=3, stride=2, padding=1))


@BACKBONES.register_module()
class CSPResNeXt(CSPResNet):
    """CSP-ResNeXt-50: CSP-ResNet's stem with ResNeXt bottlenecks (32 groups, ``base_channels=32``)."""

    arch_settings = {
        50: dict(block_fn=ResNeXtBottleneck, in_channels=(64, 256, 512, 1024), out_channels=(256, 512, 1024, 2048),
                 num_blocks=(3, 3, 5, 2), expand_ratio=(4, 2, 2, 2), bottle_ratio=4,
                 has_downsampler=(False, True, True, True), down_growth=False,
                 # CSPNet halves the ResNeXt base width: 32 groups x 4 channels per 32 block channels
                 block_args=dict(base_channels=32)),
    }
