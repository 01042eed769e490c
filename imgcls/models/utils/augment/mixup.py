"""Mixup (Zhang et al. 2018): blend each image and its label with another image of the batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ....errors import ConfigError
from .builder import AUGMENT

__all__ = ['BaseMixupLayer', 'BatchMixupLayer', 'one_hot_encoding']


def one_hot_encoding(gt_label: torch.Tensor, num_classes: int, dtype: torch.dtype = torch.float32
                     ) -> torch.Tensor:
    """Class indices (N,) → one-hot rows (N, num_classes); rows that already are (N, num_classes) pass."""
    if not isinstance(gt_label, torch.Tensor):
        raise TypeError(f'batch augments need the labels as a tensor, got {type(gt_label).__name__}')
    if gt_label.dim() == 2 and gt_label.shape[1] == num_classes:
        return gt_label.to(dtype)
    if gt_label.dim() != 1:
        raise ValueError(f'batch augments need class indices (N,) or label rows (N, {num_classes}), '
                         f'got shape {tuple(gt_label.shape)}')
    return F.one_hot(gt_label.long(), num_classes).to(dtype)


def _check_number(cls: str, name: str, value, low: float, high: float | None = None,
                  low_inclusive: bool = True) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
        value >= low if low_inclusive else value > low) and (high is None or value <= high)
    if not ok:
        bound = f'{"[" if low_inclusive else "("}{low}, {high if high is not None else "inf"}' + (
            ']' if high is not None else ')')
        raise ConfigError(f'{cls} {name} must be a number in {bound}, got {value!r}')


class BaseMixupLayer:
    """What the batch augments share: ``alpha`` of the Beta(alpha, alpha) mixing ratio, classes, choice prob.

    Args:
        alpha: the Beta distribution parameter (> 0).
        num_classes: number of classes of the one-hot labels it makes.
        prob: how often this augment is the one chosen by ``Augments`` (in [0, 1]).

    Calling it on ``(img (N, C, H, W) float, gt_label (N,) or (N, num_classes))`` returns the mixed images
    and soft labels (N, num_classes). Random numbers come from torch's generators (``torch.manual_seed``).
    """

    def __init__(self, alpha: float, num_classes: int, prob: float = 1.0):
        name = type(self).__name__
        _check_number(name, 'alpha', alpha, 0, low_inclusive=False)
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes <= 0:
            raise ConfigError(f'{name} num_classes must be a positive integer (the head\'s num_classes), '
                              f'got {num_classes!r}')
        _check_number(name, 'prob', prob, 0, 1)
        self.alpha, self.num_classes, self.prob = float(alpha), num_classes, float(prob)
        # the ratio is drawn on the CPU (whatever the default device): reading it is not a device sync
        concentration = torch.tensor(self.alpha, device='cpu')
        self._beta = torch.distributions.Beta(concentration, concentration, validate_args=False)

    def sample_lam(self) -> float:
        """A mixing ratio drawn from Beta(alpha, alpha)."""
        return float(self._beta.sample())

    def _prepare(self, img: torch.Tensor, gt_label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The one-hot labels and a random permutation of the batch (on the images' device)."""
        if not isinstance(img, torch.Tensor) or img.dim() != 4 or not img.is_floating_point():
            raise ValueError(f'{type(self).__name__} needs a float (N, C, H, W) image batch, got '
                             f'{getattr(img, "dtype", type(img).__name__)} of shape {tuple(getattr(img, "shape", ()))}')
        if gt_label is None:
            raise ValueError(f'{type(self).__name__} needs the labels of the batch, got None')
        dtype = img.dtype if img.dtype in (torch.float32, torch.float64) else torch.float32
        one_hot = one_hot_encoding(gt_label, self.num_classes, dtype)
        return one_hot, torch.randperm(img.size(0), device=img.device)

    def __call__(self, img: torch.Tensor, gt_label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f'{type(self).__name__}(alpha={self.alpha}, num_classes={self.num_classes}, prob={self.prob})'


@AUGMENT.register_module(name=['BatchMixup', 'Mixup'])
class BatchMixupLayer(BaseMixupLayer):
    """Mixup: ``lam * x + (1 - lam) * x[perm]`` for images and one-hot labels, lam ~ Beta(alpha, alpha)."""

    def mixup(self, img: torch.Tensor, gt_label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mix the batch with a shuffled copy of itself."""
        one_hot, index = self._prepare(img, gt_label)
        lam = self.sample_lam()
        mixed_img = lam * img + (1 - lam) * img[index]
        mixed_label = lam * one_hot + (1 - lam) * one_hot[index]
        return mixed_img, mixed_label

    def __call__(self, img: torch.Tensor, gt_label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mixup(img, gt_label)
