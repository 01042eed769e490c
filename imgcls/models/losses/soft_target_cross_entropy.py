"""SoftTargetCrossEntropy: the name timm and DeiT-style configs use for soft-target softmax CE."""

from __future__ import annotations

from ..builder import LOSSES
from .cross_entropy_loss import CrossEntropyLoss

__all__ = ['SoftTargetCrossEntropy']


@LOSSES.register_module()
class SoftTargetCrossEntropy(CrossEntropyLoss):
    """``CrossEntropyLoss(use_soft=True)``: softmax CE against (N, C) target distributions.

    Class indices (N,) are turned into one-hot rows, so it also works without Mixup/CutMix.
    """

    def __init__(self, reduction: str = 'mean', loss_weight: float = 1.0, class_weight=None):
        super().__init__(use_soft=True, reduction=reduction, loss_weight=loss_weight,
                         class_weight=class_weight)
