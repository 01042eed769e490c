"""Albu: albumentations transforms in a pipeline, with mmcls 0.x arguments (the ``albu`` extra)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

from ...errors import ConfigError, DataError
from ..registries import PIPELINES

__all__ = ['Albu']


def _albumentations():
    try:
        import albumentations  # optional dependency (imgcls[albu])
    except ImportError:
        raise ConfigError('pipeline step Albu needs the albumentations library: pip install "imgcls[albu]" '
                          '(or pip install albumentations)') from None
    return albumentations


def _build(albu, cfg: Mapping, where: str):
    """An albumentations transform from ``dict(type='Name', ...)``; ``transforms`` lists are built too."""
    if not isinstance(cfg, Mapping) or 'type' not in cfg:
        raise ConfigError(f'Albu: {where} must be a dict with a "type" key, got {cfg!r}')
    args = dict(copy.deepcopy(cfg))
    name = args.pop('type')
    cls = getattr(albu, name, None) if isinstance(name, str) else name
    if not callable(cls):
        raise ConfigError(f'Albu: {where}: albumentations has no transform {name!r}')
    if 'transforms' in args:
        args['transforms'] = [_build(albu, t, f'{where}.transforms.{i}') for i, t in enumerate(args['transforms'])]
    try:
        return cls(**args)
    except (TypeError, ValueError) as e:
        raise ConfigError(f'Albu: {where}: cannot build albumentations.{name}({args}): {e}') from None


@PIPELINES.register_module()
class Albu:
    """Run ``albumentations.Compose(transforms)`` on the image, as mmcls 0.x did.

    Args:
        transforms: albumentations transforms as dicts, e.g. ``[dict(type='ShiftScaleRotate', p=0.5)]``.
        keymap: results key → albumentations argument (default ``{'img': 'image'}``).
        update_pad_shape: set ``results['pad_shape']`` to the new image shape.

    The image reaches albumentations as mmcls had it (HWC numpy, BGR after reading a file).
    """

    img_layout = 'hwc'

    def __init__(self, transforms: Sequence[Mapping], keymap: Mapping[str, str] | None = None,
                 update_pad_shape: bool = False):
        albu = _albumentations()
        if isinstance(transforms, Mapping) or not isinstance(transforms, Sequence):
            raise ConfigError(f'Albu: transforms must be a list of dicts, got {transforms!r}')
        self.transforms = copy.deepcopy(list(transforms))
        self.keymap = dict(keymap) if keymap is not None else {'img': 'image'}
        self.update_pad_shape = bool(update_pad_shape)
        self.aug = albu.Compose([_build(albu, t, f'transforms.{i}') for i, t in enumerate(transforms)])

    def __call__(self, results: dict) -> dict:
        missing = [k for k in self.keymap if k not in results]
        if missing:
            raise DataError(f'Albu: results has no key {missing[0]!r} named in keymap (keys: {sorted(results)})')
        out = self.aug(**{self.keymap[k]: results[k] for k in self.keymap})
        for key, arg in self.keymap.items():
            results[key] = out[arg]
        if 'img' in results and hasattr(results['img'], 'shape'):
            results['img_shape'] = results['img'].shape
            if self.update_pad_shape:
                results['pad_shape'] = results['img'].shape
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(transforms={self.transforms})'
