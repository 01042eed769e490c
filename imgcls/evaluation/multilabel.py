"""Multi-label metrics in percent: mAP and CP / CR / CF1 / OP / OR / OF1 (mmcls 0.x names, options and numbers).

``pred`` is an ``(N, C)`` score matrix; ``target`` an ``(N, C)`` matrix of 1 (positive), 0 (negative)
and -1 (difficult). As in mmcls 0.x: mAP skips difficult labels (they neither count as hits nor take
a rank), and a class with no positive label (all negatives, or all difficult) has AP 0; CP ... OF1
count difficult labels as negatives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Number

import numpy as np
import torch

from ..errors import ConfigError, DataError
from ..ranking import topk as stable_topk
from .metrics import as_score_matrix

__all__ = ['MULTI_LABEL_METRICS', 'average_precision', 'mAP', 'average_performance', 'evaluate_multilabel']

MULTI_LABEL_METRICS = ('mAP', 'CP', 'CR', 'CF1', 'OP', 'OR', 'OF1')
_EPS = float(np.finfo(np.float32).eps)


def _inputs(pred, target) -> tuple[torch.Tensor, torch.Tensor]:
    """Validated ``(scores (N, C) float, target (N, C) int64 in {-1, 0, 1})``."""
    scores = as_score_matrix(pred)
    gt = target.detach().cpu() if isinstance(target, torch.Tensor) else torch.as_tensor(np.asarray(target))
    if tuple(gt.shape) != tuple(scores.shape):
        raise DataError(f'multi-label evaluate: scores of shape {tuple(scores.shape)} do not match the '
                        f'ground truth of shape {tuple(gt.shape)} (one row per image, one column per class)')
    gt = gt.long()
    bad = ~((gt == 1) | (gt == 0) | (gt == -1))
    if bool(bad.any()):
        i, j = (int(v) for v in torch.nonzero(bad)[0])
        raise DataError(f'multi-label evaluate: ground truth of image {i}, class {j} is {int(gt[i, j])}; '
                        'use 1 (positive), 0 (negative) or -1 (difficult)')
    return scores, gt


def _column_ap(scores: np.ndarray, target: np.ndarray) -> float:
    """AP of one class: the mean, over its positives, of the precision at their rank (difficult ones skipped)."""
    ranked = target[np.argsort(-scores, kind='stable')]
    hits = ranked == 1
    if not hits.any():
        return 0.0
    precision = np.cumsum(hits)[hits] / np.cumsum(ranked != -1)[hits]
    return float(precision.sum() / hits.sum())


def average_precision(pred, target) -> list[float]:
    """AP per class (fractions in 0..1); difficult (-1) entries skipped, 0 for a class with no positive."""
    scores, gt = _inputs(pred, target)
    scores_np, gt_np = scores.double().numpy(), gt.numpy()
    return [_column_ap(scores_np[:, c], gt_np[:, c]) for c in range(scores_np.shape[1])]


def mAP(pred, target) -> float:
    """Mean average precision over classes, in percent."""
    return float(np.mean(average_precision(pred, target))) * 100.0


def _positives(scores: torch.Tensor, thr: float | None, k: int | None) -> torch.Tensor:
    """The predicted-positive mask: score >= thr, or the k best classes of each image."""
    if thr is not None:
        return (scores >= thr).long()
    pos = torch.zeros_like(scores, dtype=torch.long)
    pos.scatter_(1, stable_topk(scores, min(k, scores.shape[1]), dim=1)[1], 1)
    return pos


def average_performance(pred, target, thr: float | None = None, k: int | None = None) -> tuple[float, ...]:
    """``(CP, CR, CF1, OP, OR, OF1)`` in percent: per-class (C) and overall (O) precision, recall, F1.

    A label is predicted when its score is ``>= thr``, or when it is among the image's ``k`` best;
    neither given means ``thr=0.5``, both given means ``thr`` (as mmcls).
    """
    if thr is None and k is None:
        thr = 0.5
    if thr is not None and not isinstance(thr, Number):
        raise ConfigError(f'metric_options thr must be a number such as 0.5, got {thr!r}')
    if thr is None and (not isinstance(k, int) or isinstance(k, bool) or k <= 0):
        raise ConfigError(f'metric_options k must be a positive int, got {k!r}')
    scores, gt = _inputs(pred, target)
    predicted = _positives(scores, thr, k).bool()
    truth = gt == 1  # difficult labels count as negatives, as in mmcls
    tp = (predicted & truth).sum(0).double()
    fp = (predicted & ~truth).sum(0).double()
    fn = (~predicted & truth).sum(0).double()
    cp = float((tp / (tp + fp).clamp(min=_EPS)).mean()) * 100.0
    cr = float((tp / (tp + fn).clamp(min=_EPS)).mean()) * 100.0
    op = float(tp.sum() / max(float(tp.sum() + fp.sum()), _EPS)) * 100.0
    o_r = float(tp.sum() / max(float(tp.sum() + fn.sum()), _EPS)) * 100.0
    return cp, cr, 2 * cp * cr / max(cp + cr, _EPS), op, o_r, 2 * op * o_r / max(op + o_r, _EPS)


def _parse_options(metric_options: Mapping | None) -> dict:
    options = dict(metric_options or {})
    if 'thrs' in options:  # the single-label spelling; one threshold only here
        thrs = options.pop('thrs')
        if isinstance(thrs, (list, tuple)):
            if len(thrs) != 1:
                raise ConfigError(f'multi-label metric_options take one threshold thr=0.5, got thrs={thrs!r}')
            thrs = thrs[0]
        options.setdefault('thr', thrs)
    unknown = sorted(set(options) - {'thr', 'k'})
    if unknown:
        raise ConfigError(f'multi-label evaluate: unknown metric_options key(s) {unknown}; valid: thr, k')
    return options


def evaluate_multilabel(scores, gt_labels, metric: str | Sequence[str] = 'mAP',
                        metric_options: Mapping | None = None) -> dict[str, float]:
    """The metrics of mmcls 0.x ``MultiLabelDataset.evaluate``: any of mAP, CP, CR, CF1, OP, OR, OF1.

    ``metric_options``: ``thr`` (default 0.5) or ``k`` (top-k labels per image) for CP ... OF1.
    """
    metrics = [metric] if isinstance(metric, str) else list(metric)
    unknown = [m for m in metrics if m not in MULTI_LABEL_METRICS]
    if unknown or not metrics:
        raise ConfigError(f'evaluate: metric {unknown[0] if unknown else metrics!r} is not supported for '
                          f'multi-label datasets; choose from {list(MULTI_LABEL_METRICS)}')
    options = _parse_options(metric_options)
    out = {}
    if 'mAP' in metrics:
        out['mAP'] = mAP(scores, gt_labels)
    if any(m != 'mAP' for m in metrics):
        values = dict(zip(MULTI_LABEL_METRICS[1:], average_performance(scores, gt_labels, **options)))
        out.update({m: values[m] for m in metrics if m != 'mAP'})
    return out
