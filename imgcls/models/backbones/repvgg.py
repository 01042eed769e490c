"""RepVGG (Ding et al. 2021): three-branch blocks for training that merge into one 3x3 conv for inference."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import ConvModule, SELayer, build_activation_layer, build_conv_layer, build_norm_layer
from ..utils.reparam import conv_from_kernel, fold_norm, identity_kernel, pad_kernel
from ..utils.stages import check_frozen_stages, check_out_indices, freeze
from .base_backbone import BaseBackbone

__all__ = ['MTSPPF', 'RepVGG', 'RepVGGBlock']


class RepVGGBlock(nn.Module):
    """3x3 conv+BN, 1x1 conv+BN and (when shapes allow) a BN identity, summed, [SE], activation.

    Training-time keys: ``branch_3x3.{conv,norm}``, ``branch_1x1.{conv,norm}``, ``branch_norm``;
    deploy-time: ``branch_reparam`` (one 3x3 conv with bias). ``se_layer`` and ``act`` in both.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, padding: int = 1, dilation: int = 1,
                 groups: int = 1, padding_mode: str = 'zeros', se_cfg: Mapping | None = None,
                 with_cp: bool = False, conv_cfg: Mapping | None = None,
                 norm_cfg: Mapping = dict(type='BN'), act_cfg: Mapping = dict(type='ReLU'),  # noqa: B006
                 deploy: bool = False, init_cfg=None):
        super().__init__()
        if se_cfg is not None and not isinstance(se_cfg, Mapping):
            raise ConfigError(f'RepVGGBlock se_cfg must be a dict or None, got {se_cfg!r}')
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.padding, self.dilation, self.groups, self.padding_mode = padding, dilation, groups, padding_mode
        self.se_cfg, self.with_cp, self.deploy = se_cfg, with_cp, deploy
        self.conv_cfg, self.norm_cfg, self.act_cfg = conv_cfg, norm_cfg, act_cfg
        if deploy:
            self.branch_reparam = build_conv_layer(conv_cfg, in_channels, out_channels, 3, stride=stride,
                                                   padding=padding, dilation=dilation, groups=groups, bias=True,
                                                   padding_mode=padding_mode)
        else:
            # the identity branch exists only where the block keeps the input's shape
            keeps_shape = in_channels == out_channels and stride == 1 and padding == dilation
            self.branch_norm = build_norm_layer(norm_cfg, in_channels)[1] if keeps_shape else None
            self.branch_3x3 = self._conv_norm(3, dilation=dilation, padding=padding)
            self.branch_1x1 = self._conv_norm(1)
        self.se_layer = SELayer(channels=out_channels, **se_cfg) if se_cfg is not None else None
        self.act = build_activation_layer(act_cfg)

    def _conv_norm(self, kernel_size: int, dilation: int = 1, padding: int = 0) -> nn.Sequential:
        branch = nn.Sequential()
        branch.add_module('conv', build_conv_layer(
            self.conv_cfg, self.in_channels, self.out_channels, kernel_size, stride=self.stride, dilation=dilation,
            padding=padding, groups=self.groups, bias=False))
        branch.add_module('norm', build_norm_layer(self.norm_cfg, self.out_channels)[1])
        return branch

    def _inner(self, x: torch.Tensor) -> torch.Tensor:
        if self.deploy:
            out = self.branch_reparam(x)
        else:
            out = self.branch_3x3(x) + self.branch_1x1(x)
            if self.branch_norm is not None:
                out = out + self.branch_norm(x)
        return out if self.se_layer is None else self.se_layer(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad and self.training:
            out = cp.checkpoint(self._inner, x, use_reentrant=False)
        else:
            out = self._inner(x)
        return self.act(out)

    def reparameterize(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The 3x3 kernel and bias equal to the three branches in eval mode."""
        weight, bias = fold_norm(self.branch_3x3.conv.weight, self.branch_3x3.norm)
        weight_1x1, bias_1x1 = fold_norm(self.branch_1x1.conv.weight, self.branch_1x1.norm)
        weight, bias = weight + pad_kernel(weight_1x1, 3), bias + bias_1x1
        if self.branch_norm is not None:
            ident = identity_kernel(self.in_channels, self.groups, 3, like=weight)
            weight_id, bias_id = fold_norm(ident, self.branch_norm)
            weight, bias = weight + weight_id, bias + bias_id
        return weight, bias

    @torch.no_grad()
    def switch_to_deploy(self) -> None:
        """Replace the branches with ``branch_reparam``, which gives the same eval-mode output."""
        if self.deploy:
            return
        weight, bias = self.reparameterize()
        self.branch_reparam = conv_from_kernel(self.branch_3x3.conv, weight, bias)
        self.branch_reparam.padding = self.branch_3x3.conv.padding
        del self.branch_3x3, self.branch_1x1, self.branch_norm
        self.deploy = True


class MTSPPF(nn.Module):
    """Spatial pyramid pooling of YOLOX-PAI: 1x1 halve, three chained k x k max-pools, concat, 1x1."""

    def __init__(self, in_channels: int, out_channels: int, norm_cfg: Mapping = dict(type='BN'),  # noqa: B006
                 act_cfg: Mapping = dict(type='ReLU'), kernel_size: int = 5):  # noqa: B006
        super().__init__()
        hidden = in_channels // 2
        self.conv1 = ConvModule(in_channels, hidden, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv2 = ConvModule(hidden * 4, out_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.maxpool = nn.MaxPool2d(kernel_size=kernel_size, stride=1, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        pooled = [x]
        for _ in range(3):
            pooled.append(self.maxpool(pooled[-1]))
        return self.conv2(torch.cat(pooled, 1))


_GROUPED_LAYERS = range(2, 27, 2)  # the 1-based block indices (stem excluded) with grouped convs in B*g2/B*g4


def _arch(num_blocks, width_factor, groups=None, se_cfg=None, **extra) -> dict:
    group_map = {layer: groups for layer in _GROUPED_LAYERS} if groups else None
    return dict(num_blocks=num_blocks, width_factor=width_factor, group_layer_map=group_map, se_cfg=se_cfg, **extra)


_A, _B = [2, 4, 14, 1], [4, 6, 16, 1]


@BACKBONES.register_module()
class RepVGG(BaseBackbone):
    """RepVGG backbone with mmcls's keys: ``stem``, ``stage_1`` .. ``stage_4`` of :class:`RepVGGBlock`.

    Args:
        arch: 'A0'..'A2', 'B0'..'B3', the grouped 'B1g2' / 'B1g4' / 'B2g2' / 'B2g4' / 'B3g2' / 'B3g4', 'D2se',
            'yolox-pai-small', or a dict with ``num_blocks``, ``width_factor``, ``group_layer_map`` (block
            index -> groups, or None), ``se_cfg`` and optionally ``stem_channels`` (default 64).
        base_channels: stage ``i`` has ``int(base_channels * 2**i * width_factor[i])`` channels.
        strides / dilations: one per stage (the stride of its first block).
        frozen_stages: freeze the stem and the first ``frozen_stages`` stages (-1: nothing).
        deploy: build the inference form (one 3x3 conv per block); :meth:`switch_to_deploy` converts.
        add_ppf: append the :class:`MTSPPF` pooling block after the last stage (YOLOX-PAI).
    """

    arch_settings = {
        'A0': _arch(_A, [0.75, 0.75, 0.75, 2.5]),
        'A1': _arch(_A, [1, 1, 1, 2.5]),
        'A2': _arch(_A, [1.5, 1.5, 1.5, 2.75]),
        'B0': _arch(_B, [1, 1, 1, 2.5], stem_channels=64),
        'B1': _arch(_B, [2, 2, 2, 4]),
        'B1g2': _arch(_B, [2, 2, 2, 4], groups=2),
        'B1g4': _arch(_B, [2, 2, 2, 4], groups=4),
        'B2': _arch(_B, [2.5, 2.5, 2.5, 5]),
        'B2g2': _arch(_B, [2.5, 2.5, 2.5, 5], groups=2),
        'B2g4': _arch(_B, [2.5, 2.5, 2.5, 5], groups=4),
        'B3': _arch(_B, [3, 3, 3, 5]),
        'B3g2': _arch(_B, [3, 3, 3, 5], groups=2),
        'B3g4': _arch(_B, [3, 3, 3, 5], groups=4),
        'D2se': _arch([8, 14, 24, 1], [2.5, 2.5, 2.5, 5], se_cfg=dict(ratio=16, divisor=1)),
        'yolox-pai-small': _arch([3, 5, 7, 3], [1, 1, 1, 1], stem_channels=32),
    }

    def __init__(self, arch: str | Mapping, in_channels: int = 3, base_channels: int = 64,
                 out_indices: Sequence[int] = (3,), strides: Sequence[int] = (2, 2, 2, 2),
                 dilations: Sequence[int] = (1, 1, 1, 1), frozen_stages: int = -1, conv_cfg: Mapping | None = None,
                 norm_cfg: Mapping = dict(type='BN'), act_cfg: Mapping = dict(type='ReLU'),  # noqa: B006
                 with_cp: bool = False, deploy: bool = False, norm_eval: bool = False, add_ppf: bool = False,
                 init_cfg=(dict(type='Kaiming', layer=['Conv2d']),
                           dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']))):
        super().__init__(list(init_cfg) if isinstance(init_cfg, tuple) else init_cfg)
        self.arch = self._check_arch(arch, strides, dilations)
        num_stages = len(self.arch['num_blocks'])
        self.out_indices = check_out_indices('RepVGG', out_indices, num_stages)
        self.frozen_stages = check_frozen_stages('RepVGG', frozen_stages, -1, num_stages)
        self.base_channels, self.in_channels = base_channels, in_channels
        self.strides, self.dilations, self.deploy = tuple(strides), tuple(dilations), deploy
        self.conv_cfg, self.norm_cfg, self.act_cfg = conv_cfg, norm_cfg, act_cfg
        self.with_cp, self.norm_eval = with_cp, norm_eval

        # the stem is never wider than the first stage
        channels = min(self.arch.get('stem_channels', 64), int(base_channels * self.arch['width_factor'][0]))
        self.stem = self._block(in_channels, channels, stride=2)
        self.stages, block_index = [], 1
        for i, num_blocks in enumerate(self.arch['num_blocks']):
            out_channels = int(base_channels * 2**i * self.arch['width_factor'][i])
            blocks = []
            for j in range(num_blocks):
                groups = (self.arch['group_layer_map'] or {}).get(block_index, 1)
                blocks.append(self._block(channels if j == 0 else out_channels, out_channels,
                                          stride=self.strides[i] if j == 0 else 1, dilation=self.dilations[i],
                                          groups=groups))
                block_index += 1
            self.add_module(f'stage_{i + 1}', nn.Sequential(*blocks))
            self.stages.append(f'stage_{i + 1}')
            channels = out_channels
        self.ppf = MTSPPF(channels, channels, norm_cfg=norm_cfg, act_cfg=act_cfg) if add_ppf else None
        self.feat_dim = channels
        self._freeze_stages()

    def _check_arch(self, arch, strides, dilations) -> dict:
        if isinstance(arch, str):
            if arch not in self.arch_settings:
                raise ConfigError(f'RepVGG arch {arch!r} is unknown; choose one of {sorted(self.arch_settings)} '
                                  'or give a dict')
            return self.arch_settings[arch]
        if not isinstance(arch, Mapping):
            raise ConfigError(f'RepVGG arch must be a name or a dict, got {type(arch).__name__}')
        missing = {'num_blocks', 'width_factor', 'group_layer_map', 'se_cfg'} - set(arch)
        if missing:
            raise ConfigError(f'RepVGG arch dict lacks {sorted(missing)}')
        if not len(arch['num_blocks']) == len(arch['width_factor']) == len(strides) == len(dilations):
            raise ConfigError(f"RepVGG needs one num_blocks, width_factor, stride and dilation per stage: got "
                              f"{len(arch['num_blocks'])}, {len(arch['width_factor'])}, {len(strides)} and "
                              f'{len(dilations)}')
        group_map = arch['group_layer_map']
        if group_map and max(group_map) > sum(arch['num_blocks']):
            raise ConfigError(f'RepVGG group_layer_map names block {max(group_map)}, but there are only '
                              f"{sum(arch['num_blocks'])} blocks")
        return dict(arch)

    def _block(self, in_channels: int, out_channels: int, stride: int, dilation: int = 1,
               groups: int = 1) -> RepVGGBlock:
        return RepVGGBlock(in_channels, out_channels, stride=stride, padding=dilation, dilation=dilation,
                           groups=groups, se_cfg=self.arch['se_cfg'], with_cp=self.with_cp, conv_cfg=self.conv_cfg,
                           norm_cfg=self.norm_cfg, act_cfg=self.act_cfg, deploy=self.deploy)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return the outputs of the ``out_indices`` stages (the last one after MTSPPF, if any)."""
        x = self.stem(x)
        outs = []
        for i, name in enumerate(self.stages):
            x = getattr(self, name)(x)
            if i == len(self.stages) - 1 and self.ppf is not None:
                x = self.ppf(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _freeze_stages(self) -> None:
        if self.frozen_stages >= 0:
            freeze([self.stem] + [getattr(self, name) for name in self.stages[:self.frozen_stages]])

    def switch_to_deploy(self) -> None:
        """Merge every block's branches into one 3x3 conv (the eval-mode output stays the same)."""
        for m in list(self.modules()):
            if isinstance(m, RepVGGBlock):
                m.switch_to_deploy()
        self.deploy = True
