"""Stochastic depth: drop a residual branch for whole samples."""

from __future__ import annotations

import torch
import torch.nn as nn


def drop_path(x: torch.Tensor, drop_prob: float = 0.0, training: bool = False) -> torch.Tensor:
    """Zero each sample's ``x`` with probability ``drop_prob`` and rescale the rest by ``1/(1-p)``."""
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1.0 - drop_prob
    # one draw per sample, broadcast over the other dims
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    mask = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(keep_prob)
    return x * mask.div_(keep_prob)


class DropPath(nn.Module):
    """Stochastic depth (Huang et al. 2016): identity in eval mode or when ``drop_prob`` is 0."""

    def __init__(self, drop_prob: float = 0.1):
        super().__init__()
        if not 0.0 <= drop_prob < 1.0:
            raise ValueError(f'DropPath drop_prob must be in [0, 1), got {drop_prob}')
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f'drop_prob={self.drop_prob}'
