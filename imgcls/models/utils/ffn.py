"""FFN: the two-layer MLP of transformer blocks, with mmcv's layout (``layers.0.0``, ``layers.1``)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn as nn

from ...errors import ConfigError
from ..layers import build_activation_layer
from .dropout import build_dropout


class FFN(nn.Module):
    """``num_fcs`` linear layers with an activation between them, plus an optional residual.

    Args:
        embed_dims: input and output channels.
        feedforward_channels: hidden channels.
        num_fcs: number of linear layers (at least 2).
        act_cfg: activation after every linear layer but the last.
        ffn_drop: dropout after each activation and after the last linear layer.
        dropout_layer: applied to the output before the residual (e.g. DropPath).
        add_identity: add the input (or ``identity``) to the output.
    """

    def __init__(self, embed_dims: int = 256, feedforward_channels: int = 1024, num_fcs: int = 2,
                 act_cfg: Mapping = dict(type='GELU'), ffn_drop: float = 0.0,
                 dropout_layer: Mapping | None = None, add_identity: bool = True, init_cfg=None):
        super().__init__()
        if num_fcs < 2:
            raise ConfigError(f'FFN num_fcs must be at least 2, got {num_fcs!r}')
        self.embed_dims = embed_dims
        self.feedforward_channels = feedforward_channels
        self.num_fcs = num_fcs
        self.init_cfg = init_cfg
        layers = []
        in_channels = embed_dims
        for _ in range(num_fcs - 1):
            layers.append(nn.Sequential(nn.Linear(in_channels, feedforward_channels),
                                        build_activation_layer(act_cfg), nn.Dropout(ffn_drop)))
            in_channels = feedforward_channels
        layers += [nn.Linear(feedforward_channels, embed_dims), nn.Dropout(ffn_drop)]
        self.layers = nn.Sequential(*layers)
        self.dropout_layer = build_dropout(dropout_layer)
        self.add_identity = add_identity

    def forward(self, x: torch.Tensor, identity: torch.Tensor | None = None) -> torch.Tensor:
        out = self.dropout_layer(self.layers(x))
        if not self.add_identity:
            return out
        return (x if identity is None else identity) + out
