"""Config helpers for the data layer."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import ConfigError
from .builder import PIPELINES

__all__ = ['move_normalize_to_model']


def _step_class(step: Any):
    if isinstance(step, Mapping):
        return PIPELINES.get(step.get('type'))
    return type(step)


def _is(step: Any, name: str) -> bool:
    cls, target = _step_class(step), PIPELINES.get(name)
    return isinstance(cls, type) and isinstance(target, type) and issubclass(cls, target)


def _norm_params(step: Any, where: str, loads_file: bool) -> dict:
    """mean, std and the channel order the model sees (``to_rgb`` in imgcls terms) of a Normalize step."""
    get = step.get if isinstance(step, Mapping) else lambda k, d=None: getattr(step, k, d)
    try:
        mean = [float(v) for v in np.atleast_1d(get('mean'))]
        std = [float(v) for v in np.atleast_1d(get('std'))]
    except (TypeError, ValueError):
        raise ConfigError(f'{where}: Normalize needs numeric mean and std, got mean={get("mean")!r}, '
                          f'std={get("std")!r}') from None
    to_rgb = bool(get('to_rgb', True))
    # mmcls swapped the channels it had: BGR from files (mmcv), RGB for in-memory datasets.
    # imgcls batches are RGB, so re-express to_rgb as "the model sees RGB".
    model_rgb = to_rgb if loads_file else not to_rgb
    return dict(mean=mean, std=std, to_rgb=True if len(mean) == 1 else model_rgb)


def _strip_pipeline(pipeline: list, where: str, found: list) -> tuple[list, bool]:
    """The pipeline without its Normalize steps (recorded in ``found``), and whether it had any."""
    loads_file = any(_is(s, 'LoadImageFromFile') for s in pipeline)
    kept, had = [], False
    for i, step in enumerate(pipeline):
        if _is(step, 'Normalize'):
            found.append((f'{where}.{i}', _norm_params(step, f'{where}.{i}', loads_file)))
            had = True
        else:
            kept.append(step)
    return kept, had


def _strip_dataset(ds: Any, where: str, found: list, lacking: list) -> None:
    """Strip Normalize from a dataset config, wrapped ones (dataset=/datasets=) and lists included."""
    if isinstance(ds, (list, tuple)):
        for i, d in enumerate(ds):
            _strip_dataset(d, f'{where}.{i}', found, lacking)
        return
    if not isinstance(ds, Mapping):
        return
    if isinstance(ds.get('pipeline'), (list, tuple)):
        ds['pipeline'], had = _strip_pipeline(list(ds['pipeline']), f'{where}.pipeline', found)
        if not had:
            lacking.append(f'{where}.pipeline')
    if 'dataset' in ds:
        _strip_dataset(ds['dataset'], f'{where}.dataset', found, lacking)
    if 'datasets' in ds:
        _strip_dataset(ds['datasets'], f'{where}.datasets', found, lacking)


def _same(a: dict, b: dict) -> bool:
    return (len(a['mean']) == len(b['mean']) and len(a['std']) == len(b['std'])
            and np.allclose(a['mean'], b['mean']) and np.allclose(a['std'], b['std'])
            and a['to_rgb'] == b['to_rgb'])


def move_normalize_to_model(cfg: Any) -> tuple[Any, dict | None]:
    """Take the Normalize steps out of a config's pipelines, for the model's data preprocessor.

    Looks in ``data.train/val/test`` (through ``dataset=`` / ``datasets=`` wrappers and lists)
    and in top-level ``*_pipeline`` lists. ``cfg`` is not changed.

    Returns:
        ``(new_cfg, preproc)``: a deep copy of ``cfg`` without Normalize steps, and
        ``dict(mean, std, to_rgb)`` (None when there was no Normalize). Here ``to_rgb`` says
        whether the model sees RGB (True: use the RGB batch as is; False: reverse the channels
        to BGR before normalizing); it is mmcls's to_rgb re-expressed for imgcls's RGB images.

    Raises:
        ConfigError: the Normalize steps differ, or one split's pipeline has none while another has.
    """
    new = copy.deepcopy(cfg)
    found: list[tuple[str, dict]] = []
    lacking: list[str] = []
    data = new.get('data') if hasattr(new, 'get') else None
    if isinstance(data, Mapping):
        for split in ('train', 'val', 'test'):
            if split in data:
                _strip_dataset(data[split], f'data.{split}', found, lacking)
    # top-level ``*_pipeline`` variables are only helpers the data dict may or may not use: strip
    # their Normalize too, but let only the pipelines in ``data`` decide the preprocessing
    helper_steps: list[tuple[str, dict]] = []
    for key in list(new.keys()):
        if isinstance(key, str) and key.endswith('_pipeline') and isinstance(new[key], (list, tuple)):
            new[key], _ = _strip_pipeline(list(new[key]), key, helper_steps)
    if not found and not isinstance(data, Mapping):
        found = helper_steps
    if not found:
        return new, None
    where0, params = found[0]
    for where, other in found[1:]:
        if not _same(params, other):
            raise ConfigError(f'the Normalize steps differ: {where0} has {params} but {where} has {other}. '
                              'The model normalizes every batch the same way: make them equal.')
    if lacking:
        raise ConfigError(f'{lacking[0]} has no Normalize step but {where0} has one; the model normalizes '
                          'every batch, so add the same Normalize to every split (or remove it from all).')
    return new, params
