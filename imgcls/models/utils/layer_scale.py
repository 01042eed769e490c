"""LayerScale: a learnt per-channel multiplier on a residual branch (CaiT, ConvNeXt)."""

from __future__ import annotations

import torch
import torch.nn as nn

from ...errors import ConfigError


class LayerScale(nn.Module):
    """Multiply each channel by a learnt ``weight`` initialised to ``scale``.

    Args:
        dim: number of channels.
        inplace: multiply in place (saves memory; not for tensors autograd needs again).
        data_format: ``'channels_last'`` (..., C) or ``'channels_first'`` (N, C, ...).
        scale: initial value of every weight.
    """

    def __init__(self, dim: int, inplace: bool = False, data_format: str = 'channels_last', scale: float = 1e-5):
        super().__init__()
        if data_format not in ('channels_last', 'channels_first'):
            raise ConfigError(f"LayerScale data_format must be 'channels_last' or 'channels_first', "
                              f'got {data_format!r}')
        self.inplace = inplace
        self.data_format = data_format
        self.weight = nn.Parameter(torch.full((dim,), float(scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight
        if self.data_format == 'channels_first':
            weight = weight.view(-1, *([1] * (x.dim() - 2)))
        return x.mul_(weight) if self.inplace else x * weight
