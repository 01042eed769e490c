"""``get_model``: a built model from a published name or a config, with pretrained weights from any source."""

from __future__ import annotations

import copy
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch.nn as nn

from ..apis.model import build_model, prepare_config
from ..config import Config
from ..engine.checkpoint import get_state_dict, load_checkpoint, load_model_weights
from ..errors import ConfigError
from ..models.builder import BACKBONES, CLASSIFIERS, HEADS, LOSSES, NECKS
from .index import ModelInfo, list_models, model_info, shipped_config, waits_for

__all__ = ['availability', 'describe_models', 'get_model', 'missing_parts', 'model_config']

logger = logging.getLogger(__name__)
_REGISTRIES = {'classifier': CLASSIFIERS, 'backbone': BACKBONES, 'neck': NECKS, 'head': HEADS, 'loss': LOSSES}


def _types(model_cfg: Mapping) -> list[tuple[str, str]]:
    """(registry, type) for the parts of a model dict that name registered classes."""
    parts = [('classifier', model_cfg.get('type', 'ImageClassifier'))]
    for key in ('backbone', 'neck', 'head'):
        part = model_cfg.get(key)
        for item in part if isinstance(part, (list, tuple)) else [part]:
            if isinstance(item, Mapping) and 'type' in item:
                parts.append((key, item['type']))
                loss = item.get('loss')
                if isinstance(loss, Mapping) and 'type' in loss:
                    parts.append(('loss', loss['type']))
    return parts


def missing_parts(model_cfg: Mapping) -> list[str]:
    """The types in ``model_cfg`` that no imgcls registry holds right now."""
    return [name for registry, name in _types(model_cfg) if _REGISTRIES[registry].get(name) is None]


def _config_of(info: ModelInfo) -> Config | None:
    """The full config of a published model: imgcls's shipped copy, else the model dict the index stored."""
    path = shipped_config(info.config) if info.config else None
    model = info.model_cfg()
    if path is not None:
        try:
            return Config.fromfile(str(path))
        except ConfigError:
            if model is None:
                raise
    return Config(dict(model=model)) if model is not None else None


def availability(name: str) -> str | None:
    """None when imgcls can build the published model ``name`` now; otherwise why not and what brings it."""
    info = model_info(name)
    if info.config is None:
        return ('published as pretraining weights without a config: use its weights URL as load_from or '
                "init_cfg=dict(type='Pretrained', checkpoint=URL) in a config of the same architecture")
    try:
        cfg = _config_of(info)
    except ConfigError:
        cfg = None
    missing = missing_parts(cfg['model']) if cfg is not None else []
    if cfg is not None and not missing:
        return None
    lacks = f'needs {", ".join(missing)}, which imgcls does not have yet' if missing else \
        f'imgcls cannot read its config {info.config} yet'
    return f'{lacks}: waits for the {waits_for(info.family, missing)}'


def model_config(name_or_config: str | os.PathLike | Config) -> tuple[Config, ModelInfo | None]:
    """The config for a published name, a config file, a shipped config name, or a Config; and the index entry."""
    if isinstance(name_or_config, Config):
        return copy.deepcopy(name_or_config), None
    text = os.fspath(name_or_config)
    if Path(text).is_file():
        return Config.fromfile(text), None
    try:
        info = model_info(text)
    except ConfigError:
        shipped = shipped_config(text)
        if shipped is None:
            raise
        return Config.fromfile(str(shipped)), None
    reason = availability(text)
    if reason is not None:
        raise ConfigError(f'the published model {text!r} cannot be built by imgcls yet: {reason}.')
    return _config_of(info), info


def _without_pretrained_init(cfg: Any) -> Any:
    """``cfg`` with every ``init_cfg`` of type Pretrained removed."""
    if isinstance(cfg, Mapping):
        out = {}
        for key, value in cfg.items():
            if key == 'init_cfg' and _is_pretrained(value):
                continue
            out[key] = _without_pretrained_init(value)
        return out
    if isinstance(cfg, list):
        return [_without_pretrained_init(v) for v in cfg]
    return cfg


def _is_pretrained(init_cfg: Any) -> bool:
    items = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return any(isinstance(i, Mapping) and i.get('type') == 'Pretrained' for i in items)


def _merge(base: dict, overrides: Mapping) -> dict:
    """``overrides`` merged into ``base``: dicts key by key, other values replaced."""
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            base[key] = _merge(dict(base[key]), value)
        else:
            base[key] = value
    return base


def get_model(name_or_config: str | os.PathLike | Config, pretrained: bool | str | os.PathLike = False,
              **cfg_overrides: Any) -> nn.Module:
    """A built classifier (in train mode, as built) for a published name (``imgcls.list_models()``), a config
    file, a shipped config name or a Config.

    Args:
        pretrained: False for freshly initialised weights; True for the published weights of a named model;
            or any weight reference: a local path, an ``https://`` URL, ``torchvision://NAME``, ``timm/<id>``.
        cfg_overrides: keys of the ``model`` dict to change, dicts merged key by key
            (``get_model('resnet50_8xb32_in1k', head=dict(num_classes=10))``).

    A published model's ``init_cfg=dict(type='Pretrained', ...)`` entries (its recipe's pretrained backbone) are
    dropped, so nothing is downloaded unless ``pretrained`` asks for it; a config file keeps them unless
    ``pretrained`` is given.
    """
    cfg, info = model_config(name_or_config)
    prepare_config(cfg)
    source = _weights_source(pretrained, info, name_or_config)
    model_cfg = cfg['model'].to_dict() if hasattr(cfg['model'], 'to_dict') else dict(cfg['model'])
    if info is not None or source is not None:
        # a published recipe's pretrained backbone is not what the caller asked for, and weights given here
        # replace it anyway; a user's own config keeps its init_cfg
        model_cfg = _without_pretrained_init(model_cfg)
    cfg['model'] = _merge(model_cfg, cfg_overrides)
    model = build_model(cfg)
    if source is not None:
        load_model_weights(model, get_state_dict(load_checkpoint(source)), source=str(source))
    return model


def _weights_source(pretrained: bool | str | os.PathLike, info: ModelInfo | None,
                    name_or_config: Any) -> str | None:
    if pretrained is False or pretrained is None:
        return None
    if pretrained is True:
        if info is None or not info.weights:
            raise ConfigError(f'pretrained=True needs a published model name with weights, got {name_or_config!r}; '
                              'give the weights instead: pretrained="path/or/URL", "torchvision://NAME" or '
                              '"timm/<hub id>".')
        return info.weights
    if isinstance(pretrained, (str, os.PathLike)):
        return os.fspath(pretrained)
    raise ConfigError(f'pretrained must be True, False or a weight reference (path, URL, torchvision://NAME, '
                      f'timm/<hub id>), got {pretrained!r}')


def describe_models(pattern: str | None = None) -> list[str]:
    """One line per published model matching ``pattern``: name, dataset, top-1, params, and whether it builds."""
    lines = []
    for name in list_models(pattern):
        info = model_info(name)
        top1 = f'{info.top1:.2f}' if info.top1 is not None else '-'
        params = f'{info.params / 1e6:.1f}M' if info.params else '-'
        reason = availability(name)
        part = re.search(r'part (\d) \(.*; (issue \d+)\)', reason or '')
        status = 'builds' if reason is None else f'waits for part {part[1]} ({part[2]})' if part else 'weights only'
        lines.append(f'{name:56s} {info.dataset or "-":15s} top-1 {top1:>6s} {params:>7s}  {status}')
    return lines
