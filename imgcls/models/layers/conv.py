"""Convolution layers built from config dicts (``dict(type='Conv2d')``)."""

from __future__ import annotations

from collections.abc import Mapping

import torch.nn as nn

from ...errors import ConfigError, RegistryError
from ...registry import Registry

CONV_LAYERS = Registry('conv layer')
CONV_LAYERS.register_module('Conv1d', module=nn.Conv1d)
CONV_LAYERS.register_module('Conv2d', module=nn.Conv2d)
CONV_LAYERS.register_module('Conv3d', module=nn.Conv3d)
# mmcv's name for the plain 2d convolution
CONV_LAYERS.register_module('Conv', module=nn.Conv2d)


def build_conv_layer(cfg: Mapping | None, *args, **kwargs) -> nn.Module:
    """Build a convolution layer; ``cfg=None`` means ``dict(type='Conv2d')``.

    ``args`` and ``kwargs`` (in/out channels, kernel size, ...) go to the layer's
    constructor together with the other keys of ``cfg``.
    """
    if cfg is None:
        cfg_ = {'type': 'Conv2d'}
    elif isinstance(cfg, Mapping):
        if 'type' not in cfg:
            raise ConfigError(f'conv_cfg {dict(cfg)!r} has no "type" key; use e.g. '
                              "dict(type='Conv2d'). Registered conv layers: "
                              f"{', '.join(CONV_LAYERS.keys())}.")
        cfg_ = dict(cfg)
    else:
        raise ConfigError(f'conv_cfg must be None or a dict, got {type(cfg).__name__}: {cfg!r}')
    layer_type = cfg_.pop('type')
    conv_cls = CONV_LAYERS.get(layer_type)
    if conv_cls is None:
        raise RegistryError(CONV_LAYERS.unknown_type_message(str(layer_type)))
    return conv_cls(*args, **kwargs, **cfg_)
