"""EfficientFormerClsHead: a linear classifier plus, in the distilled models, a second one whose scores are averaged
with the first at inference (the distillation head's teacher is not part of imgcls, so it only infers)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ConfigError
from ..builder import HEADS
from .cls_head import ClsHead

__all__ = ['EfficientFormerClsHead']


@HEADS.register_module()
class EfficientFormerClsHead(ClsHead):
    """``head`` (and ``dist_head`` with ``distillation``) from pooled features to class scores.

    Args:
        num_classes / in_channels: of the linear layers.
        distillation: add ``dist_head`` and average the two heads' scores; such a head infers but does not
            train (set False to fine-tune without distillation).
        **kwargs: the ClsHead arguments (loss, topk, cal_acc).
    """

    def __init__(self, num_classes: int, in_channels: int, distillation: bool = True,
                 init_cfg: Mapping | None = dict(type='Normal', layer='Linear', std=0.01),  # noqa: B006
                 *args, **kwargs):
        super().__init__(*args, init_cfg=init_cfg, **kwargs)
        for name, value in (('num_classes', num_classes), ('in_channels', in_channels)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f'{name}={value!r} must be a positive integer')
        self.num_classes, self.in_channels, self.dist = num_classes, in_channels, distillation
        self.head = nn.Linear(in_channels, num_classes)
        if distillation:
            self.dist_head = nn.Linear(in_channels, num_classes)

    def pre_logits(self, x):
        """The input features (the last element of a tuple)."""
        return x[-1] if isinstance(x, tuple) else x

    def forward(self, x) -> torch.Tensor:
        """Class scores: ``head``'s, averaged with ``dist_head``'s in a distilled head."""
        x = self.pre_logits(x)
        scores = self.head(x)
        return (scores + self.dist_head(x)) / 2 if self.dist else scores

    def simple_test(self, x, softmax: bool = True, post_process: bool = True):
        """Class scores of features ``x``: softmaxed if asked, per-sample arrays if post_process."""
        scores = self(x)
        pred = F.softmax(scores.float(), dim=1) if softmax else scores
        return self.post_process(pred) if post_process else pred

    def forward_train(self, x, gt_label: torch.Tensor, **kwargs) -> dict:
        """The losses of ``head``'s scores; a distilled head cannot train without its teacher."""
        if self.dist:
            raise ConfigError('EfficientFormerClsHead with distillation=True has no teacher to train against (mmcls '
                              '0.25 does not train it either): '
                              'set model.head.distillation=False to fine-tune (dist_head is then dropped)')
        return self.loss(self.head(self.pre_logits(x)), gt_label, **kwargs)
