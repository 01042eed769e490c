"""Normalization layers built from config dicts, named as mmcv names them (``bn1``, ``gn2``)."""

from __future__ import annotations

from collections.abc import Mapping

import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from ...errors import ConfigError, RegistryError
from ...registry import Registry

NORM_LAYERS = Registry('norm layer')
for _name, _cls in [('BN', nn.BatchNorm2d), ('BN1d', nn.BatchNorm1d), ('BN2d', nn.BatchNorm2d),
                    ('BN3d', nn.BatchNorm3d), ('SyncBN', nn.SyncBatchNorm), ('GN', nn.GroupNorm),
                    ('LN', nn.LayerNorm), ('IN', nn.InstanceNorm2d), ('IN1d', nn.InstanceNorm1d),
                    ('IN2d', nn.InstanceNorm2d), ('IN3d', nn.InstanceNorm3d)]:
    NORM_LAYERS.register_module(_name, module=_cls)


def infer_abbr(norm_cls: type) -> str:
    """The short name of a norm class, used as the attribute name (``bn``, ``gn``, ``ln``, ``in``).

    A class of your own can set ``_abbr_ = 'xx'`` to choose it.
    """
    if not isinstance(norm_cls, type):
        raise TypeError(f'norm_cls must be a class, got {type(norm_cls).__name__}')
    if hasattr(norm_cls, '_abbr_'):
        return norm_cls._abbr_
    # InstanceNorm subclasses _BatchNorm in some torch versions: test it first
    if issubclass(norm_cls, _InstanceNorm):
        return 'in'
    if issubclass(norm_cls, _BatchNorm):
        return 'bn'
    if issubclass(norm_cls, nn.GroupNorm):
        return 'gn'
    if issubclass(norm_cls, nn.LayerNorm):
        return 'ln'
    name = norm_cls.__name__.lower()
    for word, abbr in (('batch', 'bn'), ('group', 'gn'), ('layer', 'ln'), ('instance', 'in')):
        if word in name:
            return abbr
    return 'norm_layer'


def build_norm_layer(cfg: Mapping, num_features: int, postfix: int | str = '') -> tuple[str, nn.Module]:
    """Build a norm layer and the name to register it under.

    Args:
        cfg: ``dict(type='BN' | 'GN' | ..., requires_grad=True, **layer_kwargs)``;
            ``GN`` needs ``num_groups``.
        num_features: channels to normalize.
        postfix: appended to the abbreviation, so ``BN`` with postfix 1 is ``'bn1'``.

    Returns:
        ``(name, layer)``.
    """
    if not isinstance(cfg, Mapping):
        raise ConfigError("norm_cfg must be a dict such as dict(type='BN'), "
                          f'got {type(cfg).__name__}: {cfg!r}')
    if 'type' not in cfg:
        raise ConfigError(f'norm_cfg {dict(cfg)!r} has no "type" key; choose one of: '
                          f'{", ".join(NORM_LAYERS.keys())}.')
    cfg_ = dict(cfg)
    layer_type = cfg_.pop('type')
    norm_cls = NORM_LAYERS.get(layer_type)
    if norm_cls is None:
        raise RegistryError(f'norm_cfg type {layer_type!r} is not a known norm layer; valid types: '
                            f'{", ".join(NORM_LAYERS.keys())}. Register your own with '
                            '@NORM_LAYERS.register_module() from imgcls.models.layers.')
    if not isinstance(postfix, (int, str)):
        raise TypeError(f'postfix must be an int or a str, got {type(postfix).__name__}')
    name = infer_abbr(norm_cls) + str(postfix)

    requires_grad = cfg_.pop('requires_grad', True)
    cfg_.setdefault('eps', 1e-5)
    if layer_type == 'GN' or (isinstance(norm_cls, type) and issubclass(norm_cls, nn.GroupNorm)):
        if 'num_groups' not in cfg_:
            raise ConfigError(f'norm_cfg {dict(cfg)!r}: GN needs num_groups, e.g. '
                              f"dict(type='GN', num_groups=32).")
        if num_features % cfg_['num_groups'] != 0:
            raise ConfigError(f"norm_cfg {dict(cfg)!r}: num_groups={cfg_['num_groups']} must divide the "
                              f'{num_features} channels of this layer.')
        layer = norm_cls(num_channels=num_features, **cfg_)
    else:
        layer = norm_cls(num_features, **cfg_)

    for param in layer.parameters():
        param.requires_grad = requires_grad
    return name, layer
