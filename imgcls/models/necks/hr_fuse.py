"""HRFuseScales: HRNet's classification neck, which merges the four branches into one wide map."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn

from ...errors import ConfigError
from ..backbones.resnet import Bottleneck, ResLayer
from ..builder import NECKS
from ..layers import ConvModule

__all__ = ['HRFuseScales']

# the widths each branch is raised to before merging (fixed by the design, whatever the HRNet width)
_WIDTHS = (128, 256, 512, 1024)


@NECKS.register_module()
class HRFuseScales(nn.Module):
    """Widen each branch with a Bottleneck, then from the highest resolution down: stride-2 3x3 conv, add the
    next branch; a final 1x1 conv gives ``out_channels`` at stride 32 (a 1-tuple, for a pooling neck after).

    Args:
        in_channels: the channels of the branches, highest resolution first (4 of them).
        out_channels: channels of the fused map.
        norm_cfg: norm of the downsampling and final convs.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int = 2048,
                 norm_cfg: Mapping = dict(type='BN', momentum=0.1),  # noqa: B006
                 init_cfg: Mapping | None = None):
        super().__init__()
        if isinstance(in_channels, (str, int)) or not isinstance(in_channels, Sequence) \
                or not 1 <= len(in_channels) <= len(_WIDTHS):
            raise ConfigError(f'HRFuseScales in_channels must list the channels of 1 to {len(_WIDTHS)} HRNet '
                              f'branches, e.g. (18, 36, 72, 144), got {in_channels!r}')
        self.in_channels, self.out_channels, self.norm_cfg = tuple(in_channels), out_channels, norm_cfg
        # mmcls's init_cfg names Linear layers, which this neck has none of: PyTorch's init applies
        self.init_cfg = init_cfg
        widths = _WIDTHS[:len(in_channels)]
        self.increase_layers = nn.ModuleList(ResLayer(Bottleneck, 1, c, w) for c, w in zip(in_channels, widths))
        self.downsample_layers = nn.ModuleList(
            ConvModule(widths[i], widths[i + 1], 3, stride=2, padding=1, norm_cfg=norm_cfg, bias=False)
            for i in range(len(widths) - 1))
        self.final_layer = ConvModule(widths[-1], out_channels, 1, norm_cfg=norm_cfg, bias=False)

    def init_weights(self) -> None:
        """Nothing beyond PyTorch's default init (as in mmcls)."""

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor]:
        """Fuse the branch maps (highest resolution first) into one map."""
        if not isinstance(inputs, (tuple, list)) or len(inputs) != len(self.in_channels):
            got = f'{len(inputs)} maps' if isinstance(inputs, (tuple, list)) else type(inputs).__name__
            raise ValueError(f'HRFuseScales(in_channels={self.in_channels}) needs one map per HRNet branch, '
                             f'got {got}: build the HRNet with multiscale_output=True')
        x = self.increase_layers[0](inputs[0])
        for down, increase, branch in zip(self.downsample_layers, self.increase_layers[1:], inputs[1:]):
            x = down(x) + increase(branch)
        return (self.final_layer(x),)
