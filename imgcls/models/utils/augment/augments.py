"""Augments: pick one batch augment per training step by its probability (mmcls 0.x ``train_cfg.augments``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from ....errors import ConfigError
from .builder import build_augment
from .identity import Identity

__all__ = ['Augments']

_TOLERANCE = 1e-6
_WHERE = 'model.train_cfg.augments'


class Augments:
    """Choose one of ``augments_cfg`` per batch, with the probabilities given by their ``prob``.

    Args:
        augments_cfg: one augment config or a list of them, e.g.
            ``[dict(type='BatchMixup', alpha=0.8, num_classes=1000, prob=0.5),
            dict(type='BatchCutMix', alpha=1.0, num_classes=1000, prob=0.5)]``.
            The probs sum to at most 1; what is left goes to ``Identity`` (no mixing). With an
            ``Identity`` in the list they must sum to exactly 1.

    ``augments(img, gt_label)`` returns ``(img, soft_gt_label)`` with labels of shape (N, num_classes),
    whichever augment was chosen. The choice and the mixing use torch's random generators.
    """

    def __init__(self, augments_cfg: Mapping | Sequence[Mapping]):
        cfgs = [augments_cfg] if isinstance(augments_cfg, Mapping) else augments_cfg
        if isinstance(cfgs, (str, bytes)) or not isinstance(cfgs, Sequence) or not cfgs:
            raise ConfigError(f'{_WHERE} must be an augment dict or a non-empty list of them, such as '
                              f"dict(type='BatchMixup', alpha=0.8, num_classes=1000, prob=1.0); got {augments_cfg!r}")
        self.augments = [build_augment(cfg, path=f'{_WHERE}.{i}' if len(cfgs) > 1 else _WHERE)
                         for i, cfg in enumerate(cfgs)]
        for aug in self.augments:
            if not hasattr(aug, 'prob') or not hasattr(aug, 'num_classes') or not callable(aug):
                raise ConfigError(f'{_WHERE}: {type(aug).__name__} is not a batch augment (it needs the '
                                  f'prob and num_classes attributes and __call__(img, gt_label))')
        classes = sorted({aug.num_classes for aug in self.augments})
        if len(classes) > 1:
            raise ConfigError(f'{_WHERE} give different num_classes {classes}: they must all be the number '
                              f'of classes of the head')
        probs = [float(aug.prob) for aug in self.augments]
        total = sum(probs)
        if total > 1 + _TOLERANCE:
            raise ConfigError(f'{_WHERE}: the probabilities {probs} sum to {total:g} > 1; lower them so that '
                              f'they sum to at most 1 (the rest of the batches are left unmixed)')
        has_identity = any(isinstance(aug, Identity) for aug in self.augments)
        if has_identity and total < 1 - _TOLERANCE:
            raise ConfigError(f'{_WHERE}: with an Identity in the list the probabilities must sum to 1, '
                              f'got {probs} (sum {total:g}); raise the Identity prob or drop it')
        if not has_identity and total < 1 - _TOLERANCE:
            self.augments.append(Identity(num_classes=classes[0], prob=1 - total))
            probs.append(1 - total)
        self.augment_probs = probs
        self.num_classes = classes[0]
        self._probs = torch.tensor(probs, dtype=torch.float64, device='cpu')

    def __call__(self, img: torch.Tensor, gt_label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply one augment, chosen at random by the probabilities."""
        if len(self.augments) == 1:
            aug = self.augments[0]
        else:
            # drawn on the CPU: no device sync
            aug = self.augments[int(torch.multinomial(self._probs, 1))]
        return aug(img, gt_label)

    def __repr__(self) -> str:
        return f'Augments({self.augments})'
