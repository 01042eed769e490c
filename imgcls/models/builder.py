"""Registries of model parts and the functions that build them from config dicts."""

from __future__ import annotations

from collections.abc import Mapping

import torch.nn as nn

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


def build_neck(cfg: Mapping, path: str | None = None) -> nn.Module:
    """Build a neck, e.g. ``dict(type='GlobalAveragePooling')``."""
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
