"""Identity: the 'no batch augment' choice, which only turns the labels into one-hot rows."""

from __future__ import annotations

import torch

from ....errors import ConfigError
from .builder import AUGMENT
from .mixup import one_hot_encoding

__all__ = ['Identity']


@AUGMENT.register_module()
class Identity:
    """Leave the images as they are and return one-hot labels (N, num_classes).

    Args:
        num_classes: number of classes.
        prob: how often ``Augments`` chooses it (it fills up the probabilities left by the others).
    """

    def __init__(self, num_classes: int, prob: float = 1.0):
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes <= 0:
            raise ConfigError(f'Identity num_classes must be a positive integer, got {num_classes!r}')
        if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0 <= prob <= 1:
            raise ConfigError(f'Identity prob must be a number in [0, 1], got {prob!r}')
        self.num_classes, self.prob = num_classes, float(prob)

    def one_hot(self, gt_label: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """One-hot rows of ``gt_label``."""
        return one_hot_encoding(gt_label, self.num_classes, dtype)

    def __call__(self, img: torch.Tensor, gt_label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        dtype = img.dtype if img.dtype in (torch.float32, torch.float64) else torch.float32
        return img, self.one_hot(gt_label, dtype)

    def __repr__(self) -> str:
        return f'Identity(num_classes={self.num_classes}, prob={self.prob})'
