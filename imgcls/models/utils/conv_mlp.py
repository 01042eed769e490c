"""ConvMlp: the channel MLP of convolutional MetaFormers (VAN, PoolFormer, EfficientFormer), as 1x1 convs on
(N, C, H, W) maps."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn as nn

from ..layers import build_activation_layer, build_norm_layer

__all__ = ['ConvMlp', 'channel_scale', 'drop_path_rates']


class ConvMlp(nn.Module):
    """``fc1`` (1x1 conv) → [``dwconv`` 3x3 depthwise] → [``norm1``] → act → dropout → ``fc2`` (1x1 conv)
    → [``norm2``] → dropout.

    Args:
        in_channels: channels in and out.
        hidden_channels: channels between the two 1x1 convs.
        act_cfg: the activation after ``fc1`` (after ``dwconv`` when there is one).
        drop: dropout rate after the activation and after ``fc2``.
        with_dwconv: a 3x3 depthwise conv after ``fc1`` (VAN's MixFFN), which encodes position.
        norm_cfg: a norm after each 1x1 conv (EfficientFormer: BN), or None.
    """

    def __init__(self, in_channels: int, hidden_channels: int, act_cfg: Mapping = dict(type='GELU'),  # noqa: B006
                 drop: float = 0.0, with_dwconv: bool = False, norm_cfg: Mapping | None = None):
        super().__init__()
        self.fc1 = nn.Conv2d(in_channels, hidden_channels, 1)
        self.dwconv = nn.Conv2d(hidden_channels, hidden_channels, 3, padding=1, groups=hidden_channels) \
            if with_dwconv else None
        self.act = build_activation_layer(act_cfg)
        self.fc2 = nn.Conv2d(hidden_channels, in_channels, 1)
        self.norm1 = build_norm_layer(norm_cfg, hidden_channels)[1] if norm_cfg is not None else nn.Identity()
        self.norm2 = build_norm_layer(norm_cfg, in_channels)[1] if norm_cfg is not None else nn.Identity()
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc1(x)
        if self.dwconv is not None:
            x = self.dwconv(x)
        return self.drop(self.norm2(self.fc2(self.drop(self.act(self.norm1(x))))))


def channel_scale(scale: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
    """``x`` (N, C, H, W) times a per-channel ``scale`` (C,), or ``x`` itself when there is no scale."""
    return x if scale is None else scale.view(-1, 1, 1) * x


def drop_path_rates(depths: list[int], rate: float) -> list[list[float]]:
    """Stochastic depth rising linearly from 0 at the first block to ``rate`` at the last, grouped by stage."""
    total = sum(depths)
    flat = [rate * i / (total - 1) if total > 1 else 0.0 for i in range(total)]
    return [flat[sum(depths[:s]):sum(depths[:s + 1])] for s in range(len(depths))]
