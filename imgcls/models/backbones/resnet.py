"""ResNet (He et al. 2016) and its V1c / V1d variants, with mmcls's layer names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from torch.nn.modules.batchnorm import _BatchNorm

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import (
    ConvModule,
    DropPath,
    build_activation_layer,
    build_conv_layer,
    build_norm_layer,
    constant_init,
    kaiming_init,
)
from ..utils.stages import check_frozen_stages, check_out_indices
from .base_backbone import BaseBackbone

_EPS = 1e-5


def _drop_path_or_identity(rate: float) -> nn.Module:
    # nn.Identity when unused, so blocks stay exactly as cheap as without stochastic depth
    return DropPath(drop_prob=rate) if rate > _EPS else nn.Identity()


def add_residual(out: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
    """``out + identity``, written into ``out`` (the block's own fresh tensor, which no autograd node needs
    unchanged) when the dtypes agree: one activation-sized allocation less per block."""
    if out.dtype != identity.dtype:  # e.g. an fp32 input under autocast: let the add promote
        return out + identity
    return out.add_(identity)


torch.fx.wrap('add_residual')  # a single node in fx traces (fuse_conv_bn), not a data-dependent branch


class _ResBlock(nn.Module):
    """What BasicBlock and Bottleneck share: norm properties, the residual add, checkpointing."""

    expansion = 1

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def inner(x):
            identity = x if self.downsample is None else self.downsample(x)
            return add_residual(self.drop_path(self._residual(x)), identity)

        if self.with_cp and x.requires_grad and self.training:
            # recompute the block in backward instead of storing its activations
            out = cp.checkpoint(inner, x, use_reentrant=False)
        else:
            out = inner(x)
        return self.relu(out)


class BasicBlock(_ResBlock):
    """Two 3x3 convs (ResNet-18/34). ``out_channels`` is the block's output width."""

    expansion = 1

    def __init__(self, in_channels: int, out_channels: int, expansion: int = 1, stride: int = 1,
                 dilation: int = 1, downsample: nn.Module | None = None, style: str = 'pytorch',
                 with_cp: bool = False, conv_cfg: Mapping | None = None,
                 norm_cfg: Mapping = dict(type='BN'), drop_path_rate: float = 0.0,  # noqa: B006
                 act_cfg: Mapping = dict(type='ReLU', inplace=True), init_cfg=None):  # noqa: B006
        super().__init__()
        if expansion != 1:
            raise ConfigError(f'BasicBlock expansion must be 1, got {expansion}')
        self.in_channels, self.out_channels, self.expansion = in_channels, out_channels, expansion
        self.mid_channels = out_channels // expansion
        self.stride, self.dilation, self.style, self.with_cp = stride, dilation, style, with_cp
        self.conv_cfg, self.norm_cfg = conv_cfg, norm_cfg

        self.norm1_name, norm1 = build_norm_layer(norm_cfg, self.mid_channels, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, out_channels, postfix=2)
        self.conv1 = build_conv_layer(conv_cfg, in_channels, self.mid_channels, 3, stride=stride,
                                      padding=dilation, dilation=dilation, bias=False)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(conv_cfg, self.mid_channels, out_channels, 3, padding=1, bias=False)
        self.add_module(self.norm2_name, norm2)
        self.relu = build_activation_layer(act_cfg)
        self.downsample = downsample
        self.drop_path = _drop_path_or_identity(drop_path_rate)

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.norm1(self.conv1(x)))
        return self.norm2(self.conv2(out))


