"""Activation layers built from config dicts (``dict(type='ReLU')``)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...registry import Registry, build_from_cfg

ACTIVATION_LAYERS = Registry('activation layer')
for _cls in (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ReLU6, nn.ELU, nn.Sigmoid, nn.Tanh,
             nn.GELU, nn.SiLU):
    ACTIVATION_LAYERS.register_module(module=_cls)


@ACTIVATION_LAYERS.register_module()
class Swish(nn.Module):
    """``x * sigmoid(x)`` (the same function as SiLU)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x)


@ACTIVATION_LAYERS.register_module()
class HSigmoid(nn.Module):
    """Hard sigmoid: ``clamp((x + bias) / divisor, min_value, max_value)``."""

    def __init__(self, bias: float = 3.0, divisor: float = 6.0, min_value: float = 0.0,
                 max_value: float = 1.0):
        super().__init__()
        if divisor == 0:
            raise ValueError('HSigmoid divisor must not be 0')
        self.bias, self.divisor = bias, divisor
        self.min_value, self.max_value = min_value, max_value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x + self.bias) / self.divisor).clamp_(self.min_value, self.max_value)


@ACTIVATION_LAYERS.register_module()
class HSwish(nn.Module):
    """Hard swish: ``x * relu6(x + 3) / 6``."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.hardswish(x, inplace=self.inplace)


@ACTIVATION_LAYERS.register_module(name=['Clamp', 'Clip'])
class Clamp(nn.Module):
    """Clamp values to ``[min, max]``."""

    def __init__(self, min: float = -1.0, max: float = 1.0):  # noqa: A002 - mmcv's argument names
        super().__init__()
        self.min, self.max = min, max

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x, min=self.min, max=self.max)


def build_activation_layer(cfg: Mapping) -> nn.Module:
    """Build an activation layer from ``dict(type='ReLU' | 'GELU' | ..., **kwargs)``."""
    return build_from_cfg(cfg, ACTIVATION_LAYERS)
