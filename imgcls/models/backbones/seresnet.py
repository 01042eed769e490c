"""SE-ResNet (Hu et al. 2018): ResNet bottlenecks whose residual branch ends in a Squeeze-and-Excitation gate."""

from __future__ import annotations

import torch

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import SELayer
from .resnet import Bottleneck, ResLayer, ResNet

__all__ = ['SEBottleneck', 'SEResNet']


def _check_se_ratio(se_ratio) -> None:
    if isinstance(se_ratio, bool) or not isinstance(se_ratio, (int, float)) or se_ratio < 1:
        raise ConfigError(f'se_ratio must be a number >= 1 (the SE squeeze factor, 16 in the paper), '
                          f'got {se_ratio!r}')


class SEBottleneck(Bottleneck):
    """A ResNet bottleneck followed by an SE layer (``se_layer``) on its ``out_channels`` outputs."""

    def __init__(self, in_channels: int, out_channels: int, se_ratio: int = 16, **kwargs):
        super().__init__(in_channels, out_channels, **kwargs)
        _check_se_ratio(se_ratio)
        self.se_layer = SELayer(out_channels, ratio=se_ratio)

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        return self.se_layer(super()._residual(x))


@BACKBONES.register_module()
class SEResNet(ResNet):
    """SE-ResNet backbone as in mmcls (SE-ResNet-50/101/152; SE keys ``layerN.M.se_layer.conv{1,2}.conv``).

    Args:
        depth: 50, 101 or 152.
        se_ratio: the SE layers squeeze ``channels`` to ``channels // se_ratio`` (rounded to 8).
        kwargs: the :class:`ResNet` arguments.
    """

    arch_settings = {
        50: (SEBottleneck, (3, 4, 6, 3)),
        101: (SEBottleneck, (3, 4, 23, 3)),
        152: (SEBottleneck, (3, 8, 36, 3)),
    }

    def __init__(self, depth: int, se_ratio: int = 16, **kwargs):
        _check_se_ratio(se_ratio)
        self.se_ratio = se_ratio
        super().__init__(depth, **kwargs)

    def make_res_layer(self, **kwargs) -> ResLayer:
        """One stage of SE bottlenecks."""
        return ResLayer(se_ratio=self.se_ratio, **kwargs)
