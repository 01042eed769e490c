"""Label smoothing: cross-entropy against softened one-hot targets (three conventions, as mmcls)."""

from __future__ import annotations

import warnings

import torch
import torch.nn as nn

from ...errors import ConfigError
from ..builder import LOSSES
from .cross_entropy_loss import CrossEntropyLoss
from .utils import check_reduction, convert_to_one_hot

__all__ = ['LabelSmoothLoss']

_MODES = ('original', 'classy_vision', 'multi_label')


@LOSSES.register_module()
class LabelSmoothLoss(nn.Module):
    """Cross-entropy with label smoothing ``eps = label_smooth_val``.

    Modes (C classes, one-hot y):
      - ``'original'``: target ``y * (1 - eps) + eps / C``, softmax CE.
      - ``'classy_vision'``: target ``(y + eps / C) / (1 + eps)`` (the same formula with
        ``eps / (1 + eps)``), softmax CE.
      - ``'multi_label'``: target ``1 - eps`` for positives and ``eps`` for negatives, sigmoid BCE.

    Args:
        label_smooth_val: eps, in [0, 1).
        num_classes: C; taken from the scores when None (a given value is checked against them).
        use_sigmoid: sigmoid BCE instead of softmax CE; by default True only for ``'multi_label'``.
        mode: one of 'original', 'classy_vision', 'multi_label'.
        reduction, loss_weight, class_weight, pos_weight: as in CrossEntropyLoss.

    Labels may be class indices (N,) or already one-hot / soft / multi-hot (N, C) rows (e.g. after Mixup).
    """

    def __init__(self, label_smooth_val: float, num_classes: int | None = None, use_sigmoid: bool | None = None,
                 mode: str | None = 'original', reduction: str = 'mean', loss_weight: float = 1.0,
                 class_weight=None, pos_weight=None):
        super().__init__()
        if isinstance(label_smooth_val, bool) or not isinstance(label_smooth_val, (int, float)) \
                or not 0 <= label_smooth_val < 1:
            raise ConfigError(f'LabelSmoothLoss label_smooth_val must be a number in [0, 1), '
                              f'got {label_smooth_val!r}')
        if num_classes is not None and (not isinstance(num_classes, int) or isinstance(num_classes, bool)
                                        or num_classes <= 0):
            raise ConfigError(f'LabelSmoothLoss num_classes must be a positive integer or None, got {num_classes!r}')
        if mode is None:
            warnings.warn('LabelSmoothLoss mode is not set: using "classy_vision" (the old default); set '
                          'mode="original" for the standard label smoothing.', stacklevel=2)
            mode = 'classy_vision'
        if mode not in _MODES:
            raise ConfigError(f'LabelSmoothLoss mode={mode!r} is not valid; choose one of {", ".join(_MODES)}')
        try:
            check_reduction(reduction)
        except ValueError as e:
            raise ConfigError(f'LabelSmoothLoss: {e}') from None
        self.label_smooth_val, self.num_classes, self.mode = label_smooth_val, num_classes, mode
        self.reduction, self.loss_weight = reduction, loss_weight
        self._eps = label_smooth_val / (1 + label_smooth_val) if mode == 'classy_vision' else label_smooth_val
        if use_sigmoid is None:
            use_sigmoid = mode == 'multi_label'
        elif mode == 'multi_label' and not use_sigmoid:
            warnings.warn('LabelSmoothLoss mode="multi_label" with use_sigmoid=False uses softmax CE; '
                          'multi-label tasks usually want use_sigmoid=True.', stacklevel=2)
        self.use_sigmoid = use_sigmoid
        self.ce = CrossEntropyLoss(use_sigmoid=use_sigmoid, use_soft=not use_sigmoid, reduction=reduction,
                                   loss_weight=loss_weight, class_weight=class_weight, pos_weight=pos_weight)

    def _one_hot_like(self, label: torch.Tensor, num_classes: int) -> torch.Tensor:
        if label.dim() == 1 or (label.dim() == 2 and label.shape[1] == 1):
            label = convert_to_one_hot(label, num_classes)
        return label.float()

    def smooth_label(self, one_hot_like: torch.Tensor, num_classes: int) -> torch.Tensor:
        """The smoothed targets of one-hot (or multi-hot / soft) rows."""
        if self.mode == 'multi_label':
            return torch.where(one_hot_like > 0, 1 - self._eps, self._eps).to(one_hot_like.dtype)
        return one_hot_like * (1 - self._eps) + self._eps / num_classes

    def forward(self, cls_score: torch.Tensor, label: torch.Tensor, weight: torch.Tensor | None = None,
                avg_factor=None, reduction_override: str | None = None, **kwargs) -> torch.Tensor:
        """Return the loss of logits ``cls_score`` (N, C) against smoothed ``label``."""
        num_classes = cls_score.shape[1]
        if self.num_classes is not None and self.num_classes != num_classes:
            raise ConfigError(f'LabelSmoothLoss num_classes={self.num_classes} but the scores have '
                              f'{num_classes} classes: make them equal (or leave num_classes unset)')
        target = self._one_hot_like(label, num_classes)
        if target.shape != cls_score.shape:
            raise ValueError(f'LabelSmoothLoss labels of shape {tuple(label.shape)} do not fit scores of shape '
                             f'{tuple(cls_score.shape)}')
        return self.ce(cls_score, self.smooth_label(target, num_classes), weight=weight, avg_factor=avg_factor,
                       reduction_override=reduction_override, **kwargs)
