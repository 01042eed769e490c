"""Multi-label heads: one independent (sigmoid) score per class, multi-hot targets."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn as nn

from ...errors import ConfigError
from ..builder import HEADS
from .cls_head import ClsHead

__all__ = ['MultiLabelClsHead', 'MultiLabelLinearClsHead']

_SIGMOID_BCE = dict(type='CrossEntropyLoss', use_sigmoid=True, reduction='mean', loss_weight=1.0)


@HEADS.register_module()
class MultiLabelClsHead(ClsHead):
    """A multi-label head whose input already is the class scores (logits).

    Args:
        loss: the loss config; sigmoid binary cross-entropy by default.
        init_cfg: how ``init_weights`` initialises the layers.

    ``gt_label`` is multi-hot (N, C): 1 positive, 0 negative, -1 difficult. As in mmcls,
    difficult labels count as positives in the loss (the loss sees ``abs(gt_label)``);
    the multi-label metrics are where difficult labels are ignored.
    """

    def __init__(self, loss: Mapping = _SIGMOID_BCE, init_cfg: Mapping | list | None = None):
        super().__init__(loss=loss, init_cfg=init_cfg)

    def loss(self, cls_score: torch.Tensor, gt_label: torch.Tensor, **kwargs) -> dict:
        """Return ``{'loss': tensor}`` for multi-hot ``gt_label`` (N, C)."""
        if gt_label.shape != cls_score.shape:
            raise ValueError(f'{type(self).__name__} needs multi-hot labels of the scores\' shape '
                             f'{tuple(cls_score.shape)}, got {tuple(gt_label.shape)}: use a multi-label '
                             f'dataset (its gt_label is one 0/1/-1 entry per class)')
        # difficult (-1) → positive, as mmcls does
        target = torch.abs(gt_label.type_as(cls_score))
        # avg_factor=N: each sample's loss is summed over classes, then averaged over the batch
        return {'loss': self.compute_loss(cls_score, target, avg_factor=len(cls_score), **kwargs)}

    def _activate(self, cls_score: torch.Tensor, sigmoid: bool, softmax: bool | None,
                  post_process: bool):
        # ``softmax`` is what generic callers (test_step) pass: here the activation is the sigmoid
        activate = sigmoid if softmax is None else softmax
        pred = torch.sigmoid(cls_score.float()) if activate else cls_score
        return self.post_process(pred) if post_process else pred

    def simple_test(self, x, sigmoid: bool = True, post_process: bool = True, softmax: bool | None = None):
        """Per-class probabilities (sigmoid) of the scores ``x``; ``softmax`` is read as ``sigmoid``."""
        return self._activate(self.pre_logits(x), sigmoid, softmax, post_process)


@HEADS.register_module()
class MultiLabelLinearClsHead(MultiLabelClsHead):
    """A linear layer ``fc`` from pooled features to multi-label class scores.

    Args:
        num_classes: number of categories.
        in_channels: channels of the input feature vector.
        loss: the loss config; sigmoid binary cross-entropy by default.
        init_cfg: normal(0, 0.01) for ``fc`` by default.
    """

    def __init__(self, num_classes: int, in_channels: int, loss: Mapping = _SIGMOID_BCE,
                 init_cfg: Mapping | list | None = dict(type='Normal', layer='Linear', std=0.01)):  # noqa: B006
        super().__init__(loss=loss, init_cfg=init_cfg)
        for name, value in (('num_classes', num_classes), ('in_channels', in_channels)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f'{name}={value!r} must be a positive integer')
        self.num_classes, self.in_channels = num_classes, in_channels
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x) -> torch.Tensor:
        """Return the raw class scores of features ``x``."""
        return self.fc(self.pre_logits(x))

    def forward_train(self, x, gt_label: torch.Tensor, **kwargs) -> dict:
        """Return the losses dict of features ``x`` against multi-hot ``gt_label``."""
        return self.loss(self(x), gt_label, **kwargs)

    def simple_test(self, x, sigmoid: bool = True, post_process: bool = True, softmax: bool | None = None):
        """Per-class probabilities (sigmoid) of features ``x``; ``softmax`` is read as ``sigmoid``."""
        return self._activate(self(x), sigmoid, softmax, post_process)
