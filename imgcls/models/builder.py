"""Registries of model parts and the functions that build them from config dicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch.nn as nn

from ..errors import ConfigError
from ..registry import Registry, build_from_cfg

BACKBONES = Registry('backbone')
NECKS = Registry('neck')
HEADS = Registry('head')
LOSSES = Registry('loss')
CLASSIFIERS = Registry('classifier')
# the older name used by some mmcls configs and plugins
MODELS = CLASSIFIERS


def build_backbone(cfg: Mapping, path: str | None = None) -> nn.Module:
    """Build a backbone, e.g. ``dict(type='ResNet', depth=50)``."""
    return build_from_cfg(cfg, BACKBONES, path=path)


class NeckSequence(nn.Sequential):
    """Necks applied in turn, from a config list (mmcls's layout: keys ``neck.0.``, ``neck.1.``...)."""

    def init_weights(self) -> None:
        """Initialise each neck that has its own ``init_weights``."""
        for neck in self:
            if hasattr(neck, 'init_weights'):
                neck.init_weights()


def build_neck(cfg: Mapping | Sequence[Mapping], path: str | None = None) -> nn.Module:
    """Build a neck, e.g. ``dict(type='GlobalAveragePooling')``, or a list of them applied in turn."""
    if isinstance(cfg, (list, tuple)):
        if not cfg:
            raise ConfigError(f'the neck list{f" at {path}" if path else ""} is empty: give at least one neck '
                              'config, or no neck at all')
        return NeckSequence(*(build_from_cfg(c, NECKS, path=f'{path}[{i}]' if path else None)
                              for i, c in enumerate(cfg)))
    return build_from_cfg(cfg, NECKS, path=path)


def build_head(cfg: Mapping, path: str | None = None) -> nn.Module:
    """Build a head, e.g. ``dict(type='LinearClsHead', num_classes=10, in_channels=512)``."""
    return build_from_cfg(cfg, HEADS, path=path)


def build_loss(cfg: Mapping, path: str | None = None) -> nn.Module:
    """Build a loss, e.g. ``dict(type='CrossEntropyLoss', loss_weight=1.0)``."""
    return build_from_cfg(cfg, LOSSES, path=path)


def build_classifier(cfg: Mapping, path: str | None = 'model') -> nn.Module:
    """Build a whole classifier from the config's ``model`` dict."""
    return build_from_cfg(cfg, CLASSIFIERS, path=path)
