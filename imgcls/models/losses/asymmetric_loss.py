"""Asymmetric loss (Ridnik et al. 2021) for multi-label classification."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ConfigError
from ..builder import LOSSES
from .focal_loss import _as_targets, _sample_weight
from .utils import check_reduction, weight_reduce_loss

__all__ = ['AsymmetricLoss', 'asymmetric_loss']


def asymmetric_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                    gamma_pos: float = 1.0, gamma_neg: float = 4.0, clip: float | None = 0.05,
                    reduction: str = 'mean', avg_factor=None, use_sigmoid: bool = True,
                    eps: float = 1e-8) -> torch.Tensor:
    """Asymmetric loss of logits ``pred`` (N, C) against 0/1 targets (N, C).

    With p the predicted probability, positives cost ``-(1 - p) ** gamma_pos * log(p)``; negatives use
    the shifted probability ``p_m = max(p - clip, 0)`` and cost ``-p_m ** gamma_neg * log(1 - p_m)``.
    """
    target = target.type_as(pred)
    prob = pred.sigmoid() if use_sigmoid else F.softmax(pred, dim=-1)
    if clip is not None and clip > 0:
        # 1 - p_m = min(1 - p + clip, 1): easy negatives (p < clip) cost nothing
        pt = (1 - prob + clip).clamp(max=1) * (1 - target) + prob * target
    else:
        pt = (1 - prob) * (1 - target) + prob * target
    focusing = (1 - pt).pow(gamma_pos * target + gamma_neg * (1 - target))
    loss = -torch.log(pt.clamp(min=eps)) * focusing
    return weight_reduce_loss(loss, _sample_weight(weight, pred), reduction, avg_factor)


@LOSSES.register_module()
class AsymmetricLoss(nn.Module):
    """Asymmetric loss.

    Args:
        gamma_pos: focusing exponent of the positives.
        gamma_neg: focusing exponent of the negatives.
        clip: probability margin below which negatives are ignored (None or 0: no shift).
        reduction: 'none', 'mean' or 'sum'.
        loss_weight: factor applied to the loss.
        use_sigmoid: per-class sigmoid probabilities (False: softmax over the classes).
        eps: lower clamp of the probabilities inside the log.
    """

    def __init__(self, gamma_pos: float = 0.0, gamma_neg: float = 4.0, clip: float | None = 0.05,
                 reduction: str = 'mean', loss_weight: float = 1.0, use_sigmoid: bool = True,
                 eps: float = 1e-8):
        super().__init__()
        for name, value in (('gamma_pos', gamma_pos), ('gamma_neg', gamma_neg)):
            if not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f'AsymmetricLoss {name} must be a number >= 0, got {value!r}')
        if clip is not None and (not isinstance(clip, (int, float)) or not 0 <= clip < 1):
            raise ConfigError(f'AsymmetricLoss clip must be None or a number in [0, 1), got {clip!r}')
        try:
            check_reduction(reduction)
        except ValueError as e:
            raise ConfigError(f'AsymmetricLoss: {e}') from None
        self.gamma_pos, self.gamma_neg, self.clip = gamma_pos, gamma_neg, clip
        self.reduction, self.loss_weight = reduction, loss_weight
        self.use_sigmoid, self.eps = use_sigmoid, eps

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                avg_factor=None, reduction_override: str | None = None) -> torch.Tensor:
        """Return the weighted, reduced asymmetric loss of logits ``pred`` (N, C)."""
        check_reduction(reduction_override, allow_none=True)
        reduction = reduction_override if reduction_override else self.reduction
        loss = asymmetric_loss(pred, _as_targets(pred, target), weight, gamma_pos=self.gamma_pos,
                               gamma_neg=self.gamma_neg, clip=self.clip, reduction=reduction,
                               avg_factor=avg_factor, use_sigmoid=self.use_sigmoid, eps=self.eps)
        return self.loss_weight * loss
