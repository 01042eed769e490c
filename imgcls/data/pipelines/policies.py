"""Published augmentation policies, as lists of mmcls 0.x step dicts.

:data:`POLICY_IMAGENET` is the ImageNet AutoAugment policy (Cubuk et al. 2019) with the magnitudes of
mmcls 0.x's ``_base_/datasets/pipelines/auto_aug.py`` (``policy_imagenet``): magnitude level ``m`` of
10 is ``m / 9`` of each operation's range (Solarize 256, Rotate 30 degrees, Shear 0.3).
``AutoAugment(policies='policy_imagenet')`` uses it.
"""

from __future__ import annotations

__all__ = ['POLICY_IMAGENET']


def _op(kind: str, prob: float, **args) -> dict:
    return dict(type=kind, prob=prob, **args)


def _posterize(bits: int, prob: float) -> dict:
    return _op('Posterize', prob, bits=bits)


def _solarize(level: int, prob: float) -> dict:
    return _op('Solarize', prob, thr=256 / 9 * level)


def _rotate(level: int, prob: float) -> dict:
    return _op('Rotate', prob, angle=30 / 9 * level)


def _color(magnitude: float, prob: float) -> dict:
    return _op('ColorTransform', prob, magnitude=magnitude)


def _equalize(prob: float) -> dict:
    return _op('Equalize', prob)


POLICY_IMAGENET = [
    [_posterize(4, 0.4), _rotate(9, 0.6)],
    [_solarize(4, 0.6), _op('AutoContrast', 0.6)],
    [_equalize(0.8), _equalize(0.6)],
    [_posterize(5, 0.6), _posterize(5, 0.6)],
    [_equalize(0.4), _solarize(5, 0.2)],
    [_equalize(0.4), _rotate(8, 0.8)],
    [_solarize(6, 0.6), _equalize(0.6)],
    [_posterize(6, 0.8), _equalize(1.0)],
    [_rotate(3, 0.2), _solarize(1, 0.6)],
    [_equalize(0.6), _posterize(5, 0.4)],
    [_rotate(8, 0.8), _color(0.0, 0.4)],
    [_rotate(9, 0.4), _equalize(0.6)],
    [_equalize(0.0), _equalize(0.8)],
    [_op('Invert', 0.6), _equalize(1.0)],
    [_color(0.4, 0.6), _op('Contrast', 1.0, magnitude=0.8)],
    [_rotate(8, 0.8), _color(0.2, 1.0)],
    [_color(0.8, 0.8), _solarize(2, 0.8)],
    [_op('Sharpness', 0.4, magnitude=0.7), _op('Invert', 0.6)],
    [_op('Shear', 0.6, magnitude=0.3 / 9 * 5, direction='horizontal'), _equalize(1.0)],
    [_color(0.0, 0.4), _equalize(0.6)],
    [_equalize(0.4), _solarize(5, 0.2)],
    [_solarize(4, 0.6), _op('AutoContrast', 0.6)],
    [_op('Invert', 0.6), _equalize(1.0)],
    [_color(0.4, 0.6), _op('Contrast', 1.0, magnitude=0.8)],
    [_equalize(0.8), _equalize(0.6)],
]
