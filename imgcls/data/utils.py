"""Config helpers for the data layer: taking Normalize out of the pipelines, for the model's device."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import ConfigError
from .channels import check_channels
from .registries import PIPELINES

__all__ = ['move_normalize_to_model']


def _step_class(step: Any):
    if isinstance(step, Mapping):
        return PIPELINES.get(step.get('type'))
    return type(step)


def _is(step: Any, name: str) -> bool:
    cls, target = _step_class(step), PIPELINES.get(name)
    return isinstance(cls, type) and isinstance(target, type) and issubclass(cls, target)


def _arg(step: Any, key: str, default=None):
    return step.get(key, default) if isinstance(step, Mapping) else getattr(step, key, default)


def _norm_params(step: Any, where: str, order: str) -> dict:
    """mean, std and the channel order the model sees (``to_rgb`` in imgcls terms) of a Normalize step.

    ``order`` is the channel order mmcls had just before the step ('bgr' after mmcv loaded a
    file, 'rgb' for in-memory datasets); mmcls's ``to_rgb`` reversed it.
    """
    try:
        mean = [float(v) for v in np.atleast_1d(_arg(step, 'mean'))]
        std = [float(v) for v in np.atleast_1d(_arg(step, 'std'))]
    except (TypeError, ValueError):
        raise ConfigError(f'{where}: Normalize needs numeric mean and std, got mean={_arg(step, "mean")!r}, '
                          f'std={_arg(step, "std")!r}') from None
    model_rgb = (order == 'rgb') != bool(_arg(step, 'to_rgb', True))
    return dict(mean=mean, std=std, to_rgb=True if len(mean) == 1 else model_rgb)


def _strip_pipeline(pipeline: list, where: str, found: list) -> tuple[list, str]:
    """The pipeline without its Normalize steps (recorded in ``found``), and the channel order at its end.

    Follows the channel order mmcls had through the steps: mmcv loaded files as BGR, and a
    ``Lighting(to_rgb=True)`` reversed the channels it was given (as mmcv's adjust_lighting did).
    After ``LoadImageFromFile(to_float32=True)`` the Normalize stays: the preprocessor leaves float
    batches as they come, so it is recorded as "no normalization" for the model.
    """
    order, kept, floats = 'rgb', [], False
    for i, step in enumerate(pipeline):
        if _is(step, 'LoadImageFromFile'):
            order, floats = 'bgr', bool(_arg(step, 'to_float32', False))
        elif _is(step, 'Lighting') and _arg(step, 'to_rgb', True):
            order = 'rgb' if order == 'bgr' else 'bgr'
        if _is(step, 'Normalize') and floats:  # float images are normalized in the pipeline, as in mmcls
            kept.append(step)
            found.append((f'{where}.{i}', dict(mean=None, std=None, to_rgb=True)))
        elif _is(step, 'Normalize'):
            found.append((f'{where}.{i}', _norm_params(step, f'{where}.{i}', order)))
        else:
            kept.append(step)
    return kept, order


def _strip_dataset(ds: Any, where: str, found: list, lacking: list) -> None:
    """Strip Normalize from a dataset config, wrapped ones (dataset=/datasets=) and lists included.

    A pipeline without Normalize is recorded in ``lacking`` with what its model saw: raw 0..255
    values in the channel order the pipeline ended with.
    """
    if isinstance(ds, (list, tuple)):
        for i, d in enumerate(ds):
            _strip_dataset(d, f'{where}.{i}', found, lacking)
        return
    if not isinstance(ds, Mapping):
        return
    if isinstance(ds.get('pipeline'), (list, tuple)):
        before = len(found)
        ds['pipeline'], order = _strip_pipeline(list(ds['pipeline']), f'{where}.pipeline', found)
        if len(found) == before:
            lacking.append((f'{where}.pipeline', dict(mean=None, std=None, to_rgb=order == 'rgb')))
    if 'dataset' in ds:
        _strip_dataset(ds['dataset'], f'{where}.dataset', found, lacking)
    if 'datasets' in ds:
        _strip_dataset(ds['datasets'], f'{where}.datasets', found, lacking)


def _canonical(p: dict) -> tuple:
    """What a normalization does to a uint8 batch: no Normalize equals mean 0 / std 1."""
    mean, std = p['mean'], p['std']
    if mean is None:
        mean, std = [0.0], [1.0]
    if len(set(mean)) == 1 and len(set(std)) == 1:
        mean, std = mean[:1], std[:1]  # the same value per channel: one value does the same
    return tuple(np.round(mean, 6)), tuple(np.round(std, 6)), p['to_rgb']


def same_normalization(a: dict, b: dict) -> bool:
    """Whether two ``dict(mean, std, to_rgb)`` give the model the same input (3-channel images)."""
    (ma, sa, ra), (mb, sb, rb) = _canonical(a), _canonical(b)
    symmetric = ma == ma[::-1] and sa == sa[::-1]  # reversing the channels of a symmetric mean/std changes no value
    return ma == mb and sa == sb and (ra == rb or (symmetric and len(ma) == 1))


def _split_params(data: Mapping, split: str) -> tuple[str, dict] | None:
    """The one normalization of ``data[split]`` (with where it was found), or None without the split."""
    found: list[tuple[str, dict]] = []
    lacking: list[tuple[str, dict]] = []
    _strip_dataset(data[split], f'data.{split}', found, lacking)
    entries = found + lacking
    if not entries:
        return None
    where0, params = entries[0]
    for where, other in entries[1:]:
        if not same_normalization(params, other):
            raise ConfigError(f'the datasets of data.{split} normalize differently: {where0} gives {params} but '
                              f'{where} gives {other}. One split feeds one model input: make them equal.')
    return where0, params


def _strip_helpers(new: Any) -> list:
    """Strip Normalize from top-level ``*_pipeline`` lists (helpers the data dict may or may not use)."""
    found: list[tuple[str, dict]] = []
    for key in list(new.keys()):
        if isinstance(key, str) and key.endswith('_pipeline') and isinstance(new[key], (list, tuple)):
            new[key], _ = _strip_pipeline(list(new[key]), key, found)
    return found


def _compose(splits: dict[str, tuple[str, dict]]) -> dict | None:
    """The preprocessor arguments: the training split's normalization, plus ``eval_norm`` where evaluation differs."""
    train = splits.get('train')
    evals = [splits[s] for s in ('test', 'val') if s in splits]
    if len(evals) == 2 and not same_normalization(evals[0][1], evals[1][1]):
        warnings.warn(f'{evals[1][0]} normalizes differently from {evals[0][0]}; imgcls evaluates with one '
                      f'normalization, the test split\'s ({evals[0][1]}), during training too', stacklevel=3)
    first = train if train is not None else evals[0]
    out = dict(first[1])
    if train is not None and evals and not same_normalization(train[1], evals[0][1]):
        out['eval_norm'] = dict(evals[0][1])
    if out['mean'] is None and 'eval_norm' not in out and out['to_rgb']:
        return None  # no split normalizes and every model input is RGB: nothing to do
    return out


def move_normalize_to_model(cfg: Any) -> tuple[Any, dict | None]:
    """Take the Normalize steps out of a config's pipelines, for the model's data preprocessor.

    Looks in ``data.train/val/test`` (through ``dataset=`` / ``datasets=`` wrappers and lists)
    and in top-level ``*_pipeline`` lists. ``cfg`` is not changed.

    Returns:
        ``(new_cfg, preproc)``: a deep copy of ``cfg`` without Normalize steps, and the arguments
        of :class:`imgcls.models.data_preprocessor.ClsDataPreprocessor` (None when nothing is to be
        done): ``dict(mean, std, to_rgb)`` of the training split, where ``to_rgb`` says whether the
        model sees RGB (mmcls's to_rgb re-expressed for imgcls's RGB images; False reverses the
        channels to BGR). When the evaluation splits (test, else val) give the model a different
        input, ``eval_norm=dict(mean, std, to_rgb)`` holds theirs. A split without Normalize fed
        its model raw 0..255 values: ``mean=None``.

    Raises:
        ConfigError: datasets within one split (a ConcatDataset's parts) normalize differently; or a
            split's images have other channels than ``model.backbone.in_channels`` (see
            :func:`imgcls.data.channels.check_channels`), which is better said now than by the first
            convolution.
    """
    new = copy.deepcopy(cfg)
    data = new.get('data') if hasattr(new, 'get') else None
    splits: dict[str, tuple[str, dict]] = {}
    if isinstance(data, Mapping):
        for split in ('train', 'val', 'test'):
            if split in data:
                found = _split_params(data, split)
                if found is not None:
                    splits[split] = found
    helpers = _strip_helpers(new)
    if not splits and not isinstance(data, Mapping) and helpers:
        splits['train'] = helpers[0]
    means = [len(p['mean']) for _, p in splits.values() if p['mean'] is not None]
    check_channels(cfg, means[0] if means else None)
    if not splits or not means:
        return new, None
    return new, _compose(splits)
