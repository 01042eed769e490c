"""StackedLinearClsHead: a small MLP (fc → norm → act → dropout blocks) ending in the class scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ConfigError
from ..builder import HEADS
from ..layers import build_activation_layer, build_norm_layer
from .cls_head import ClsHead

__all__ = ['LinearBlock', 'StackedLinearClsHead']


def _check_positive_int(value, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f'{name}={value!r} must be a positive integer')


class LinearBlock(nn.Module):
    """``fc``, then the optional ``norm``, ``act`` and ``dropout`` (mmcls key names)."""

    def __init__(self, in_channels: int, out_channels: int, dropout_rate: float = 0.,
                 norm_cfg: Mapping | None = None, act_cfg: Mapping | None = None):
        super().__init__()
        self.fc = nn.Linear(in_channels, out_channels)
        self.norm = None if norm_cfg is None else build_norm_layer(norm_cfg, out_channels)[1]
        self.act = None if act_cfg is None else build_activation_layer(act_cfg)
        self.dropout = nn.Dropout(p=dropout_rate) if dropout_rate > 0 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """fc → norm → act → dropout, skipping the parts that are not configured."""
        x = self.fc(x)
        for layer in (self.norm, self.act, self.dropout):
            if layer is not None:
                x = layer(x)
        return x


@HEADS.register_module()
class StackedLinearClsHead(ClsHead):
    """Hidden linear blocks of ``mid_channels`` widths, then a linear layer to ``num_classes`` (MobileNetV3).

    Args:
        num_classes: number of categories.
        in_channels: channels of the input feature vector.
        mid_channels: the widths of the hidden blocks, e.g. ``[1280]``.
        dropout_rate: dropout after each hidden block (not after the last layer).
        norm_cfg: norm of the hidden blocks, e.g. ``dict(type='BN1d')``; None for none.
        act_cfg: activation of the hidden blocks, e.g. ``dict(type='HSwish')``.
        **kwargs: the ClsHead arguments (loss, topk, cal_acc, init_cfg).

    Weights are named ``layers.0.fc.weight`` ... ``layers.<k>.fc.weight`` as in mmcls.
    """

    def __init__(self, num_classes: int, in_channels: int, mid_channels: Sequence[int],
                 dropout_rate: float = 0., norm_cfg: Mapping | None = None,
                 act_cfg: Mapping | None = dict(type='ReLU'), **kwargs):  # noqa: B006
        super().__init__(**kwargs)
        _check_positive_int(num_classes, 'num_classes')
        _check_positive_int(in_channels, 'in_channels')
        if isinstance(mid_channels, (str, bytes)) or not isinstance(mid_channels, Sequence) or not mid_channels:
            raise ConfigError(f'StackedLinearClsHead mid_channels must be a non-empty list of widths '
                              f'such as [1280], got {mid_channels!r}')
        for width in mid_channels:
            _check_positive_int(width, 'mid_channels entry')
        if not isinstance(dropout_rate, (int, float)) or not 0 <= dropout_rate < 1:
            raise ConfigError(f'dropout_rate={dropout_rate!r} must be a number in [0, 1)')
        self.num_classes, self.in_channels = num_classes, in_channels
        self.mid_channels = list(mid_channels)
        self.dropout_rate, self.norm_cfg, self.act_cfg = dropout_rate, norm_cfg, act_cfg
        widths = [in_channels, *self.mid_channels]
        blocks = [LinearBlock(c_in, c_out, dropout_rate, norm_cfg, act_cfg)
                  for c_in, c_out in zip(widths[:-1], widths[1:])]
        blocks.append(LinearBlock(widths[-1], num_classes))
        self.layers = nn.ModuleList(blocks)

    @property
    def fc(self) -> LinearBlock:
        """The last block, which gives the class scores."""
        return self.layers[-1]

    def pre_logits(self, x):
        """The output of the hidden blocks (the input: the last element of a tuple)."""
        if isinstance(x, tuple):
            x = x[-1]
        for layer in self.layers[:-1]:
            x = layer(x)
        return x

    def forward(self, x) -> torch.Tensor:
        """Return the raw class scores of features ``x``."""
        return self.fc(self.pre_logits(x))

    def simple_test(self, x, softmax: bool = True, post_process: bool = True):
        """Class scores of features ``x``: softmaxed if asked, per-sample arrays if post_process."""
        cls_score = self(x)
        pred = F.softmax(cls_score.float(), dim=1) if softmax else cls_score
        return self.post_process(pred) if post_process else pred

    def forward_train(self, x, gt_label: torch.Tensor, **kwargs) -> dict:
        """Return the losses dict of features ``x`` against ``gt_label``."""
        return self.loss(self(x), gt_label, **kwargs)