class Bottleneck(_ResBlock):
    """1x1 reduce, 3x3, 1x1 expand (ResNet-50/101/152).

    ``style='pytorch'`` puts the stride on the 3x3 conv, ``'caffe'`` on the first 1x1.
    """

    expansion = 4

    def __init__(self, in_channels: int, out_channels: int, expansion: int = 4, stride: int = 1,
                 dilation: int = 1, downsample: nn.Module | None = None, style: str = 'pytorch',
                 with_cp: bool = False, conv_cfg: Mapping | None = None,
                 norm_cfg: Mapping = dict(type='BN'), drop_path_rate: float = 0.0,  # noqa: B006
                 act_cfg: Mapping = dict(type='ReLU', inplace=True), init_cfg=None):  # noqa: B006
        super().__init__()
        if style not in ('pytorch', 'caffe'):
            raise ConfigError(f"ResNet style must be 'pytorch' or 'caffe', got {style!r}")
        if out_channels % expansion != 0:
            raise ConfigError(f'Bottleneck out_channels={out_channels} is not divisible by '
                              f'expansion={expansion}')
        self.in_channels, self.out_channels, self.expansion = in_channels, out_channels, expansion
        self.mid_channels = out_channels // expansion
        self.stride, self.dilation, self.style, self.with_cp = stride, dilation, style, with_cp
        self.conv_cfg, self.norm_cfg = conv_cfg, norm_cfg
        self.conv1_stride, self.conv2_stride = (1, stride) if style == 'pytorch' else (stride, 1)

        mid = self.mid_channels
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, mid, postfix=1)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, mid, postfix=2)
        self.norm3_name, norm3 = build_norm_layer(norm_cfg, out_channels, postfix=3)
        self.conv1 = build_conv_layer(conv_cfg, in_channels, mid, 1, stride=self.conv1_stride, bias=False)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(conv_cfg, mid, mid, 3, stride=self.conv2_stride, padding=dilation,
                                      dilation=dilation, bias=False)
        self.add_module(self.norm2_name, norm2)
        self.conv3 = build_conv_layer(conv_cfg, mid, out_channels, 1, bias=False)
        self.add_module(self.norm3_name, norm3)
        self.relu = build_activation_layer(act_cfg)
        self.downsample = downsample
        self.drop_path = _drop_path_or_identity(drop_path_rate)

    @property
    def norm3(self) -> nn.Module:
        return getattr(self, self.norm3_name)

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.relu(self.norm2(self.conv2(out)))
        return self.norm3(self.conv3(out))


def get_expansion(block: type, expansion: int | None = None) -> int:
    """The channel expansion of ``block``: ``expansion`` if given, else the block's own."""
    if expansion is not None:
        if not isinstance(expansion, int) or expansion <= 0:
            raise ConfigError(f'expansion must be a positive int, got {expansion!r}')
        return expansion
    if hasattr(block, 'expansion'):
        return block.expansion
    raise ConfigError(f'cannot tell the expansion of {block.__name__}: pass expansion=...')


class ResLayer(nn.Sequential):
    """One ResNet stage: ``num_blocks`` blocks, the first of which may downsample.

    Args:
        avg_down: downsample the shortcut with an AvgPool2d before a stride-1 1x1 conv
            (ResNet-D) instead of a strided 1x1 conv.
        drop_path_rate: one rate for all blocks, or one per block.
        kwargs: passed to every block (style, dilation, with_cp, act_cfg...).
    """

    def __init__(self, block: type, num_blocks: int, in_channels: int, out_channels: int,
                 expansion: int | None = None, stride: int = 1, avg_down: bool = False,
                 conv_cfg: Mapping | None = None, norm_cfg: Mapping = dict(type='BN'),  # noqa: B006
                 drop_path_rate: float | Sequence[float] = 0.0, **kwargs):
        self.block = block
        self.expansion = get_expansion(block, expansion)
        rates = [float(drop_path_rate)] * num_blocks if isinstance(drop_path_rate, (int, float)) \
            else list(drop_path_rate)
        if len(rates) != num_blocks:
            raise ConfigError(f'drop_path_rate has {len(rates)} values for {num_blocks} blocks')

        downsample = None
        if stride != 1 or in_channels != out_channels:
            parts, conv_stride = [], stride
            if avg_down and stride != 1:
                conv_stride = 1
                parts.append(nn.AvgPool2d(kernel_size=stride, stride=stride, ceil_mode=True,
                                          count_include_pad=False))
            parts.append(build_conv_layer(conv_cfg, in_channels, out_channels, kernel_size=1,
                                          stride=conv_stride, bias=False))
            parts.append(build_norm_layer(norm_cfg, out_channels)[1])
            downsample = nn.Sequential(*parts)

        blocks = []
        for i in range(num_blocks):
            first = i == 0
            blocks.append(block(in_channels=in_channels if first else out_channels, out_channels=out_channels,
                                expansion=self.expansion, stride=stride if first else 1,
                                downsample=downsample if first else None, conv_cfg=conv_cfg,
                                norm_cfg=norm_cfg, drop_path_rate=rates[i], **kwargs))
        super().__init__(*blocks)


