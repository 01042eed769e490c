"""MobileNetV3 (Howard et al. 2019), small and large, with mmcls's layer names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import ConvModule
from ..utils.inverted_residual import InvertedResidual
from ..utils.stages import check_frozen_stages, check_out_indices, freeze
from .base_backbone import BaseBackbone

__all__ = ['MobileNetV3']

# the gate of MobileNetV3's SE: relu6(x + 3) / 6
_SE_ACTS = (dict(type='ReLU'), dict(type='HSigmoid', bias=3, divisor=6, min_value=0, max_value=1))


@BACKBONES.register_module()
class MobileNetV3(BaseBackbone):
    """MobileNetV3 backbone: ``layer0`` (stem), ``layer1`` .. ``layerN`` (blocks), ``layer{N+1}`` (1x1 conv).

    Args:
        arch: 'small' (11 blocks, 576 output channels) or 'large' (15 blocks, 960).
        out_indices: layer indices to return; default the last (12 for small, 16 for large).
        frozen_stages: freeze ``layer0`` .. ``layer<frozen_stages>`` (-1: nothing).
        norm_eval: keep BatchNorm layers in eval mode while training.
        with_cp: gradient checkpointing in the blocks.
    """

    # kernel size, mid channels, out channels, with SE, activation, stride
    arch_settings = {
        'small': [[3, 16, 16, True, 'ReLU', 2], [3, 72, 24, False, 'ReLU', 2], [3, 88, 24, False, 'ReLU', 1],
                  [5, 96, 40, True, 'HSwish', 2], [5, 240, 40, True, 'HSwish', 1],
                  [5, 240, 40, True, 'HSwish', 1], [5, 120, 48, True, 'HSwish', 1],
                  [5, 144, 48, True, 'HSwish', 1], [5, 288, 96, True, 'HSwish', 2],
                  [5, 576, 96, True, 'HSwish', 1], [5, 576, 96, True, 'HSwish', 1]],
        'large': [[3, 16, 16, False, 'ReLU', 1], [3, 64, 24, False, 'ReLU', 2], [3, 72, 24, False, 'ReLU', 1],
                  [5, 72, 40, True, 'ReLU', 2], [5, 120, 40, True, 'ReLU', 1], [5, 120, 40, True, 'ReLU', 1],
                  [3, 240, 80, False, 'HSwish', 2], [3, 200, 80, False, 'HSwish', 1],
                  [3, 184, 80, False, 'HSwish', 1], [3, 184, 80, False, 'HSwish', 1],
                  [3, 480, 112, True, 'HSwish', 1], [3, 672, 112, True, 'HSwish', 1],
                  [5, 672, 160, True, 'HSwish', 2], [5, 960, 160, True, 'HSwish', 1],
                  [5, 960, 160, True, 'HSwish', 1]],
    }

    def __init__(self, arch: str = 'small', conv_cfg: Mapping | None = None,
                 norm_cfg: Mapping = dict(type='BN', eps=0.001, momentum=0.01),  # noqa: B006
                 out_indices: Sequence[int] | None = None, frozen_stages: int = -1, norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg=[dict(type='Kaiming', layer=['Conv2d'], nonlinearity='leaky_relu'),  # noqa: B006
                           dict(type='Normal', layer=['Linear'], std=0.01),
                           dict(type='Constant', layer=['BatchNorm2d'], val=1)]):
        super().__init__(init_cfg)
        if arch not in self.arch_settings:
            raise ConfigError(f'MobileNetV3 arch {arch!r} is not one of {", ".join(self.arch_settings)}')
        num_layers = len(self.arch_settings[arch]) + 2
        if out_indices is None:
            out_indices = (num_layers - 1,)
        self.out_indices = check_out_indices('MobileNetV3', out_indices, num_layers)
        self.frozen_stages = check_frozen_stages('MobileNetV3', frozen_stages, -1, num_layers - 1)
        self.arch, self.conv_cfg, self.norm_cfg = arch, conv_cfg, norm_cfg
        self.norm_eval, self.with_cp = norm_eval, with_cp
        self.layers = self._make_layer()
        self.feat_dim = self.arch_settings[arch][-1][1]
        self._freeze_stages()

    def _make_layer(self) -> list[str]:
        """Build ``layer0`` .. ``layer{N+1}`` and return their names."""
        convs = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg)
        settings = self.arch_settings[self.arch]
        in_channels = 16
        self.add_module('layer0', ConvModule(3, in_channels, 3, stride=2, padding=1,
                                             act_cfg=dict(type='HSwish'), **convs))
        for i, (kernel_size, mid_channels, out_channels, with_se, act, stride) in enumerate(settings):
            se_cfg = dict(channels=mid_channels, ratio=4, act_cfg=_SE_ACTS) if with_se else None
            block = InvertedResidual(in_channels, out_channels, mid_channels, kernel_size=kernel_size, stride=stride,
                                     se_cfg=se_cfg, act_cfg=dict(type=act), with_cp=self.with_cp, **convs)
            self.add_module(f'layer{i + 1}', block)
            in_channels = out_channels
        last_channels = 576 if self.arch == 'small' else 960
        self.add_module(f'layer{len(settings) + 1}',
                        ConvModule(in_channels, last_channels, 1, act_cfg=dict(type='HSwish'), **convs))
        return [f'layer{i}' for i in range(len(settings) + 2)]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return the outputs of the ``out_indices`` layers, as a tuple."""
        outs = []
        for i, name in enumerate(self.layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _freeze_stages(self) -> None:
        freeze([getattr(self, f'layer{i}') for i in range(self.frozen_stages + 1)])

