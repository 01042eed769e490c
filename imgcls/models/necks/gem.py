"""Generalized mean (GeM) pooling: a learnable blend between average and max pooling."""

from __future__ import annotations

import torch
import torch.nn as nn

from ...errors import ConfigError
from ..builder import NECKS

__all__ = ['GeneralizedMeanPooling', 'gem']


def gem(x: torch.Tensor, p: torch.Tensor | float, eps: float = 1e-6, clamp: bool = True) -> torch.Tensor:
    """(mean over the spatial dims of x^p)^(1/p) of a (N, C, ...) map → (N, C).

    ``clamp`` keeps x above ``eps``, so x^p exists for fractional p (ReLU features are >= 0 anyway).
    """
    if clamp:
        x = x.clamp(min=eps)
    return x.pow(p).flatten(2).mean(dim=-1).pow(1. / p)


@NECKS.register_module()
class GeneralizedMeanPooling(nn.Module):
    """GeM pooling (Radenović et al. 2018): p=1 is average pooling, p→∞ max pooling.

    Args:
        p: the initial exponent, at least 1; stored as the parameter ``p`` (shape (1,)).
        eps: the lower clamp of the features when ``clamp`` is True.
        clamp: clamp the features to ``eps`` before the power.
        p_trainable: learn ``p`` with the rest of the model (False keeps it fixed).

    Like GlobalAveragePooling, a tensor gives a tensor and a tuple of feature maps a tuple of vectors.
    """

    def __init__(self, p: float = 3., eps: float = 1e-6, clamp: bool = True, p_trainable: bool = True):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or p < 1:
            raise ConfigError(f'GeneralizedMeanPooling p must be a number >= 1, got {p!r}')
        if not isinstance(eps, (int, float)) or eps <= 0:
            raise ConfigError(f'GeneralizedMeanPooling eps must be a positive number, got {eps!r}')
        self.p = nn.Parameter(torch.full((1,), float(p)), requires_grad=p_trainable)
        self.eps = eps
        self.clamp = clamp
        self.p_trainable = p_trainable

    def init_weights(self) -> None:
        """Nothing to initialize (``p`` keeps its configured value)."""

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 3:
            raise ValueError(f'GeneralizedMeanPooling expects (N, C, ...) feature maps with spatial dims, '
                             f'got shape {tuple(x.shape)}')
        return gem(x, self.p, eps=self.eps, clamp=self.clamp)

    def forward(self, inputs: torch.Tensor | tuple[torch.Tensor, ...]
                ) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Pool a tensor, or each tensor of a tuple."""
        if isinstance(inputs, (tuple, list)):
            return tuple(self._pool(x) for x in inputs)
        if isinstance(inputs, torch.Tensor):
            return self._pool(inputs)
        raise TypeError('GeneralizedMeanPooling takes a tensor or a tuple of tensors, '
                        f'got {type(inputs).__name__}')

    def extra_repr(self) -> str:
        return f'p={float(self.p.detach()[0]):.4f}, eps={self.eps}, clamp={self.clamp}'
