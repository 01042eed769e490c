"""Dropout layers built from mmcv-style dicts (``dict(type='DropPath', drop_prob=0.1)``)."""

from __future__ import annotations

from collections.abc import Mapping

import torch.nn as nn

from ...errors import ConfigError
from ..layers import DropPath


def build_dropout(cfg: Mapping | None) -> nn.Module:
    """``DropPath`` / ``Dropout`` from ``dict(type=..., drop_prob=p)``; Identity for None or p == 0."""
    if cfg is None:
        return nn.Identity()
    if not isinstance(cfg, Mapping) or cfg.get('type') not in ('DropPath', 'Dropout'):
        raise ConfigError(f"dropout_layer must be dict(type='DropPath' | 'Dropout', drop_prob=p), got {cfg!r}")
    unknown = set(cfg) - {'type', 'drop_prob', 'inplace'}
    if unknown:
        raise ConfigError(f'dropout_layer {dict(cfg)!r}: unknown keys {sorted(unknown)}; valid: drop_prob, inplace')
    prob = float(cfg.get('drop_prob', 0.0))
    if prob == 0.0:  # an Identity costs nothing per step
        return nn.Identity()
    if cfg['type'] == 'DropPath':
        return DropPath(prob)
    return nn.Dropout(prob, inplace=bool(cfg.get('inplace', False)))
