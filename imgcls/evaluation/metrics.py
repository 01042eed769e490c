"""Single-label classification metrics, in percent, with the semantics of mmcls 0.x ``eval_metrics``.

``pred`` is an ``(N, C)`` matrix of class scores (numpy, torch or a list of per-image vectors);
``target`` holds the ``N`` true class indices. The confusion matrix comes from torchmetrics; precision,
recall and F1 are read off it as mmcls does: a class never predicted has precision 0, a class never
present has recall 0, and ``'macro'`` averages over all ``C`` classes.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from numbers import Number

import numpy as np
import torch
from torchmetrics.functional.classification import multiclass_confusion_matrix

from ..errors import ConfigError, DataError
from ..ranking import topk as stable_topk
from ..warn import warn_once

__all__ = ['AVERAGE_MODES', 'SINGLE_LABEL_METRICS', 'as_score_matrix', 'accuracy', 'confusion_matrix',
           'precision_recall_f1', 'precision', 'recall', 'f1_score', 'support', 'evaluate_single_label']

AVERAGE_MODES = ('macro', 'micro', 'none')
SINGLE_LABEL_METRICS = ('accuracy', 'precision', 'recall', 'f1_score', 'support')
_OPTIONS = ('topk', 'thrs', 'average_mode')

Thrs = float | Sequence[float] | None


def as_score_matrix(pred) -> torch.Tensor:
    """An ``(N, C)`` float32 CPU tensor from a tensor, an array or a list of per-image score vectors."""
    if isinstance(pred, torch.Tensor):
        scores = pred.detach().float().cpu()
    else:
        rows = [r.detach().float().cpu().numpy() if isinstance(r, torch.Tensor) else np.asarray(r)
                for r in pred]
        if not rows:
            raise DataError('evaluate: no results to evaluate (an empty list of scores)')
        try:
            scores = torch.from_numpy(np.stack(rows).astype(np.float32))
        except ValueError:
            shapes = sorted({np.shape(r) for r in rows})[:2]
            raise DataError(f'evaluate: per-image scores must all have the same length, got shapes {shapes}') from None
    if scores.ndim != 2:
        raise DataError(f'evaluate: expected one score vector per image, (N, C), got shape {tuple(scores.shape)}')
    return scores


def _inputs(pred, target) -> tuple[torch.Tensor, torch.Tensor]:
    """Validated ``(scores (N, C), labels (N,) int64)``."""
    scores = as_score_matrix(pred)
    labels = torch.as_tensor(np.asarray(target)).long().flatten() if not isinstance(target, torch.Tensor) \
        else target.detach().cpu().long().flatten()
    if len(scores) != len(labels):
        raise DataError(f'evaluate: got {len(scores)} results for {len(labels)} images in the dataset')
    if len(scores) == 0:
        raise DataError('evaluate: no results to evaluate')
    num_classes = scores.shape[1]
    bad = torch.nonzero((labels < 0) | (labels >= num_classes)).flatten()
    if len(bad):
        i = int(bad[0])
        raise DataError(f'evaluate: ground-truth label {int(labels[i])} of image {i} is outside '
                        f'0..{num_classes - 1} ({num_classes} score columns)')
    return scores, labels


def _thr_list(thrs: Thrs) -> tuple[list[float | None], bool]:
    """``(thresholds, single)``: a scalar or None gives one result, a sequence one per threshold."""
    if thrs is None or isinstance(thrs, Number):
        return [None if thrs is None else float(thrs)], True
    if isinstance(thrs, (list, tuple)) and thrs and all(isinstance(t, Number) for t in thrs):
        return [float(t) for t in thrs], False
    raise ConfigError(f'metric_options thrs must be a number or a tuple of numbers such as (0.5, 0.9), got {thrs!r}')


def accuracy(pred, target, topk: int | Sequence[int] = 1, thrs: Thrs = None):
    """Top-k accuracy in percent: a hit when the true class is among the k best scores (and above ``thrs``).

    Returns a float for an int ``topk`` and a list (one per k) for a sequence; with a sequence of
    ``thrs`` each of those values becomes a list over the thresholds, as in mmcls. A k larger than the
    number of classes counts every class. ``thrs=None`` (default) applies no score threshold.
    """
    single_k = isinstance(topk, int)
    ks = (topk,) if single_k else tuple(topk)
    if not ks or not all(isinstance(k, int) and not isinstance(k, bool) and k > 0 for k in ks):
        raise ConfigError(f'metric_options topk must be a positive int or a tuple of them, got {topk!r}')
    thr_values, single_thr = _thr_list(thrs)
    scores, labels = _inputs(pred, target)
    maxk = min(max(ks), scores.shape[1])
    top_scores, top_labels = stable_topk(scores, maxk, dim=1)
    correct = top_labels == labels[:, None]
    out = []
    for k in ks:
        per_thr = []
        for thr in thr_values:
            hit = correct[:, :k] if thr is None else correct[:, :k] & (top_scores[:, :k] > thr)
            per_thr.append(float(hit.any(dim=1).double().mean()) * 100.0)
        out.append(per_thr[0] if single_thr else per_thr)
    return out[0] if single_k else out


def confusion_matrix(pred, target, num_classes: int | None = None) -> torch.Tensor:
    """``(C, C)`` int64 counts; row = true class, column = predicted class.

    ``pred`` is an ``(N, C)`` score matrix (its argmax is the prediction) or a 1-D tensor/array of
    ``N`` predicted labels (then ``C`` is ``num_classes``, or one more than the largest label).
    """
    if isinstance(pred, (torch.Tensor, np.ndarray)) and pred.ndim == 1:
        pred_labels = torch.as_tensor(pred).long().cpu()
        num_classes = num_classes or int(max(pred_labels.max(), torch.as_tensor(np.asarray(target)).max())) + 1
        if bool(((pred_labels < 0) | (pred_labels >= num_classes)).any()):
            raise DataError(f'confusion_matrix: predicted labels must be in 0..{num_classes - 1}')
        pred = torch.nn.functional.one_hot(pred_labels, num_classes).float()  # scores whose argmax is the label
    scores, labels = _inputs(pred, target)
    return multiclass_confusion_matrix(scores.argmax(1), labels, num_classes=scores.shape[1], validate_args=False)


def _class_counts(scores: torch.Tensor, labels: torch.Tensor, thr: float | None):
    """``(true positives, predicted positives, actual positives)`` per class at score threshold ``thr``."""
    num_classes = scores.shape[1]
    top_score, pred = scores.max(dim=1)
    if thr is not None:
        # a prediction scoring <= thr counts for no class (mmcls): an extra "rejected" column holds it
        pred = torch.where(top_score > thr, pred, torch.full_like(pred, num_classes))
    cm = multiclass_confusion_matrix(pred, labels, num_classes=num_classes + 1, validate_args=False)
    cm = cm[:num_classes].double()
    return cm.diagonal()[:num_classes], cm[:, :num_classes].sum(0), cm.sum(1)


def _check_average_mode(average_mode: str) -> None:
    if average_mode not in AVERAGE_MODES:
        raise ConfigError(f'metric_options average_mode={average_mode!r} is not valid; choose from '
                          f'{list(AVERAGE_MODES)}')


def _prf(tp: torch.Tensor, pred_pos: torch.Tensor, gt_pos: torch.Tensor, average_mode: str):
    """Precision, recall, F1 in percent: floats ('macro' / 'micro') or per-class lists ('none')."""
    if average_mode == 'micro':
        tp, pred_pos, gt_pos = tp.sum(), pred_pos.sum(), gt_pos.sum()
    p = tp / pred_pos.clamp(min=1) * 100.0
    r = tp / gt_pos.clamp(min=1) * 100.0
    f1 = 2 * p * r / (p + r).clamp(min=torch.finfo(torch.float32).eps)
    if average_mode == 'none':
        return p.tolist(), r.tolist(), f1.tolist()
    return float(p.mean()), float(r.mean()), float(f1.mean())


def precision_recall_f1(pred, target, average_mode: str = 'macro', thrs: Thrs = None):
    """``(precision, recall, f1_score)`` in percent, each a float ('macro', 'micro') or a per-class list
    ('none'); with a sequence of ``thrs``, each becomes a list over the thresholds."""
    _check_average_mode(average_mode)
    thr_values, single = _thr_list(thrs)
    scores, labels = _inputs(pred, target)
    values = [_prf(*_class_counts(scores, labels, thr), average_mode) for thr in thr_values]
    if single:
        return values[0]
    return tuple([v[i] for v in values] for i in range(3))


def precision(pred, target, average_mode: str = 'macro', thrs: Thrs = None):
    """Precision in percent (see :func:`precision_recall_f1`)."""
    return precision_recall_f1(pred, target, average_mode, thrs)[0]


def recall(pred, target, average_mode: str = 'macro', thrs: Thrs = None):
    """Recall in percent (see :func:`precision_recall_f1`)."""
    return precision_recall_f1(pred, target, average_mode, thrs)[1]


def f1_score(pred, target, average_mode: str = 'macro', thrs: Thrs = None):
    """F1 score in percent (see :func:`precision_recall_f1`)."""
    return precision_recall_f1(pred, target, average_mode, thrs)[2]


def support(pred, target, average_mode: str = 'macro'):
    """Images per true class: the total as a float ('macro', 'micro', as mmcls) or a per-class list ('none')."""
    _check_average_mode(average_mode)
    counts = confusion_matrix(pred, target).sum(1)
    return [int(c) for c in counts] if average_mode == 'none' else float(counts.sum())


def _with_thr_keys(name: str, value, thrs) -> dict:
    if isinstance(thrs, (list, tuple)):
        return {f'{name}_thr_{thr:.2f}': v for thr, v in zip(thrs, value)}
    return {name: value}


def _parse_options(metric_options: Mapping | None) -> tuple:
    options = dict(metric_options) if metric_options else {}
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ConfigError(f'evaluate: unknown metric_options key(s) {unknown}; single-label datasets take '
                          f'{list(_OPTIONS)}')
    topk = options.get('topk', (1, 5))
    if isinstance(topk, list):
        topk = tuple(topk)  # --metric-options topk=[1,5] parses to a list
    thrs = options.get('thrs')
    if isinstance(thrs, list):
        thrs = tuple(thrs)
    average_mode = options.get('average_mode', 'macro')
    if average_mode is None:  # --metric-options average_mode=none parses to None
        average_mode = 'none'
    return topk, thrs, average_mode


def clip_topk(topk: int | tuple[int, ...], num_classes: int) -> int | tuple[int, ...]:
    """Leave out the k of a tuple that exceed the number of classes (always 100%); said once per run."""
    if isinstance(topk, int) or not num_classes:
        return topk
    kept = tuple(k for k in topk if k <= num_classes) or (1,)
    if kept != tuple(topk):
        warn_once(None, f'topk{tuple(topk)}>{num_classes}', f'evaluation: topk={tuple(topk)} clipped to {kept}: '
                  f'there are only {num_classes} classes')
    return kept


def evaluate_single_label(results, gt_labels, metric: str | Sequence[str] = 'accuracy',
                          metric_options: Mapping | None = None) -> dict:
    """The metrics of mmcls 0.x ``BaseDataset.evaluate``, keyed as it keys them.

    Args:
        metric: one or a list of ``accuracy``, ``precision``, ``recall``, ``f1_score``, ``support``.
        metric_options: ``topk`` (int → key ``accuracy``; tuple, default (1, 5) → ``accuracy_top-k``),
            ``thrs`` (a score threshold; a tuple adds ``_thr_0.50``-style keys), ``average_mode``
            ('macro', 'micro' or 'none' for per-class lists).
    """
    metrics = [metric] if isinstance(metric, str) else list(metric)
    unknown = [m for m in metrics if m not in SINGLE_LABEL_METRICS]
    if unknown or not metrics:
        close = difflib.get_close_matches(str(unknown[0]), SINGLE_LABEL_METRICS, n=1) if unknown else []
        hint = f' (did you mean {close[0]!r}?)' if close else ''
        raise ConfigError(f'evaluate: metric {unknown[0] if unknown else metrics!r} is not supported for '
                          f'single-label datasets{hint}; choose from {list(SINGLE_LABEL_METRICS)}')
    topk, thrs, average_mode = _parse_options(metric_options)
    _check_average_mode(average_mode)
    scores, labels = _inputs(results, gt_labels)
    out: dict = {}
    if 'accuracy' in metrics:
        topk = clip_topk(topk, scores.shape[1])
        acc = accuracy(scores, labels, topk=topk, thrs=thrs)
        named = {'accuracy': acc} if isinstance(topk, int) else {f'accuracy_top-{k}': a for k, a in zip(topk, acc)}
        for name, value in named.items():
            out.update(_with_thr_keys(name, value, thrs))
    if 'support' in metrics:
        out['support'] = support(scores, labels, average_mode)
    wanted = [m for m in ('precision', 'recall', 'f1_score') if m in metrics]
    if wanted:
        values = dict(zip(('precision', 'recall', 'f1_score'),
                          precision_recall_f1(scores, labels, average_mode, thrs)))
        for name in wanted:
            out.update(_with_thr_keys(name, values[name], thrs))
    return out
