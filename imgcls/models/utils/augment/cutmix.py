"""CutMix (Yun et al. 2019): paste a box of another image of the batch; labels mix by the box's area."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ....errors import ConfigError
from .builder import AUGMENT
from .mixup import BaseMixupLayer

__all__ = ['BatchCutMixLayer']

Box = tuple[int, int, int, int]  # (y1, y2, x1, x2), half-open


def _randint(low: int, high: int) -> int:
    """A uniform integer in [low, high) from torch's CPU generator (``low`` when the range is empty)."""
    if high <= low:
        return low
    return int(torch.randint(low, high, (1,), device='cpu'))


@AUGMENT.register_module(name=['BatchCutMix', 'CutMix'])
class BatchCutMixLayer(BaseMixupLayer):
    """CutMix on a whole batch: one box, pasted from a shuffled copy of the batch.

    Args:
        alpha, num_classes, prob: as for Mixup; lam ~ Beta(alpha, alpha) sets the box area ``1 - lam``.
        cutmix_minmax: ``(min, max)`` fractions of the image side; when given, the box sides are drawn
            uniformly in that range instead of from lam (and lam is then the area left).
        correct_lam: recompute lam from the box actually pasted (it shrinks when clipped at the border).
    """

    def __init__(self, alpha: float, num_classes: int, prob: float = 1.0,
                 cutmix_minmax: Sequence[float] | None = None, correct_lam: bool = True):
        super().__init__(alpha=alpha, num_classes=num_classes, prob=prob)
        if cutmix_minmax is not None:
            ok = (isinstance(cutmix_minmax, Sequence) and len(cutmix_minmax) == 2
                  and all(isinstance(v, (int, float)) for v in cutmix_minmax)
                  and 0 <= cutmix_minmax[0] <= cutmix_minmax[1] <= 1)
            if not ok:
                raise ConfigError(f'{type(self).__name__} cutmix_minmax must be None or (min, max) with '
                                  f'0 <= min <= max <= 1, got {cutmix_minmax!r}')
            cutmix_minmax = tuple(float(v) for v in cutmix_minmax)
        self.cutmix_minmax = cutmix_minmax
        self.correct_lam = correct_lam

    def rand_bbox_minmax(self, img_shape: Sequence[int]) -> Box:
        """A box whose sides are uniform fractions of the image in ``cutmix_minmax``."""
        img_h, img_w = img_shape[-2:]
        low, high = self.cutmix_minmax
        cut_h = _randint(int(img_h * low), int(img_h * high))
        cut_w = _randint(int(img_w * low), int(img_w * high))
        y1, x1 = _randint(0, img_h - cut_h), _randint(0, img_w - cut_w)
        return y1, y1 + cut_h, x1, x1 + cut_w

    def rand_bbox(self, img_shape: Sequence[int], lam: float) -> Box:
        """A box of area ~(1 - lam) around a uniform random centre, clipped to the image."""
        img_h, img_w = img_shape[-2:]
        ratio = math.sqrt(1. - lam)
        cut_h, cut_w = int(img_h * ratio), int(img_w * ratio)
        cy, cx = _randint(0, img_h), _randint(0, img_w)
        y1, y2 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, img_h)
        x1, x2 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, img_w)
        return y1, y2, x1, x2

    def cutmix_bbox_and_lam(self, img_shape: Sequence[int], lam: float) -> tuple[Box, float]:
        """The box to paste and the label weight of the original image."""
        if self.cutmix_minmax is not None:
            box = self.rand_bbox_minmax(img_shape)
        else:
            box = self.rand_bbox(img_shape, lam)
        if self.correct_lam or self.cutmix_minmax is not None:
            y1, y2, x1, x2 = box
            lam = 1. - (y2 - y1) * (x2 - x1) / float(img_shape[-2] * img_shape[-1])
        return box, lam

    def cutmix(self, img: torch.Tensor, gt_label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Paste one box of the shuffled batch into each image; mix the labels by area."""
        one_hot, index = self._prepare(img, gt_label)
        (y1, y2, x1, x2), lam = self.cutmix_bbox_and_lam(img.shape, self.sample_lam())
        mixed_img = img.clone()  # the caller's batch stays as it was
        mixed_img[:, :, y1:y2, x1:x2] = img[index, :, y1:y2, x1:x2]
        mixed_label = lam * one_hot + (1 - lam) * one_hot[index]
        return mixed_img, mixed_label

    def __call__(self, img: torch.Tensor, gt_label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cutmix(img, gt_label)
