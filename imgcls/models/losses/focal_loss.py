"""Sigmoid focal loss (Lin et al. 2017): BCE that down-weights the easy examples."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ConfigError
from ..builder import LOSSES
from .utils import check_reduction, convert_to_one_hot, weight_reduce_loss

__all__ = ['FocalLoss', 'sigmoid_focal_loss']


def _as_targets(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Class indices (N,) or (N, 1) → one-hot (N, C) rows in ``pred``'s dtype; (N, C) rows pass through."""
    if target.dim() == 1 or (target.dim() == 2 and target.shape[1] == 1 and pred.shape[1] != 1):
        target = convert_to_one_hot(target, pred.shape[-1])
    if target.shape != pred.shape:
        raise ValueError(f'the targets of shape {tuple(target.shape)} do not fit the scores of shape '
                         f'{tuple(pred.shape)}: give class indices (N,) or one row per sample (N, C)')
    return target.type_as(pred)


def _sample_weight(weight: torch.Tensor | None, pred: torch.Tensor) -> torch.Tensor | None:
    """A per-sample weight (N,) shaped to broadcast over the classes."""
    if weight is None:
        return None
    if weight.dim() != 1:
        raise ValueError(f'the sample weight must be 1-D (one per sample), got shape {tuple(weight.shape)}')
    weight = weight.float()
    return weight.reshape(-1, 1) if pred.dim() > 1 else weight


def sigmoid_focal_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                       gamma: float = 2.0, alpha: float = 0.25, reduction: str = 'mean',
                       avg_factor=None) -> torch.Tensor:
    """Focal loss of logits ``pred`` (N, C) against 0/1 targets (N, C).

    Per element: ``BCE * (alpha * t + (1 - alpha) * (1 - t)) * (1 - p_t) ** gamma`` where p_t is the
    probability given to the true value (p for positives, 1 - p for negatives).
    """
    target = target.type_as(pred)
    prob = pred.sigmoid()
    one_minus_pt = (1 - prob) * target + prob * (1 - target)
    focal_weight = (alpha * target + (1 - alpha) * (1 - target)) * one_minus_pt.pow(gamma)
    loss = F.binary_cross_entropy_with_logits(pred, target, reduction='none') * focal_weight
    return weight_reduce_loss(loss, _sample_weight(weight, pred), reduction, avg_factor)


@LOSSES.register_module()
class FocalLoss(nn.Module):
    """Sigmoid focal loss.

    Args:
        gamma: the focusing exponent (0 gives alpha-weighted BCE).
        alpha: the weight of the positives (negatives get 1 - alpha).
        reduction: 'none', 'mean' or 'sum'.
        loss_weight: factor applied to the loss.

    Targets are class indices (N,) or 0/1 rows (N, C) (multi-label, or soft from Mixup).
    """

    def __init__(self, gamma: float = 2.0, alpha: float = 0.25, reduction: str = 'mean',
                 loss_weight: float = 1.0):
        super().__init__()
        if not isinstance(gamma, (int, float)) or gamma < 0:
            raise ConfigError(f'FocalLoss gamma must be a number >= 0, got {gamma!r}')
        if not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
            raise ConfigError(f'FocalLoss alpha must be a number in [0, 1], got {alpha!r}')
        try:
            check_reduction(reduction)
        except ValueError as e:
            raise ConfigError(f'FocalLoss: {e}') from None
        self.gamma, self.alpha = gamma, alpha
        self.reduction, self.loss_weight = reduction, loss_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                avg_factor=None, reduction_override: str | None = None) -> torch.Tensor:
        """Return the weighted, reduced focal loss of logits ``pred`` (N, C)."""
        check_reduction(reduction_override, allow_none=True)
        reduction = reduction_override if reduction_override else self.reduction
        loss = sigmoid_focal_loss(pred, _as_targets(pred, target), weight, gamma=self.gamma, alpha=self.alpha,
                                  reduction=reduction, avg_factor=avg_factor)
        return self.loss_weight * loss
