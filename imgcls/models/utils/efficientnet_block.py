"""EdgeResidual: the fused-MBConv block of EfficientNet-EdgeTPU (mmcls's layout)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn as nn

from ...errors import ConfigError
from ..layers import ConvModule, DropPath, SELayer
from .inverted_residual import run_block


class EdgeResidual(nn.Module):
    """kxk full conv → (SE) → 1x1 linear projection, with a shortcut when shapes allow.

    Children (mmcls key names): ``conv1``, ``se`` (only with ``se_cfg``), ``conv2``. As in mmcls, the
    stride sits on the 1x1 ``conv2`` (the kxk conv keeps the resolution).

    Args:
        mid_channels: output width of ``conv1``.
        kernel_size: of ``conv1``; stride: 1 or 2.
        with_residual: allow the shortcut (taken only when stride is 1 and in/out widths match).
    """

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int, kernel_size: int = 3,
                 stride: int = 1, se_cfg: Mapping | None = None, with_residual: bool = True,
                 conv_cfg: Mapping | None = None, norm_cfg: Mapping = dict(type='BN'),  # noqa: B006
                 act_cfg: Mapping = dict(type='ReLU'), drop_path_rate: float = 0.,  # noqa: B006
                 with_cp: bool = False, init_cfg=None):
        super().__init__()
        if stride not in (1, 2):
            raise ConfigError(f'EdgeResidual stride must be 1 or 2, got {stride!r}')
        if se_cfg is not None and not isinstance(se_cfg, Mapping):
            raise ConfigError(f'EdgeResidual se_cfg must be a dict of SELayer arguments or None, got {se_cfg!r}')
        self.with_cp = with_cp
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()
        self.with_se = se_cfg is not None
        self.with_residual = stride == 1 and in_channels == out_channels and with_residual
        convs = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.conv1 = ConvModule(in_channels, mid_channels, kernel_size, padding=kernel_size // 2,
                                act_cfg=act_cfg, **convs)
        if self.with_se:
            self.se = SELayer(**se_cfg)
        self.conv2 = ConvModule(mid_channels, out_channels, 1, stride=stride, act_cfg=None, **convs)

    def _inner(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)
        if self.with_se:
            out = self.se(out)
        out = self.conv2(out)
        return x + self.drop_path(out) if self.with_residual else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_block(self, self._inner, x)
