"""Seesaw loss (Wang et al. 2021): softmax CE rebalanced for long-tailed class distributions."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ConfigError
from ..builder import LOSSES
from .utils import check_reduction, weight_reduce_loss

__all__ = ['SeesawLoss', 'seesaw_ce_loss']


def seesaw_ce_loss(cls_score: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor | None,
                   cum_samples: torch.Tensor, p: float, q: float, eps: float, reduction: str = 'mean',
                   avg_factor=None) -> torch.Tensor:
    """Softmax CE whose negative logits are shifted by log(seesaw weights).

    For a sample of class i, the logit of a class j != i gets ``+ log(M_ij * C_ij)``:
      - mitigation ``M_ij = (N_j / N_i) ** p`` when class j has seen fewer samples than i, else 1
        (rare classes are pushed down less by frequent ones);
      - compensation ``C_ij = (s_j / s_i) ** q`` when the softmax score s_j exceeds s_i, else 1
        (wrongly confident classes are penalised more).
    """
    num_classes = cls_score.size(-1)
    labels = labels.long()
    one_hot = F.one_hot(labels, num_classes)
    log_weights = cls_score.new_zeros(cls_score.shape)
    if p > 0:
        counts = cum_samples.clamp(min=1)
        ratio = counts[None, :] / counts[:, None]  # ratio[i, j] = N_j / N_i
        log_weights = log_weights + torch.where(ratio < 1, p * ratio.log(), 0.)[labels].to(cls_score.dtype)
    if q > 0:
        scores = F.softmax(cls_score.detach(), dim=1)
        self_scores = scores.gather(1, labels[:, None]).clamp(min=eps)
        score_ratio = scores / self_scores
        log_weights = log_weights + torch.where(score_ratio > 1, q * score_ratio.log(), 0.)
    logits = cls_score + log_weights * (1 - one_hot)
    loss = F.cross_entropy(logits, labels, reduction='none')
    if weight is not None:
        weight = weight.float()
    return weight_reduce_loss(loss, weight=weight, reduction=reduction, avg_factor=avg_factor)


@LOSSES.register_module()
class SeesawLoss(nn.Module):
    """Seesaw loss for long-tailed classification.

    Args:
        use_sigmoid: must be False (only the softmax form exists).
        p: exponent of the mitigation factor (0 turns it off).
        q: exponent of the compensation factor (0 turns it off).
        num_classes: number of classes.
        eps: lower clamp of the true class's score in the compensation ratio.
        reduction: 'none', 'mean' or 'sum'.
        loss_weight: factor applied to the loss.

    The per-class sample counts seen so far are the buffer ``cum_samples`` (saved in checkpoints);
    each call adds its batch's labels.
    """

    def __init__(self, use_sigmoid: bool = False, p: float = 0.8, q: float = 2.0, num_classes: int = 1000,
                 eps: float = 1e-2, reduction: str = 'mean', loss_weight: float = 1.0):
        super().__init__()
        if use_sigmoid:
            raise ConfigError('SeesawLoss use_sigmoid=True is not supported: the seesaw loss is a softmax '
                              'cross-entropy; remove use_sigmoid')
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes <= 0:
            raise ConfigError(f'SeesawLoss num_classes must be a positive integer, got {num_classes!r}')
        for name, value in (('p', p), ('q', q)):
            if not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f'SeesawLoss {name} must be a number >= 0, got {value!r}')
        try:
            check_reduction(reduction)
        except ValueError as e:
            raise ConfigError(f'SeesawLoss: {e}') from None
        self.use_sigmoid, self.p, self.q, self.num_classes, self.eps = use_sigmoid, p, q, num_classes, eps
        self.reduction, self.loss_weight = reduction, loss_weight
        self.register_buffer('cum_samples', torch.zeros(num_classes, dtype=torch.float))

    def forward(self, cls_score: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor | None = None,
                avg_factor=None, reduction_override: str | None = None) -> torch.Tensor:
        """Count the batch's labels, then return the seesaw loss of logits ``cls_score`` (N, C)."""
        check_reduction(reduction_override, allow_none=True)
        reduction = reduction_override if reduction_override else self.reduction
        if cls_score.dim() != 2 or cls_score.size(1) != self.num_classes:
            raise ConfigError(f'SeesawLoss num_classes={self.num_classes} does not fit scores of shape '
                              f'{tuple(cls_score.shape)}: set num_classes to the head\'s num_classes')
        if labels.dim() != 1 or labels.is_floating_point():
            raise ValueError(f'SeesawLoss needs class indices (N,), got a {labels.dtype} tensor of shape '
                             f'{tuple(labels.shape)} (soft labels from Mixup/CutMix are not supported)')
        # index_add_ stays on the device (bincount and a loop over unique labels would sync with the host)
        labels = labels.long()
        self.cum_samples.index_add_(0, labels, torch.ones_like(labels, dtype=self.cum_samples.dtype))
        loss = seesaw_ce_loss(cls_score, labels, weight, self.cum_samples, self.p, self.q, self.eps,
                              reduction=reduction, avg_factor=avg_factor)
        return self.loss_weight * loss
