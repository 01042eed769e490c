"""CSRAClsHead: class-specific residual attention for multi-label classification (Zhu & Wu, ICCV 2021)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn as nn

from ...errors import ConfigError
from ..builder import HEADS
from .multi_label_head import _SIGMOID_BCE, MultiLabelClsHead

__all__ = ['CSRAClsHead', 'CSRAModule']

MAX_POOL = 99  # the temperature that stands for max pooling, as in the paper's code


class CSRAModule(nn.Module):
    """One head: per-class scores at every position (a 1x1 conv divided by each class's weight norm), then
    their mean plus ``lam`` x a spatial attention pooling at temperature ``T`` (max pooling for 99)."""

    def __init__(self, num_classes: int, in_channels: int, T: float, lam: float, init_cfg=None):  # noqa: N803
        super().__init__()
        self.init_cfg = init_cfg
        self.T, self.lam = T, lam
        self.head = nn.Conv2d(in_channels, num_classes, 1, bias=False)
        self.softmax = nn.Softmax(dim=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norms = torch.norm(self.head.weight, dim=1, keepdim=True).transpose(0, 1)  # (1, classes, 1, 1)
        score = (self.head(x) / norms).flatten(2)  # (N, classes, H*W)
        base = score.mean(dim=2)
        if self.T == MAX_POOL:
            attention = score.max(dim=2)[0]
        else:
            attention = (score * self.softmax(score * self.T)).sum(dim=2)
        return base + self.lam * attention


@HEADS.register_module()
class CSRAClsHead(MultiLabelClsHead):
    """Multi-label head on an (N, C, H, W) feature map: the sum of ``num_heads`` CSRA modules with the
    temperatures of ``temperature_settings`` (1, 2, 4, 6 or 8 heads).

    Args:
        num_classes / in_channels: classes and feature channels.
        num_heads: 1, 2, 4, 6 or 8.
        lam: the weight of the attention logits (the paper's lambda, > 0).
        loss / init_cfg: as MultiLabelLinearClsHead (sigmoid BCE; normal(0, 0.01) convolutions).

    ``simple_test`` gives sigmoid probabilities as the other multi-label heads do (mmcls's CSRA head hands
    back the raw scores; ``sigmoid=False`` gives those).
    """

    temperature_settings = {1: [1], 2: [1, 99], 4: [1, 2, 4, 99], 6: [1, 2, 3, 4, 5, 99], 8: [1, 2, 3, 4, 5, 6, 7, 99]}

    def __init__(self, num_classes: int, in_channels: int, num_heads: int, lam: float,
                 loss: Mapping = _SIGMOID_BCE,
                 init_cfg: Mapping | list | None = dict(type='Normal', layer='Linear', std=0.01),  # noqa: B006
                 **kwargs):
        if num_heads not in self.temperature_settings:
            raise ConfigError(f'CSRAClsHead num_heads={num_heads!r} must be one of '
                              f'{sorted(self.temperature_settings)}')
        if not isinstance(lam, (int, float)) or lam <= 0:
            raise ConfigError(f'CSRAClsHead lam={lam!r} must be a positive number')
        for name, value in (('num_classes', num_classes), ('in_channels', in_channels)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f'CSRAClsHead {name}={value!r} must be a positive integer')
        super().__init__(loss=loss, init_cfg=init_cfg, **kwargs)
        self.temp_list = self.temperature_settings[num_heads]
        self.csra_heads = nn.ModuleList([CSRAModule(num_classes, in_channels, t, lam) for t in self.temp_list])

    def forward(self, x) -> torch.Tensor:
        """The summed class scores (N, classes) of the last feature map."""
        x = self.pre_logits(x)
        if x.dim() != 4:
            raise ConfigError(f'CSRAClsHead needs (N, C, H, W) feature maps (no pooling neck), got {tuple(x.shape)}')
        return sum(head(x) for head in self.csra_heads)

    def forward_train(self, x, gt_label: torch.Tensor, **kwargs) -> dict:
        """The loss of the scores against multi-hot ``gt_label`` (difficult labels count as positives)."""
        return self.loss(self(x), gt_label, **kwargs)

    def simple_test(self, x, sigmoid: bool = True, post_process: bool = True, softmax: bool | None = None):
        """Per-class probabilities (sigmoid) of the feature map ``x``; ``sigmoid=False``: the raw scores."""
        return self._activate(self(x), sigmoid, softmax, post_process)
