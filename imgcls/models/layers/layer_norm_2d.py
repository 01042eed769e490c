"""LayerNorm over the channels of (N, C, H, W) maps, registered as ``LN2d`` (ConvNeXt's norm)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .norm import NORM_LAYERS


@NORM_LAYERS.register_module(name=['LN2d', 'LayerNorm2d'])
class LayerNorm2d(nn.LayerNorm):
    """LayerNorm of each pixel's channel vector in a channels-first (N, C, H, W) tensor.

    A subclass of ``nn.LayerNorm`` so that init rules (``layer='LayerNorm'``) and optimizer
    ``norm_decay_mult`` treat it as a norm layer.
    """

    def __init__(self, num_channels: int, **kwargs):
        super().__init__(num_channels, **kwargs)
        self.num_channels = self.normalized_shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f'LayerNorm2d expects (N, C, H, W) inputs, got shape {tuple(x.shape)}')
        # normalise the last dim of the channels-last view, then go back
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)
