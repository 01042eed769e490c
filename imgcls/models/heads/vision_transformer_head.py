"""VisionTransformerClsHead: class scores from a ViT's class token, with an optional tanh pre-logits layer."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ConfigError
from ..builder import HEADS
from ..layers import build_activation_layer
from .cls_head import ClsHead

__all__ = ['VisionTransformerClsHead']


@HEADS.register_module()
class VisionTransformerClsHead(ClsHead):
    """Linear classifier on the class token of a VisionTransformer's last output.

    Args:
        num_classes: number of categories.
        in_channels: the backbone's embedding width.
        hidden_dim: width of a ``pre_logits`` linear + ``act_cfg`` layer before the classifier
            (the ViT paper's ImageNet-21k pre-training); None for none (fine-tuned / released weights).
        init_cfg: zeros for the classifier by default, as in the ViT paper.
        *args, **kwargs: the ClsHead arguments (loss, topk, cal_acc).

    Keys: ``layers.head.*`` and, with ``hidden_dim``, ``layers.pre_logits.*``.
    """

    def __init__(self, num_classes: int, in_channels: int, hidden_dim: int | None = None,
                 act_cfg: Mapping = dict(type='Tanh'),
                 init_cfg: Mapping | None = dict(type='Constant', layer='Linear', val=0), *args, **kwargs):
        super().__init__(*args, init_cfg=init_cfg, **kwargs)
        for name, value in (('num_classes', num_classes), ('in_channels', in_channels)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f'{type(self).__name__} {name}={value!r} must be a positive integer')
        if hidden_dim is not None and (not isinstance(hidden_dim, int) or hidden_dim <= 0):
            raise ConfigError(f'{type(self).__name__} hidden_dim={hidden_dim!r} must be None or a positive '
                              'integer')
        self.num_classes, self.in_channels, self.hidden_dim = num_classes, in_channels, hidden_dim
        self.act_cfg = act_cfg
        if hidden_dim is None:
            layers = [('head', nn.Linear(in_channels, num_classes))]
        else:
            layers = [('pre_logits', nn.Linear(in_channels, hidden_dim)), ('act', build_activation_layer(act_cfg)),
                      ('head', nn.Linear(hidden_dim, num_classes))]
        self.layers = nn.Sequential(OrderedDict(layers))

    def init_weights(self) -> None:
        """``init_cfg``, then LeCun-normal pre-logits weights (as ClassyVision does)."""
        super().init_weights()
        if self.hidden_dim is not None:
            pre = self.layers.pre_logits
            nn.init.trunc_normal_(pre.weight, std=math.sqrt(1 / pre.in_features))
            nn.init.zeros_(pre.bias)

    def pre_logits(self, x) -> torch.Tensor:
        """The class token of the last output (through ``pre_logits`` + act when there is one)."""
        if isinstance(x, tuple):
            x = x[-1]
        if not isinstance(x, (list, tuple)) or len(x) != 2:
            raise ValueError('VisionTransformerClsHead needs [patch_tokens, cls_token] per output: build the '
                             'VisionTransformer backbone with output_cls_token=True')
        cls_token = x[1]
        if self.hidden_dim is None:
            return cls_token
        return self.layers.act(self.layers.pre_logits(cls_token))

    def forward(self, x) -> torch.Tensor:
        """Return the raw class scores."""
        return self.layers.head(self.pre_logits(x))

    def simple_test(self, x, softmax: bool = True, post_process: bool = True):
        """Class scores of the backbone output ``x``: softmaxed if asked, per-sample arrays if post_process."""
        cls_score = self(x)
        pred = F.softmax(cls_score.float(), dim=1) if softmax else cls_score
        return self.post_process(pred) if post_process else pred

    def forward_train(self, x, gt_label: torch.Tensor, **kwargs) -> dict:
        """Return the losses dict of backbone output ``x`` against ``gt_label``."""
        return self.loss(self(x), gt_label, **kwargs)
