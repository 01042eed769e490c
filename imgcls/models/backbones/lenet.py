"""LeNet-5 (LeCun et al. 1998): the classic 32x32 grayscale digit classifier, with mmcls's keys."""

from __future__ import annotations

import torch
import torch.nn as nn

from ...errors import ConfigError
from ..builder import BACKBONES
from .base_backbone import BaseBackbone

__all__ = ['LeNet5']


@BACKBONES.register_module()
class LeNet5(BaseBackbone):
    """Three 5x5 tanh convs with 2x2 average pools (``features``), then optionally an 84-unit tanh MLP
    (``classifier``) to ``num_classes`` logits.

    Args:
        num_classes: > 0 adds the classifier (then the output is logits, for a ``ClsHead``); -1 returns
            the 120-channel 1x1 features.
    """

    def __init__(self, num_classes: int = -1, init_cfg=None):
        super().__init__(init_cfg)
        if not isinstance(num_classes, int) or num_classes == 0 or num_classes < -1:
            raise ConfigError(f'LeNet5 num_classes must be a positive int, or -1 for features only, '
                              f'got {num_classes!r}')
        self.num_classes = num_classes
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5), nn.Tanh(), nn.AvgPool2d(kernel_size=2),
            nn.Conv2d(6, 16, kernel_size=5), nn.Tanh(), nn.AvgPool2d(kernel_size=2),
            nn.Conv2d(16, 120, kernel_size=5), nn.Tanh())
        if num_classes > 0:
            self.classifier = nn.Sequential(nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, num_classes))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        """Return ``(features,)`` of shape (N, 120, 1, 1) at 32x32, or ``(logits,)`` with a classifier."""
        x = self.features(x)
        if self.num_classes > 0:
            # flatten, not squeeze: a batch of one keeps its batch dimension
            x = self.classifier(x.flatten(1))
        return (x,)
