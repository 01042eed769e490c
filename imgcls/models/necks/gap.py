"""Global average pooling: feature maps to one vector per sample."""

from __future__ import annotations

import torch
import torch.nn as nn

from ...errors import ConfigError
from ..builder import NECKS


@NECKS.register_module()
class GlobalAveragePooling(nn.Module):
    """Average each channel over its spatial dims: (N, C, ...) → (N, C).

    Args:
        dim: 1, 2 or 3 spatial dims (for 1d, 2d or 3d feature maps).

    A tuple of feature maps (a backbone's output) gives a tuple of vectors.
    """

    def __init__(self, dim: int = 2):
        super().__init__()
        pools = {1: nn.AdaptiveAvgPool1d(1), 2: nn.AdaptiveAvgPool2d((1, 1)),
                 3: nn.AdaptiveAvgPool3d((1, 1, 1))}
        if dim not in pools:
            raise ConfigError(f'GlobalAveragePooling dim must be 1, 2 or 3, got {dim!r}')
        self.dim = dim
        self.gap = pools[dim]

    def init_weights(self) -> None:
        """Nothing to initialize."""

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != self.dim + 2:
            raise ValueError(f'GlobalAveragePooling(dim={self.dim}) expects {self.dim + 2}-d inputs '
                             f'(N, C and {self.dim} spatial dims), got shape {tuple(x.shape)}')
        return self.gap(x).flatten(1)

    def forward(self, inputs: torch.Tensor | tuple[torch.Tensor, ...]
                ) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Pool a tensor, or each tensor of a tuple."""
        if isinstance(inputs, (tuple, list)):
            return tuple(self._pool(x) for x in inputs)
        if isinstance(inputs, torch.Tensor):
            return self._pool(inputs)
        raise TypeError('GlobalAveragePooling takes a tensor or a tuple of tensors, '
                        f'got {type(inputs).__name__}')
