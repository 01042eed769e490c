"""L1 loss between two tensors of the same shape (e.g. to mimic another model's scores)."""

from __future__ import annotations

import torch
import torch.nn as nn

from ...errors import ConfigError
from ..builder import LOSSES
from .utils import check_reduction, weighted_loss


@weighted_loss
def l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Element-wise absolute difference; takes weight / reduction / avg_factor via ``weighted_loss``."""
    if pred.size() != target.size():
        raise ValueError(f'l1_loss needs pred and target of the same shape, '
                         f'got {tuple(pred.shape)} and {tuple(target.shape)}')
    if target.numel() == 0:
        raise ValueError('l1_loss got an empty target')
    return torch.abs(pred - target)


@LOSSES.register_module()
class L1Loss(nn.Module):
    """L1 loss scaled by ``loss_weight``."""

    def __init__(self, reduction: str = 'mean', loss_weight: float = 1.0):
        super().__init__()
        try:
            check_reduction(reduction)
        except ValueError as e:
            raise ConfigError(f'L1Loss: {e}') from None
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                avg_factor=None, reduction_override: str | None = None) -> torch.Tensor:
        """Return the weighted, reduced L1 loss."""
        check_reduction(reduction_override, allow_none=True)
        reduction = reduction_override if reduction_override else self.reduction
        return self.loss_weight * l1_loss(pred, target, weight, reduction=reduction, avg_factor=avg_factor)
