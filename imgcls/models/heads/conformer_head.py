"""ConformerHead: class scores from both branches of a Conformer (CNN pooled features and class token)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ConfigError
from ..builder import HEADS
from .cls_head import ClsHead

__all__ = ['ConformerHead']


@HEADS.register_module()
class ConformerHead(ClsHead):
    """A linear classifier per branch (``conv_cls_head``, ``trans_cls_head``); the scores are their sum.

    Training averages the loss of the two classifiers. ``simple_test(softmax=False)`` returns the summed
    logits (mmcls returns the pair there), so inference and export give one (N, classes) tensor.

    Args:
        num_classes: number of categories.
        in_channels: ``[cnn_channels, transformer_channels]`` of the backbone's last output.
        init_cfg: applied first; then, unless it loads a checkpoint, truncated-normal(0.02) weights and zero biases.
    """

    def __init__(self, num_classes: int, in_channels: Sequence[int],
                 init_cfg: Mapping | None = dict(type='Normal', layer='Linear', std=0.01), *args, **kwargs):
        super().__init__(*args, init_cfg=init_cfg, **kwargs)
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes <= 0:
            raise ConfigError(f'ConformerHead num_classes={num_classes!r} must be a positive integer')
        if (not isinstance(in_channels, Sequence) or len(in_channels) != 2
                or not all(isinstance(c, int) and c > 0 for c in in_channels)):
            raise ConfigError(f'ConformerHead in_channels={in_channels!r} must be [cnn_channels, '
                              'transformer_channels], e.g. [256, 384] for Conformer-T')
        self.num_classes, self.in_channels = num_classes, list(in_channels)
        self.conv_cls_head = nn.Linear(self.in_channels[0], num_classes)
        self.trans_cls_head = nn.Linear(self.in_channels[1], num_classes)

    def init_weights(self) -> None:
        """``init_cfg``, then truncated-normal(0.02) weights and zero biases unless it loaded a checkpoint."""
        super().init_weights()
        if isinstance(self.init_cfg, Mapping) and self.init_cfg.get('type') == 'Pretrained':
            return
        for m in (self.conv_cls_head, self.trans_cls_head):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)

    def pre_logits(self, x) -> list[torch.Tensor]:
        """The ``[cnn_features, transformer_features]`` pair of the last output."""
        if isinstance(x, tuple):
            x = x[-1]
        if not isinstance(x, (list, tuple)) or len(x) != 2:
            raise ConfigError('ConformerHead needs [cnn_features, transformer_features] per output, as a '
                             'Conformer backbone gives')
        return list(x)

    def branch_scores(self, x) -> list[torch.Tensor]:
        """``[cnn_scores, transformer_scores]``, each (N, classes)."""
        conv, trans = self.pre_logits(x)
        return [self.conv_cls_head(conv), self.trans_cls_head(trans)]

    def forward(self, x) -> torch.Tensor:
        """The sum of both branches' scores."""
        conv, trans = self.branch_scores(x)
        return conv + trans

    def simple_test(self, x, softmax: bool = True, post_process: bool = True):
        """The summed scores (softmaxed if asked), per-sample arrays if ``post_process``."""
        score = self(x)
        pred = F.softmax(score.float(), dim=1) if softmax else score
        return self.post_process(pred) if post_process else pred

    def loss(self, cls_score, gt_label: torch.Tensor, **kwargs) -> dict:
        """The mean of the two branches' losses; accuracy (``cal_acc``) of their summed scores."""
        if isinstance(cls_score, torch.Tensor):
            return super().loss(cls_score, gt_label, **kwargs)
        n = len(cls_score[0])
        losses = {}
        if self.cal_acc:
            self._clip_topk(cls_score[0].shape[1])
            acc = self.compute_accuracy(sum(cls_score), gt_label)
            losses['accuracy'] = {f'top-{k}': a for k, a in zip(self.topk, acc)}
        losses['loss'] = sum(self.compute_loss(s, gt_label, avg_factor=n, **kwargs) for s in cls_score) / len(cls_score)
        return losses

    def forward_train(self, x, gt_label: torch.Tensor, **kwargs) -> dict:
        """Losses of both branches' scores against ``gt_label``."""
        return self.loss(self.branch_scores(x), gt_label, **kwargs)
