"""mmcls 0.x pipeline steps imgcls does not provide, registered so that their configs get a clear answer."""

from __future__ import annotations

from ...errors import ConfigError
from ..registries import PIPELINES

__all__ = ['Albu', 'ToPIL', 'ToNumpy']


class _Unsupported:
    """Building one raises a ConfigError saying what to use instead."""

    unsupported = True
    advice = ''

    def __init__(self, *args, **kwargs):
        raise ConfigError(f'pipeline step {type(self).__name__} is not supported by imgcls: {self.advice}')


@PIPELINES.register_module()
class Albu(_Unsupported):
    advice = ('imgcls does not depend on albumentations. Use the built-in steps instead: RandomResizedCrop, '
              'RandomFlip, ColorJitter, RandomGrayscale, Lighting, AutoAugment, RandAugment, RandomErasing, '
              'Pad (see `imgcls list pipelines`), or register your own step class in PIPELINES.')


@PIPELINES.register_module()
class ToPIL(_Unsupported):
    advice = ('imgcls pipelines pass uint8 (C, H, W) tensors from step to step and every step takes them; '
              'remove ToPIL (and ToNumpy). To use torchvision transforms, wrap them in a step class of your '
              'own: torchvision.transforms.v2 works on these tensors directly.')


@PIPELINES.register_module()
class ToNumpy(_Unsupported):
    advice = ToPIL.advice
