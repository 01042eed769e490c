"""Helpers shared by the losses: element-wise weighting and reduction."""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F

_REDUCTIONS = ('none', 'mean', 'sum')


def check_reduction(reduction: str | None, allow_none: bool = False) -> None:
    """Raise ValueError unless ``reduction`` is 'none', 'mean' or 'sum' (or None when allowed)."""
    if reduction is None and allow_none:
        return
    if reduction not in _REDUCTIONS:
        choices = ', '.join(repr(r) for r in _REDUCTIONS) + (' or None' if allow_none else '')
        raise ValueError(f'reduction must be one of {choices}, got {reduction!r}')


def reduce_loss(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    """Reduce an element-wise loss with 'none', 'mean' or 'sum'."""
    check_reduction(reduction)
    if reduction == 'mean':
        return loss.mean()
    if reduction == 'sum':
        return loss.sum()
    return loss


def weight_reduce_loss(loss: torch.Tensor, weight: torch.Tensor | None = None, reduction: str = 'mean',
                       avg_factor: float | torch.Tensor | None = None) -> torch.Tensor:
    """Multiply an element-wise loss by ``weight``, then reduce it.

    With ``avg_factor`` and reduction 'mean' the loss is summed and divided by
    ``avg_factor`` (e.g. the batch size when each sample's loss is already summed
    over classes); 'none' returns the weighted loss; 'sum' is an error.
    """
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        return reduce_loss(loss, reduction)
    check_reduction(reduction)
    if reduction == 'mean':
        return loss.sum() / avg_factor
    if reduction == 'sum':
        raise ValueError('avg_factor can not be used with reduction="sum": '
                         'use "mean" or leave avg_factor unset')
    return loss


def weighted_loss(loss_func: Callable) -> Callable:
    """Give an element-wise ``loss_func(pred, target, **kwargs)`` weight / reduction / avg_factor arguments.

    The decorated function is called as
    ``loss_func(pred, target, weight=None, reduction='mean', avg_factor=None, **kwargs)``.
    """

    @functools.wraps(loss_func)
    def wrapper(pred, target, weight=None, reduction='mean', avg_factor=None, **kwargs):
        loss = loss_func(pred, target, **kwargs)
        return weight_reduce_loss(loss, weight, reduction, avg_factor)

    return wrapper


def convert_to_one_hot(targets: torch.Tensor, classes: int) -> torch.Tensor:
    """Turn class indices of shape (N,) or (N, 1) into one-hot rows of shape (N, classes)."""
    # F.one_hot itself rejects indices >= classes on CPU; no host-side max() here (it would sync the GPU)
    return F.one_hot(targets.long().reshape(-1), num_classes=classes)
