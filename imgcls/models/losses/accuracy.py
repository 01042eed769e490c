"""Top-k accuracy, as a function and as a module (used by the heads' ``cal_acc``)."""

from __future__ import annotations

from numbers import Number

import numpy as np
import torch
import torch.nn as nn

from ...ranking import topk as stable_topk


def _to_tensor(x, name: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x)
    if isinstance(x, torch.Tensor):
        return x
    raise TypeError(f'{name} must be a torch.Tensor or np.ndarray, got {type(x).__name__}')


def _normalize_topk(topk) -> tuple[tuple[int, ...], bool]:
    """Return (topk tuple, whether the caller passed a single int)."""
    if isinstance(topk, int) and not isinstance(topk, bool):
        topk, single = (topk,), True
    elif isinstance(topk, tuple):
        single = False
    else:
        raise TypeError(f'topk must be an int or a tuple of ints, got {topk!r}')
    if not topk or not all(isinstance(k, int) and not isinstance(k, bool) and k > 0 for k in topk):
        raise ValueError(f'topk values must be positive integers, got {topk!r}')
    return topk, single


def accuracy_torch(pred: torch.Tensor, target: torch.Tensor, topk: tuple[int, ...] = (1,),
                   thrs: float | tuple[float, ...] = 0.) -> list:
    """Top-k accuracies (in percent) of scores ``pred`` (N, C) against labels ``target`` (N,).

    Returns one entry per k: a 1-element tensor, or a list of them (one per threshold)
    when ``thrs`` is a tuple. A prediction counts only if its score is above the threshold
    (a None threshold counts every top-k hit).
    """
    if thrs is None or isinstance(thrs, Number):
        thrs, single_thr = (thrs,), True
    elif isinstance(thrs, tuple):
        single_thr = False
    else:
        raise TypeError(f'thrs must be a number or a tuple of numbers, got {thrs!r}')
    if pred.dim() != 2:
        raise ValueError(f'pred must be a (N, C) score tensor, got shape {tuple(pred.shape)}')
    if target.dim() == 2 and target.shape == pred.shape:  # one-hot / mixed targets: take the main class
        target = target.argmax(dim=1)
    maxk = max(topk)
    num, num_classes = pred.shape
    if maxk > num_classes:
        raise ValueError(f'top-{maxk} accuracy needs at least {maxk} classes, but pred has {num_classes}')
    pred_score, pred_label = stable_topk(pred.float(), maxk, dim=1)
    pred_score, pred_label = pred_score.t(), pred_label.t()
    correct = pred_label.eq(target.to(pred_label.device, torch.int64).view(1, -1).expand_as(pred_label))
    res = []
    for k in topk:
        per_thr = []
        for thr in thrs:
            hit = correct[:k] if thr is None else correct[:k] & (pred_score[:k] > thr)
            per_thr.append(hit.reshape(-1).float().sum(0, keepdim=True) * (100. / max(num, 1)))
        res.append(per_thr[0] if single_thr else per_thr)
    return res


def accuracy(pred, target, topk=1, thrs=0.):
    """Top-k accuracy in percent of ``pred`` (N, C scores) against ``target`` (N labels).

    Args:
        pred: torch.Tensor or np.ndarray of scores.
        target: torch.Tensor or np.ndarray of class indices.
        topk: an int (returns one value) or a tuple of ints (returns a list, one per k).
        thrs: a score threshold at or below which a prediction never counts as correct
            (None: no threshold); a tuple gives one value per threshold for each k.

    Returns:
        A 1-element tensor (int ``topk``) or a list of them (tuple ``topk``).
    """
    topk, single = _normalize_topk(topk)
    pred = _to_tensor(pred, 'pred')
    target = _to_tensor(target, 'target')
    res = accuracy_torch(pred, target, topk, thrs)
    return res[0] if single else res


class Accuracy(nn.Module):
    """Module form of :func:`accuracy` with a fixed ``topk`` (and ``thrs``)."""

    def __init__(self, topk=(1,), thrs=0.):
        super().__init__()
        self.topk = topk
        self.thrs = thrs

    def forward(self, pred, target) -> list:
        """Return a list with the accuracy of each k in ``topk``."""
        topk = self.topk if isinstance(self.topk, tuple) else (self.topk,)
        return accuracy(pred, target, topk, self.thrs)
