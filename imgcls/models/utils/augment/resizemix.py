"""ResizeMix (Qin et al. 2020): paste a whole shrunken image of the batch; labels mix by its area."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ....errors import ConfigError
from .builder import AUGMENT
from .cutmix import BatchCutMixLayer

__all__ = ['BatchResizeMixLayer']

_MODES = ('nearest', 'nearest-exact', 'bilinear', 'bicubic', 'area')


@AUGMENT.register_module(name=['BatchResizeMix', 'ResizeMix'])
class BatchResizeMixLayer(BatchCutMixLayer):
    """ResizeMix on a whole batch: the shuffled batch, resized into one box, is pasted into each image.

    Args:
        alpha, num_classes, prob, cutmix_minmax, correct_lam: as for CutMix.
        lam_min, lam_max: lam ~ Beta(alpha, alpha) is rescaled into [lam_min, lam_max] before the box
            (of area ``1 - lam``) is drawn.
        interpolation: how the pasted images are resized ('nearest', 'bilinear', 'bicubic', 'area').
    """

    def __init__(self, alpha: float, num_classes: int, lam_min: float = 0.1, lam_max: float = 0.8,
                 interpolation: str = 'bilinear', prob: float = 1.0,
                 cutmix_minmax: Sequence[float] | None = None, correct_lam: bool = True):
        super().__init__(alpha=alpha, num_classes=num_classes, prob=prob, cutmix_minmax=cutmix_minmax,
                         correct_lam=correct_lam)
        name = type(self).__name__
        if not all(isinstance(v, (int, float)) for v in (lam_min, lam_max)) or not 0 <= lam_min <= lam_max <= 1:
            raise ConfigError(f'{name} needs 0 <= lam_min <= lam_max <= 1, got lam_min={lam_min!r}, '
                              f'lam_max={lam_max!r}')
        if interpolation not in _MODES:
            raise ConfigError(f'{name} interpolation={interpolation!r} is not valid; choose one of '
                              f'{", ".join(_MODES)}')
        self.lam_min, self.lam_max, self.interpolation = float(lam_min), float(lam_max), interpolation

    def cutmix(self, img: torch.Tensor, gt_label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Paste the resized shuffled batch into one box of each image; mix the labels by area."""
        one_hot, index = self._prepare(img, gt_label)
        lam = self.sample_lam() * (self.lam_max - self.lam_min) + self.lam_min
        (y1, y2, x1, x2), lam = self.cutmix_bbox_and_lam(img.shape, lam)
        mixed_img = img.clone()
        if y2 > y1 and x2 > x1:  # a box clipped to nothing pastes nothing
            mixed_img[:, :, y1:y2, x1:x2] = F.interpolate(img[index], size=(y2 - y1, x2 - x1),
                                                          mode=self.interpolation)
        mixed_label = lam * one_hot + (1 - lam) * one_hot[index]
        return mixed_img, mixed_label
