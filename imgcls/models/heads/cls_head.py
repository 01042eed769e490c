"""ClsHead: the base classification head, which turns logits into a loss or scores."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ConfigError
from ..builder import HEADS, build_loss
from ..layers import initialize
from ..losses import Accuracy


def _check_topk(topk) -> tuple[int, ...]:
    """Return ``topk`` as a tuple of positive ints, or raise ConfigError naming it."""
    if isinstance(topk, int) and not isinstance(topk, bool):
        topk = (topk,)
    if isinstance(topk, list):  # JSON / YAML configs and --cfg-options have no tuples
        topk = tuple(topk)
    if (not isinstance(topk, tuple) or not topk
            or not all(isinstance(k, int) and not isinstance(k, bool) and k > 0 for k in topk)):
        raise ConfigError(f'topk must be a positive int or a tuple of positive ints such as (1, 5), '
                          f'got {topk!r}')
    return topk


def _is_tracing() -> bool:
    """True under torch.jit.trace, ONNX export or torch.compile, where scores must stay a tensor."""
    is_compiling = getattr(getattr(torch, 'compiler', None), 'is_compiling', lambda: False)
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or is_compiling()


@HEADS.register_module()
class ClsHead(nn.Module):
    """A head whose input already is the class scores (logits).

    Args:
        loss: config of the loss, built from LOSSES.
        topk: the k of the top-k accuracies reported when ``cal_acc`` is True.
        cal_acc: also report training accuracy under the ``'accuracy'`` key.
        init_cfg: how ``init_weights`` initialises the layers, e.g.
            ``dict(type='Normal', layer='Linear', std=0.01)``.
    """

    def __init__(self, loss: Mapping = dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1,),
                 cal_acc: bool = False, init_cfg: Mapping | list | None = None):
        super().__init__()
        if not isinstance(loss, Mapping):
            raise ConfigError(f"loss must be a config dict such as dict(type='CrossEntropyLoss'), "
                              f'got {loss!r}')
        self.init_cfg = init_cfg
        self.topk = _check_topk(topk)
        self.compute_loss = build_loss(loss)
        # no score threshold: the scores here are raw logits, and a right answer with a
        # negative logit is still right (mmcls 0.x's default thrs=0. would miss it)
        self.compute_accuracy = Accuracy(topk=self.topk, thrs=None)
        self.cal_acc = cal_acc

    def init_weights(self) -> None:
        """Initialise the layers as ``init_cfg`` says (nothing to do without one)."""
        if self.init_cfg is not None:
            initialize(self, self.init_cfg)

    def loss(self, cls_score: torch.Tensor, gt_label: torch.Tensor, **kwargs) -> dict:
        """Return ``{'loss': tensor}`` plus ``{'accuracy': {'top-k': tensor}}`` when ``cal_acc``."""
        num_samples = len(cls_score)
        losses = {}
        # avg_factor=N: per-sample losses (summed over classes for BCE) are averaged over the batch
        loss = self.compute_loss(cls_score, gt_label, avg_factor=num_samples, **kwargs)
        if self.cal_acc:
            self._clip_topk(cls_score.shape[1])
            acc = self.compute_accuracy(cls_score, gt_label)
            losses['accuracy'] = {f'top-{k}': a for k, a in zip(self.topk, acc)}
        losses['loss'] = loss
        return losses

    def _clip_topk(self, num_classes: int) -> None:
        """Drop the k larger than the number of classes (a top-5 of 2 classes is always 100%), said once."""
        kept = tuple(k for k in self.topk if k <= num_classes) or (1,)
        if kept == self.topk:
            return
        logging.getLogger('imgcls').warning(
            f'{type(self).__name__}: topk={self.topk} clipped to {kept}: there are only {num_classes} classes')
        self.topk = kept
        self.compute_accuracy = Accuracy(topk=kept, thrs=None)

    def forward_train(self, cls_score, gt_label: torch.Tensor, **kwargs) -> dict:
        """Return the losses dict of ``cls_score`` (or the last element of a tuple of them)."""
        if isinstance(cls_score, tuple):
            cls_score = cls_score[-1]
        return self.loss(cls_score, gt_label, **kwargs)

    def pre_logits(self, x):
        """The features right before the classification layer: here, the logits themselves."""
        if isinstance(x, tuple):
            x = x[-1]
        return x

    def forward(self, x) -> torch.Tensor:
        """Return the raw class scores (used by export and plain-PyTorch callers)."""
        return self.pre_logits(x)

    def simple_test(self, cls_score, softmax: bool = True, post_process: bool = True):
        """Return the class scores, softmaxed if asked.

        With ``post_process`` a list of one numpy array per sample, otherwise a (N, C) tensor.
        """
        if isinstance(cls_score, tuple):
            cls_score = cls_score[-1]
        pred = F.softmax(cls_score.float(), dim=1) if softmax and cls_score is not None else cls_score
        return self.post_process(pred) if post_process else pred

    def post_process(self, pred: torch.Tensor):
        """Split (N, C) scores into a list of per-sample numpy arrays (a tensor while tracing)."""
        if _is_tracing():
            return pred
        return list(pred.detach().cpu().numpy())
