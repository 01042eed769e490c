"""Checking, before the first batch, that the images a config's pipelines give have the channels its model takes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from ..registry import accepted_parameters, all_registries
from .pipelines.loading import LoadImageFromFile
from .registries import DATASETS, PIPELINES

__all__ = ['image_channels', 'model_in_channels', 'check_channels']

_COLOR_CHANNELS = {'color': 3, 'grayscale': 1}


def image_channels(ds: Any, where: str) -> tuple[int | None, str]:
    """The channels of a dataset config's images (None when the files decide) and what says so."""
    if isinstance(ds, (list, tuple)):
        ds = ds[0] if ds else None
    if not isinstance(ds, Mapping):
        return None, ''
    for key in ('dataset', 'datasets'):
        if key in ds:
            return image_channels(ds[key], f'{where}.{key}')
    for i, step in enumerate(ds.get('pipeline') or ()):
        cls = PIPELINES.get(step.get('type')) if isinstance(step, Mapping) else type(step)
        if isinstance(cls, type) and issubclass(cls, LoadImageFromFile):
            kind = step.get('color_type', 'color') if isinstance(step, Mapping) else step.color_type
            return _COLOR_CHANNELS.get(kind), f"{where}.pipeline.{i}.color_type={kind!r}"
    cls = DATASETS.get(ds.get('type')) if isinstance(ds.get('type'), str) else None
    channels = getattr(cls, 'CHANNELS', None)
    return (channels, f"{where} ({ds.get('type')} images)") if channels else (None, '')


def model_in_channels(cfg: Any) -> int | None:
    """``model.backbone.in_channels``, or the default of the backbone's class, found through ``**kwargs``
    up its base classes (None when unknown)."""
    model = cfg.get('model') if hasattr(cfg, 'get') else None
    backbone = model.get('backbone') if isinstance(model, Mapping) else None
    if not isinstance(backbone, Mapping):
        return None
    if 'in_channels' in backbone:
        value = backbone['in_channels']
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    registry = all_registries().get('backbone')
    cls = registry.get(backbone.get('type')) if registry is not None and isinstance(backbone.get('type'), str) else None
    if cls is None:
        return None
    try:
        default = accepted_parameters(cls).get('in_channels')
    except (TypeError, ValueError):  # no signature to read
        return None
    value = default.default if default is not None else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def check_channels(cfg: Any, mean_values: int | None) -> None:
    """ConfigError naming the keys to change when a split's images cannot feed the model's first layer.

    ``mean_values``: the number of per-channel means the model normalizes with; 1-channel images
    are repeated to 3 when there are 3 (as imgcls's data preprocessor does).
    """
    want = model_in_channels(cfg)
    data = cfg.get('data') if hasattr(cfg, 'get') else None
    if want is None or not isinstance(data, Mapping):
        return
    for split in ('train', 'val', 'test'):
        have, source = image_channels(data.get(split), f'data.{split}')
        if have is None or have == want or (have == 1 and mean_values == want):
            continue
        fix = ("change the loading step's color_type ('color' gives 3 channels, 'grayscale' 1)"
               if 'color_type' in source else f'use a dataset whose images have {want} channel(s)')
        backbone = cfg['model']['backbone']
        said = '' if 'in_channels' in backbone else f", the default of {backbone.get('type')}"
        raise ConfigError(f'{source} gives {have}-channel images but the model takes {want} '
                          f'(model.backbone.in_channels={want}{said}): set model.backbone.in_channels={have}, '
                          f'or {fix}.')
