"""LinearClsHead: one fully connected layer from pooled features to class scores."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ConfigError
from ..builder import HEADS
from .cls_head import ClsHead


@HEADS.register_module()
class LinearClsHead(ClsHead):
    """A linear classifier head.

    Args:
        num_classes: number of categories (without background).
        in_channels: number of channels of the input feature vector.
        init_cfg: how ``init_weights`` initialises ``fc``; normal(0, 0.01), bias 0 by default.
        *args, **kwargs: the ClsHead arguments (loss, topk, cal_acc).
    """

    def __init__(self, num_classes: int, in_channels: int,
                 init_cfg: Mapping | None = dict(type='Normal', layer='Linear', std=0.01),
                 *args, **kwargs):
        super().__init__(*args, init_cfg=init_cfg, **kwargs)
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes <= 0:
            raise ConfigError(f'num_classes={num_classes!r} must be a positive integer')
        if not isinstance(in_channels, int) or isinstance(in_channels, bool) or in_channels <= 0:
            raise ConfigError(f'in_channels={in_channels!r} must be a positive integer')
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.fc = nn.Linear(self.in_channels, self.num_classes)

    def pre_logits(self, x):
        """The input features (the last element of a tuple)."""
        if isinstance(x, tuple):
            x = x[-1]
        return x

    def forward(self, x) -> torch.Tensor:
        """Return the raw class scores of features ``x``."""
        return self.fc(self.pre_logits(x))

    def simple_test(self, x, softmax: bool = True, post_process: bool = True):
        """Class scores of features ``x``: softmaxed if asked, per-sample arrays if post_process."""
        cls_score = self.fc(self.pre_logits(x))
        pred = F.softmax(cls_score.float(), dim=1) if softmax and cls_score is not None else cls_score
        return self.post_process(pred) if post_process else pred

    def forward_train(self, x, gt_label: torch.Tensor, **kwargs) -> dict:
        """Return the losses dict of features ``x`` against ``gt_label``."""
        cls_score = self.fc(self.pre_logits(x))
        return self.loss(cls_score, gt_label, **kwargs)
