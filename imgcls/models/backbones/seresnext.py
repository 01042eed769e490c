"""SE-ResNeXt: ResNeXt bottlenecks (grouped 3x3) with a Squeeze-and-Excitation gate."""

from __future__ import annotations

from ..builder import BACKBONES
from .resnet import ResLayer
from .resnext import make_grouped
from .seresnet import SEBottleneck as _SEBottleneck
from .seresnet import SEResNet

__all__ = ['SEResNeXt']


class SEBottleneck(_SEBottleneck):
    """An SE bottleneck whose 3x3 conv has ``groups`` paths of ``width_per_group`` channels per 64 base channels."""

    def __init__(self, in_channels: int, out_channels: int, base_channels: int = 64, groups: int = 32,
                 width_per_group: int = 4, **kwargs):
        super().__init__(in_channels, out_channels, **kwargs)
        self.groups, self.width_per_group = groups, width_per_group
        make_grouped(self, base_channels, groups, width_per_group)


@BACKBONES.register_module()
class SEResNeXt(SEResNet):
    """SE-ResNeXt backbone as in mmcls (SE-ResNeXt-50/101/152, 32x4d by default).

    Args:
        depth: 50, 101 or 152.
        groups / width_per_group: the cardinality and path width, as in :class:`ResNeXt`.
        kwargs: the :class:`SEResNet` arguments (``se_ratio``...) and the :class:`ResNet` ones.
    """

    arch_settings = {
        50: (SEBottleneck, (3, 4, 6, 3)),
        101: (SEBottleneck, (3, 4, 23, 3)),
        152: (SEBottleneck, (3, 8, 36, 3)),
    }

    def __init__(self, depth: int, groups: int = 32, width_per_group: int = 4, **kwargs):
        self.groups, self.width_per_group = groups, width_per_group
        super().__init__(depth, **kwargs)

    def make_res_layer(self, **kwargs) -> ResLayer:
        """One stage of grouped SE bottlenecks."""
        return ResLayer(se_ratio=self.se_ratio, groups=self.groups, width_per_group=self.width_per_group,
                        base_channels=self.base_channels, **kwargs)
