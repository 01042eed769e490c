"""VGG (Simonyan & Zisserman 2015), with mmcls's layer names (``features.N.conv``, ``classifier.{0,3,6}``)."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn

from ...errors import ConfigError, DataError
from ..builder import BACKBONES
from ..layers import ConvModule
from ..utils.stages import check_frozen_stages, check_out_indices
from .base_backbone import BaseBackbone

__all__ = ['VGG', 'make_vgg_layer']

_DEFAULT_INIT = [dict(type='Kaiming', layer=['Conv2d']), dict(type='Constant', val=1., layer=['_BatchNorm']),
                 dict(type='Normal', std=0.01, layer=['Linear'])]


def make_vgg_layer(in_channels: int, out_channels: int, num_blocks: int, conv_cfg: Mapping | None = None,
                   norm_cfg: Mapping | None = None, act_cfg: Mapping | None = dict(type='ReLU'),  # noqa: B006
                   dilation: int = 1, with_norm: bool = False, ceil_mode: bool = False) -> list[nn.Module]:
    """One VGG stage: ``num_blocks`` 3x3 ConvModules (conv bias kept, as in the paper) and a 2x2 max-pool."""
    layers = []
    with warnings.catch_warnings():
        # VGG-BN keeps its conv biases (torchvision and mmcls weights have them)
        warnings.filterwarnings('ignore', message='ConvModule: a conv bias')
        for _ in range(num_blocks):
            layers.append(ConvModule(in_channels, out_channels, 3, padding=dilation, dilation=dilation, bias=True,
                                     conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg))
            in_channels = out_channels
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=ceil_mode))
    return layers


@BACKBONES.register_module()
class VGG(BaseBackbone):
    """VGG-11/13/16/19 backbone, optionally with BN (``norm_cfg=dict(type='BN')``) and its classifier.

    Args:
        depth: 11, 13, 16 or 19.
        num_classes: > 0 adds the 4096-4096-``num_classes`` classifier (needs 224x224 inputs) whose
            logits ``forward`` appends to its outputs; pair it with a plain ``ClsHead``.
        num_stages: how many of the 5 stages to build; dilations: one per stage.
        out_indices: stages whose outputs are returned (default: the classifier output if
            ``num_classes > 0``, else the last stage).
        frozen_stages: how many stages (from the first) to freeze; -1 or 0 freezes nothing.
        norm_eval: keep BatchNorm layers in eval mode while training.
        ceil_mode: of the max-pools. with_last_pool: keep the last stage's max-pool.
    """

    arch_settings = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}

    def __init__(self, depth: int, num_classes: int = -1, num_stages: int = 5,
                 dilations: Sequence[int] = (1, 1, 1, 1, 1), out_indices: Sequence[int] | None = None,
                 frozen_stages: int = -1, conv_cfg: Mapping | None = None, norm_cfg: Mapping | None = None,
                 act_cfg: Mapping | None = dict(type='ReLU'),  # noqa: B006
                 norm_eval: bool = False, ceil_mode: bool = False, with_last_pool: bool = True,
                 init_cfg: Mapping | Sequence[Mapping] | None = _DEFAULT_INIT):
        super().__init__(copy.deepcopy(init_cfg))  # the default list is shared between instances
        self._check_args(depth, num_stages, dilations, frozen_stages)
        self.depth, self.num_classes, self.frozen_stages, self.norm_eval = depth, num_classes, frozen_stages, norm_eval
        self.stage_blocks = self.arch_settings[depth][:num_stages]
        if out_indices is None:
            out_indices = (5,) if num_classes > 0 else (4,)
        # with a classifier, index num_stages names its logits (always appended; mmcls's default (5,) asks for
        # them alone)
        self.out_indices = check_out_indices('VGG', out_indices, num_stages + (num_classes > 0))

        layers, self.range_sub_modules, in_channels = [], [], 3
        for i, num_blocks in enumerate(self.stage_blocks):
            out_channels = 64 * 2**i if i < 4 else 512
            layers += make_vgg_layer(in_channels, out_channels, num_blocks, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                     act_cfg=act_cfg, dilation=dilations[i], with_norm=norm_cfg is not None,
                                     ceil_mode=ceil_mode)
            # each stage owns features[start:end]: its convs and its pool
            self.range_sub_modules.append([len(layers) - num_blocks - 1, len(layers)])
            in_channels = out_channels
        if not with_last_pool:
            layers.pop()
            self.range_sub_modules[-1][1] -= 1
        self.module_name = 'features'
        self.features = nn.Sequential(*layers)
        if num_classes > 0:
            self.classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(),
                nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(),
                nn.Linear(4096, num_classes))
        self._freeze_stages()

    def _check_args(self, depth, num_stages, dilations, frozen_stages) -> None:
        if depth not in self.arch_settings:
            raise ConfigError(f'invalid VGG depth {depth!r}; valid depths: {sorted(self.arch_settings)}')
        if not isinstance(num_stages, int) or not 1 <= num_stages <= 5:
            raise ConfigError(f'VGG num_stages must be 1 to 5, got {num_stages!r}')
        if len(dilations) != num_stages:
            raise ConfigError(f'VGG needs one dilation per stage: num_stages={num_stages}, '
                              f'dilations={tuple(dilations)}')
        check_frozen_stages('VGG', frozen_stages, -1, num_stages)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return the ``out_indices`` stage outputs, then the classifier's logits if it has one."""
        outs = []
        for i, (start, end) in enumerate(self.range_sub_modules):
            for j in range(start, end):
                x = self.features[j](x)
            if i in self.out_indices:
                outs.append(x)
        if self.num_classes > 0:
            if x.shape[1:] != (512, 7, 7):
                raise DataError(f'VGG with num_classes={self.num_classes} has a classifier for 512x7x7 features, '
                                f'i.e. 224x224 images; these images give {tuple(x.shape[1:])}. Resize or crop '
                                'the inputs to 224x224, or set num_classes=-1 and use a neck + LinearClsHead')
            outs.append(self.classifier(x.flatten(1)))
        return tuple(outs)

    def _freeze_stages(self) -> None:
        """Put the first ``frozen_stages`` stages in eval mode and stop their gradients."""
        for i in range(max(self.frozen_stages, 0)):
            for j in range(*self.range_sub_modules[i]):
                module = self.features[j]
                module.eval()
                for param in module.parameters():
                    param.requires_grad = False

