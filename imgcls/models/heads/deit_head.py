"""DeiTClsHead: class scores from both the class and the distillation token of a DistilledVisionTransformer."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ConfigError
from ..builder import HEADS
from .vision_transformer_head import VisionTransformerClsHead

__all__ = ['DeiTClsHead']

logger = logging.getLogger(__name__)
_MODES = ('hard', 'soft')


def _check_distill(distill: Mapping | None) -> dict:
    """``distill`` with its defaults (the DeiT recipe: hard distillation, alpha 0.5), or ConfigError."""
    cfg = {**dict(mode='hard', alpha=0.5, tau=1.0), **(distill or {})}
    unknown = sorted(set(cfg) - {'mode', 'alpha', 'tau'})
    if unknown:
        raise ConfigError(f'DeiTClsHead distill has unknown key(s) {", ".join(unknown)}; '
                          'the keys are mode, alpha and tau')
    if cfg['mode'] not in _MODES:
        raise ConfigError(f"DeiTClsHead distill.mode={cfg['mode']!r} must be 'hard' or 'soft'")
    if not isinstance(cfg['alpha'], (int, float)) or not 0 <= cfg['alpha'] <= 1:
        raise ConfigError(f"DeiTClsHead distill.alpha={cfg['alpha']!r} must be a number in [0, 1]")
    if not isinstance(cfg['tau'], (int, float)) or cfg['tau'] <= 0:
        raise ConfigError(f"DeiTClsHead distill.tau={cfg['tau']!r} must be a positive number")
    return cfg


@HEADS.register_module()
class DeiTClsHead(VisionTransformerClsHead):
    """A VisionTransformerClsHead plus a classifier (``layers.head_dist``) on the distillation token.

    Inference averages the two classifiers' logits. Training with ``teacher_logits`` (which
    DistilledImageClassifier passes) follows the DeiT recipe: ``(1 - alpha) * loss(cls_head, labels)
    + alpha * distillation(dist_head, teacher)``, where the distillation term is the cross-entropy against
    the teacher's top class (``mode='hard'``) or the KL divergence to its softened scores (``'soft'``,
    temperature ``tau``). Without a teacher the averaged logits are trained on the labels, as mmcls does.

    Args:
        num_classes, in_channels, hidden_dim, act_cfg, init_cfg: as VisionTransformerClsHead.
        distill: ``dict(mode='hard', alpha=0.5, tau=1.0)`` (these are the defaults).
        **kwargs: the ClsHead arguments (loss, topk, cal_acc).
    """

    def __init__(self, num_classes: int, in_channels: int, hidden_dim: int | None = None,
                 act_cfg: Mapping = dict(type='Tanh'),  # noqa: B006
                 init_cfg: Mapping | None = dict(type='Constant', layer='Linear', val=0),  # noqa: B006
                 distill: Mapping | None = None, **kwargs):
        super().__init__(num_classes, in_channels, hidden_dim=hidden_dim, act_cfg=act_cfg, init_cfg=init_cfg,
                         **kwargs)
        width = self.in_channels if self.hidden_dim is None else self.hidden_dim
        self.layers.add_module('head_dist', nn.Linear(width, self.num_classes))
        self.distill = _check_distill(distill)
        self._warned = False

    def pre_logits(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        """The (class token, distillation token) features of the last output."""
        if isinstance(x, tuple):
            x = x[-1]
        if not isinstance(x, (list, tuple)) or len(x) != 3:
            raise ConfigError('DeiTClsHead needs [patch_tokens, cls_token, dist_token] per output: use a '
                             'DistilledVisionTransformer backbone with output_cls_token=True')
        tokens = x[1], x[2]
        if self.hidden_dim is None:
            return tokens
        return tuple(self.layers.act(self.layers.pre_logits(t)) for t in tokens)

    def _both_logits(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        cls_token, dist_token = self.pre_logits(x)
        return self.layers.head(cls_token), self.layers.head_dist(dist_token)

    def forward(self, x) -> torch.Tensor:
        """The mean of the class-token and distillation-token logits."""
        cls_score, dist_score = self._both_logits(x)
        return (cls_score + dist_score) / 2

    def distill_loss(self, dist_score: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        """The distillation term of ``dist_score`` against the teacher's logits (see the class docstring)."""
        teacher_logits = teacher_logits.detach().to(dist_score.dtype)
        if self.distill['mode'] == 'hard':
            return F.cross_entropy(dist_score, teacher_logits.argmax(dim=1))
        tau = self.distill['tau']
        # summed KL over the batch and classes, divided by their count, times tau^2 (the DeiT recipe)
        kl = F.kl_div(F.log_softmax(dist_score / tau, dim=1), F.log_softmax(teacher_logits / tau, dim=1),
                      reduction='sum', log_target=True)
        return kl * tau * tau / dist_score.numel()

    def forward_train(self, x, gt_label: torch.Tensor, teacher_logits: torch.Tensor | None = None,
                      **kwargs) -> dict:
        """Losses against ``gt_label``, with the distillation term when ``teacher_logits`` is given."""
        cls_score, dist_score = self._both_logits(x)
        if teacher_logits is None:
            if not self._warned:
                logger.warning('DeiTClsHead is trained without a teacher: the averaged logits of both tokens '
                               'are fitted to the labels. Use type="DistilledImageClassifier" with a teacher '
                               'to distil as DeiT does.')
                self._warned = True
            return self.loss((cls_score + dist_score) / 2, gt_label, **kwargs)
        alpha = self.distill['alpha']
        losses = self.loss(cls_score, gt_label, **kwargs)
        losses['loss'] = losses['loss'] * (1 - alpha)
        losses['loss_distill'] = self.distill_loss(dist_score, teacher_logits) * alpha
        return losses
