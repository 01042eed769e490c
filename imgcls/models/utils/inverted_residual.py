"""The inverted residual block of MobileNetV3 / EfficientNet (mmcls's ``models.utils.InvertedResidual``)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp

from ...errors import ConfigError
from ..layers import ConvModule, DropPath, SELayer


def run_block(block: nn.Module, inner, x: torch.Tensor) -> torch.Tensor:
    """``inner(x)``, recomputed in backward instead of stored when the block has ``with_cp`` set."""
    if block.with_cp and x.requires_grad:
        return cp.checkpoint(inner, x, use_reentrant=False)
    return inner(x)


class InvertedResidual(nn.Module):
    """1x1 expand → kxk depthwise → (SE) → 1x1 linear projection, with a shortcut when shapes allow.

    Children (mmcls key names): ``expand_conv`` (only when ``mid_channels != in_channels``),
    ``depthwise_conv``, ``se`` (only with ``se_cfg``), ``linear_conv``.

    Args:
        mid_channels: width of the depthwise conv.
        kernel_size / stride: of the depthwise conv; stride 1 or 2.
        se_cfg: :class:`SELayer` arguments, or None for no SE.
        act_cfg: activation of the expand and depthwise convs (the projection is linear).
        drop_path_rate: stochastic depth on the residual branch.
        with_cp: gradient checkpointing (less memory, more compute).
    """

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int, kernel_size: int = 3,
                 stride: int = 1, se_cfg: Mapping | None = None, conv_cfg: Mapping | None = None,
                 norm_cfg: Mapping = dict(type='BN'), act_cfg: Mapping = dict(type='ReLU'),  # noqa: B006
                 drop_path_rate: float = 0., with_cp: bool = False, init_cfg=None):
        super().__init__()
        if stride not in (1, 2):
            raise ConfigError(f'InvertedResidual stride must be 1 or 2, got {stride!r}')
        if se_cfg is not None and not isinstance(se_cfg, Mapping):
            raise ConfigError(f'InvertedResidual se_cfg must be a dict of SELayer arguments or None, got {se_cfg!r}')
        self.with_res_shortcut = stride == 1 and in_channels == out_channels
        self.with_cp = with_cp
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()
        self.with_se = se_cfg is not None
        self.with_expand_conv = mid_channels != in_channels
        convs = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        if self.with_expand_conv:
            self.expand_conv = ConvModule(in_channels, mid_channels, 1, act_cfg=act_cfg, **convs)
        self.depthwise_conv = ConvModule(mid_channels, mid_channels, kernel_size, stride=stride,
                                         padding=kernel_size // 2, groups=mid_channels, act_cfg=act_cfg, **convs)
        if self.with_se:
            self.se = SELayer(**se_cfg)
        self.linear_conv = ConvModule(mid_channels, out_channels, 1, act_cfg=None, **convs)

    def _inner(self, x: torch.Tensor) -> torch.Tensor:
        out = self.expand_conv(x) if self.with_expand_conv else x
        out = self.depthwise_conv(out)
        if self.with_se:
            out = self.se(out)
        out = self.linear_conv(out)
        return x + self.drop_path(out) if self.with_res_shortcut else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_block(self, self._inner, x)
