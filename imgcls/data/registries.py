"""The registries of datasets and pipeline steps: the bottom of the data layer, importing nothing of it."""

from __future__ import annotations

from ..registry import Registry

__all__ = ['DATASETS', 'PIPELINES']

DATASETS = Registry('dataset')
PIPELINES = Registry('pipeline')