def _check_resnet_args(depth, num_stages, strides, dilations, out_indices, frozen_stages, style,
                       valid_depths, name: str = 'ResNet'):
    """Raise ConfigError for ResNet arguments that do not fit together; return normalized out_indices."""
    if depth not in valid_depths:
        raise ConfigError(f'invalid {name} depth {depth!r}; valid depths: {sorted(valid_depths)}')
    if not isinstance(num_stages, int) or not 1 <= num_stages <= 4:
        raise ConfigError(f'{name} num_stages must be 1, 2, 3 or 4, got {num_stages!r}')
    if len(strides) != num_stages or len(dilations) != num_stages:
        raise ConfigError(f'{name} needs one stride and one dilation per stage: num_stages={num_stages}, '
                          f'strides={tuple(strides)}, dilations={tuple(dilations)}')
    if style not in ('pytorch', 'caffe'):
        raise ConfigError(f"{name} style must be 'pytorch' or 'caffe', got {style!r}")
    check_frozen_stages(name, frozen_stages, -1, num_stages)
    return check_out_indices(name, out_indices, num_stages)


@BACKBONES.register_module()
class ResNet(BaseBackbone):
    """ResNet backbone, as in mmcls 0.x (state-dict keys ``conv1``, ``bn1``, ``layer1.0.conv1``...).

    Args:
        depth: 18, 34, 50, 101 or 152.
        stem_channels: width of the stem; base_channels: width of the first stage (before expansion).
        expansion: the blocks' channel expansion (default: 1 for BasicBlock, 4 for Bottleneck).
        num_stages: how many of the 4 stages to build.
        strides / dilations: one per stage.
        out_indices: the stages whose outputs ``forward`` returns, as a tuple.
        style: 'pytorch' (stride on the 3x3 conv) or 'caffe' (stride on the first 1x1).
        deep_stem: three 3x3 convs instead of one 7x7 (ResNet-C); avg_down: ResNet-D shortcuts.
        frozen_stages: stages to freeze (0 freezes the stem only, -1 nothing).
        norm_eval: keep BatchNorm layers in eval mode while training.
        with_cp: gradient checkpointing in the blocks (less memory, more compute).
        zero_init_residual: start each block's last norm at zero so blocks begin as identities.
        drop_path_rate: stochastic depth, rising linearly from 0 to this rate over the blocks.
    """

    arch_settings = {
        18: (BasicBlock, (2, 2, 2, 2)),
        34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(self, depth: int, in_channels: int = 3, stem_channels: int = 64, base_channels: int = 64,
                 expansion: int | None = None, num_stages: int = 4, strides: Sequence[int] = (1, 2, 2, 2),
                 dilations: Sequence[int] = (1, 1, 1, 1), out_indices: Sequence[int] = (3,),
                 style: str = 'pytorch', deep_stem: bool = False, avg_down: bool = False,
                 frozen_stages: int = -1, conv_cfg: Mapping | None = None,
                 norm_cfg: Mapping = dict(type='BN', requires_grad=True),  # noqa: B006
                 norm_eval: bool = False, with_cp: bool = False, zero_init_residual: bool = True,
                 init_cfg: Mapping | Sequence[Mapping] | None = None, drop_path_rate: float = 0.0):
        super().__init__(init_cfg)
        self.out_indices = _check_resnet_args(depth, num_stages, strides, dilations, out_indices,
                                              frozen_stages, style, self.arch_settings, type(self).__name__)
        self.depth, self.stem_channels, self.base_channels = depth, stem_channels, base_channels
        self.num_stages, self.strides, self.dilations = num_stages, tuple(strides), tuple(dilations)
        self.style, self.deep_stem, self.avg_down = style, deep_stem, avg_down
        self.frozen_stages, self.conv_cfg, self.norm_cfg = frozen_stages, conv_cfg, norm_cfg
        self.with_cp, self.norm_eval, self.zero_init_residual = with_cp, norm_eval, zero_init_residual
        self.block, stage_blocks = self.arch_settings[depth]
        self.stage_blocks = stage_blocks[:num_stages]
        self.expansion = get_expansion(self.block, expansion)

        self._make_stem_layer(in_channels, stem_channels)

        total = sum(self.stage_blocks)
        rates = [drop_path_rate * i / (total - 1) if total > 1 else 0.0 for i in range(total)]
        self.res_layers = []
        in_ch, out_ch = stem_channels, base_channels * self.expansion
        for i, num_blocks in enumerate(self.stage_blocks):
            res_layer = self.make_res_layer(
                block=self.block, num_blocks=num_blocks, in_channels=in_ch, out_channels=out_ch,
                expansion=self.expansion, stride=self.strides[i], dilation=self.dilations[i], style=style,
                avg_down=avg_down, with_cp=with_cp, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                drop_path_rate=rates[:num_blocks])
            rates = rates[num_blocks:]
            in_ch, out_ch = out_ch, out_ch * 2
            layer_name = f'layer{i + 1}'
            self.add_module(layer_name, res_layer)
            self.res_layers.append(layer_name)

        self._freeze_stages()
        self.feat_dim = res_layer[-1].out_channels

    def make_res_layer(self, **kwargs) -> ResLayer:
        """Build one stage (override to change how stages are built)."""
        return ResLayer(**kwargs)

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        """Build the stem: a 7x7/2 conv (or three 3x3 convs with deep_stem) and a 3x3/2 max-pool."""
        if self.deep_stem:
            half = stem_channels // 2
            self.stem = nn.Sequential(
                ConvModule(in_channels, half, 3, stride=2, padding=1, conv_cfg=self.conv_cfg,
                           norm_cfg=self.norm_cfg, inplace=True),
                ConvModule(half, half, 3, stride=1, padding=1, conv_cfg=self.conv_cfg,
                           norm_cfg=self.norm_cfg, inplace=True),
                ConvModule(half, stem_channels, 3, stride=1, padding=1, conv_cfg=self.conv_cfg,
                           norm_cfg=self.norm_cfg, inplace=True))
        else:
            self.conv1 = build_conv_layer(self.conv_cfg, in_channels, stem_channels, kernel_size=7, stride=2,
                                          padding=3, bias=False)
            self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, stem_channels, postfix=1)
            self.add_module(self.norm1_name, norm1)
            self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def _stem_modules(self) -> list[nn.Module]:
        return [self.stem] if self.deep_stem else [self.conv1, self.norm1]

    def _freeze_stages(self) -> None:
        """Put the frozen stem and stages in eval mode and stop their gradients."""
        frozen = (self._stem_modules() if self.frozen_stages >= 0 else []) + \
            [getattr(self, f'layer{i}') for i in range(1, self.frozen_stages + 1)]
        for m in frozen:
            m.eval()
            for param in m.parameters():
                param.requires_grad = False

    def init_weights(self, pretrained: str | None = None) -> None:
        """Kaiming convs, unit norms, zero last norms; or load ``pretrained`` / a Pretrained init_cfg."""
        if pretrained is not None or self.init_cfg is not None:
            super().init_weights(pretrained)
            if pretrained is not None or self.is_pretrained_init():
                return
        else:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    kaiming_init(m)
                elif isinstance(m, (_BatchNorm, nn.GroupNorm)):
                    constant_init(m, 1)
        if self.zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    constant_init(m.norm3, 0)
                elif isinstance(m, BasicBlock):
                    constant_init(m.norm2, 0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return the outputs of the ``out_indices`` stages, as a tuple."""
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.norm1(self.conv1(x)))
        maxpool = getattr(self, 'maxpool', None)  # a subclass's own stem may have none
        if maxpool is not None:
            x = maxpool(x)
        outs = []
        for i, layer_name in enumerate(self.res_layers):
            x = getattr(self, layer_name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


@BACKBONES.register_module()
class ResNetV1c(ResNet):
    """ResNet-C: the 7x7 stem conv replaced by three 3x3 convs (``stem.0`` .. ``stem.2``)."""

    def __init__(self, depth: int, **kwargs):
        super().__init__(depth, deep_stem=True, avg_down=False, **kwargs)


@BACKBONES.register_module()
class ResNetV1d(ResNet):
    """ResNet-D: the deep stem of ResNet-C plus shortcuts that average-pool before a stride-1 1x1 conv."""

    def __init__(self, depth: int, **kwargs):
        super().__init__(depth, deep_stem=True, avg_down=True, **kwargs)
