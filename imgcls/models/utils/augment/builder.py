"""The registry of batch augments."""

from __future__ import annotations

from collections.abc import Mapping

from ....registry import Registry, build_from_cfg

AUGMENT = Registry('augment')


def build_augment(cfg: Mapping, default_args: Mapping | None = None, path: str | None = None):
    """Build a batch augment, e.g. ``dict(type='BatchMixup', alpha=0.8, num_classes=1000, prob=0.5)``."""
    return build_from_cfg(cfg, AUGMENT, default_args, path=path)
