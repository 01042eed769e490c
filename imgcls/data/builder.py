"""Building datasets from config dicts (the registries live in :mod:`imgcls.data.registries`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch.utils.data import Dataset

from ..registry import build_from_cfg
from .registries import DATASETS, PIPELINES

__all__ = ['DATASETS', 'PIPELINES', 'build_dataset']


def build_dataset(cfg: Mapping | Sequence[Mapping], default_args: Mapping | None = None) -> Dataset:
    """Build a dataset from ``dict(type=..., ...)``; a list of dicts gives a ConcatDataset.

    ``default_args`` (e.g. ``test_mode=True`` for evaluation) reach the datasets inside the
    wrappers (RepeatDataset, ClassBalancedDataset, ConcatDataset); a KFoldDataset takes
    ``test_mode`` itself (it picks the held-out fold) and passes the rest on.
    """
    if isinstance(cfg, (list, tuple)):
        # looked up, not imported: the wrappers build their inner datasets with this function
        return DATASETS.get('ConcatDataset')([build_dataset(c, default_args) for c in cfg])
    key, inner_args, own_args = _wrapper_parts(cfg, default_args)
    if key is None:
        return build_from_cfg(cfg, DATASETS, default_args)
    cfg = dict(cfg)
    inner = cfg[key]
    if key == 'datasets' and isinstance(inner, (list, tuple)):
        cfg[key] = [build_dataset(c, inner_args) if isinstance(c, Mapping) else c for c in inner]
    elif isinstance(inner, (Mapping, list, tuple)):
        cfg[key] = build_dataset(inner, inner_args)
    return build_from_cfg(cfg, DATASETS, own_args)


def _wrapper_parts(cfg, default_args: Mapping | None) -> tuple[str | None, dict | None, dict | None]:
    """For a wrapper config: the key of its wrapped dataset(s), their default args and its own."""
    cls = DATASETS.get(cfg.get('type')) if isinstance(cfg, Mapping) else None
    key = getattr(cls, 'wraps', None)
    if key is None or key not in cfg:
        return None, None, None
    inner = dict(default_args or {})
    own = {k: inner.pop(k) for k in getattr(cls, 'own_default_args', ()) if k in inner}
    return key, inner or None, own or None
