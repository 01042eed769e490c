"""Cross-entropy losses: softmax CE with hard or soft targets, and sigmoid BCE."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ConfigError
from ..builder import LOSSES
from .utils import check_reduction, convert_to_one_hot, weight_reduce_loss


def cross_entropy(pred: torch.Tensor, label: torch.Tensor, weight: torch.Tensor | None = None,
                  reduction: str = 'mean', avg_factor=None,
                  class_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax cross-entropy of logits ``pred`` (N, C) against class indices ``label`` (N,).

    ``weight`` weighs each sample, ``class_weight`` (C,) each class.
    """
    loss = F.cross_entropy(pred, label, weight=class_weight, reduction='none')
    if weight is not None:
        weight = weight.float()
    return weight_reduce_loss(loss, weight=weight, reduction=reduction, avg_factor=avg_factor)


def soft_cross_entropy(pred: torch.Tensor, label: torch.Tensor, weight: torch.Tensor | None = None,
                       reduction: str = 'mean', class_weight: torch.Tensor | None = None,
                       avg_factor=None) -> torch.Tensor:
    """Cross-entropy against a target distribution ``label`` (N, C), e.g. from Mixup or label smoothing."""
    loss = -label * F.log_softmax(pred, dim=-1)
    if class_weight is not None:
        loss = loss * class_weight
    loss = loss.sum(dim=-1)
    if weight is not None:
        weight = weight.float()
    return weight_reduce_loss(loss, weight=weight, reduction=reduction, avg_factor=avg_factor)


def binary_cross_entropy(pred: torch.Tensor, label: torch.Tensor, weight: torch.Tensor | None = None,
                         reduction: str = 'mean', avg_factor=None, class_weight: torch.Tensor | None = None,
                         pos_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Sigmoid binary cross-entropy of logits ``pred`` (N, C) against 0/1 (or soft) targets ``label`` (N, C).

    Class indices of shape (N,) are turned into one-hot rows first. ``weight`` (N,)
    weighs each sample, ``class_weight`` (C,) each class, ``pos_weight`` (C,) the positives.
    """
    if label.dim() == 1 and pred.dim() == 2:
        label = convert_to_one_hot(label, pred.size(1))
    if pred.shape != label.shape:
        raise ValueError(f'binary_cross_entropy needs pred and label of the same shape, '
                         f'got {tuple(pred.shape)} and {tuple(label.shape)}')
    if class_weight is not None:
        class_weight = class_weight.expand_as(pred)  # no silent broadcast over the wrong dim
    loss = F.binary_cross_entropy_with_logits(pred, label.to(pred.dtype), weight=class_weight,
                                              pos_weight=pos_weight, reduction='none')
    if weight is not None:
        if weight.dim() != 1:
            raise ValueError(f'the sample weight must be 1-D (one per sample), '
                             f'got shape {tuple(weight.shape)}')
        weight = weight.float()
        if pred.dim() > 1:
            weight = weight.reshape(-1, 1)
    return weight_reduce_loss(loss, weight=weight, reduction=reduction, avg_factor=avg_factor)


def _is_soft_target(cls_score: torch.Tensor, label: torch.Tensor) -> bool:
    """True for a float target distribution with the logits' shape (what Mixup/CutMix produce)."""
    return label.is_floating_point() and label.dim() == 2 and label.shape == cls_score.shape


@LOSSES.register_module()
class CrossEntropyLoss(nn.Module):
    """Cross-entropy loss.

    Args:
        use_sigmoid: per-class sigmoid BCE (multi-label) instead of softmax CE.
        use_soft: softmax CE against target distributions (N, C). Float (N, C)
            targets are also treated as soft when this is False.
        reduction: 'none', 'mean' or 'sum'.
        loss_weight: factor applied to the loss.
        class_weight: one weight per class.
        pos_weight: one weight per class for the positives (sigmoid only).
    """

    def __init__(self, use_sigmoid: bool = False, use_soft: bool = False, reduction: str = 'mean',
                 loss_weight: float = 1.0, class_weight=None, pos_weight=None):
        super().__init__()
        if use_sigmoid and use_soft:
            raise ConfigError('CrossEntropyLoss: use_sigmoid=True and use_soft=True can not be set together; '
                              'choose sigmoid BCE (multi-label) or soft softmax CE (Mixup/CutMix).')
        try:
            check_reduction(reduction)
        except ValueError as e:
            raise ConfigError(f'{type(self).__name__}: {e}') from None
        self.use_sigmoid = use_sigmoid
        self.use_soft = use_soft
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.class_weight = class_weight
        self.pos_weight = pos_weight
        # device-side copies made once (follow .to()/.cuda()), not a host-to-device copy every step
        for name, value in (('_class_weight', class_weight), ('_pos_weight', pos_weight)):
            tensor = None if value is None else torch.as_tensor(value, dtype=torch.float32)
            self.register_buffer(name, tensor, persistent=False)
        if use_sigmoid:
            self.cls_criterion = binary_cross_entropy
        elif use_soft:
            self.cls_criterion = soft_cross_entropy
        else:
            self.cls_criterion = cross_entropy

    def _weight_like(self, name: str, cls_score: torch.Tensor) -> torch.Tensor | None:
        weight = getattr(self, name)
        return None if weight is None else weight.to(cls_score.device, cls_score.dtype)

    def forward(self, cls_score: torch.Tensor, label: torch.Tensor, weight: torch.Tensor | None = None,
                avg_factor=None, reduction_override: str | None = None, **kwargs) -> torch.Tensor:
        """Return the loss of logits ``cls_score`` (N, C) against ``label``."""
        check_reduction(reduction_override, allow_none=True)
        reduction = reduction_override if reduction_override else self.reduction
        class_weight = self._weight_like('_class_weight', cls_score)
        criterion = self.cls_criterion
        if self.use_sigmoid:
            if self.pos_weight is not None:
                kwargs['pos_weight'] = self._weight_like('_pos_weight', cls_score)
        elif _is_soft_target(cls_score, label):
            criterion = soft_cross_entropy
        elif self.use_soft:
            label = convert_to_one_hot(label, cls_score.size(-1)).to(cls_score.dtype)
        loss = criterion(cls_score, label, weight, class_weight=class_weight, reduction=reduction,
                         avg_factor=avg_factor, **kwargs)
        return self.loss_weight * loss
