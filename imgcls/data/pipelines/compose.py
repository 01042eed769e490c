"""Compose: run pipeline steps in order on a results dict."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ...errors import ConfigError, DataError
from ...registry import build_from_cfg
from ..registries import PIPELINES
from .images import step_layout, to_layout

__all__ = ['Compose']


class Compose:
    """A pipeline: steps given as config dicts (built from PIPELINES) or callables.

    Each step maps ``results`` (a dict) to a dict. A step may not drop a sample by
    returning None: it must raise instead (a DataError naming the file).

    Images are converted between the layout of imgcls's steps (CHW RGB tensors) and that of
    MMClassification 0.x steps (HWC numpy, in mmcls's channel order) where one kind follows the
    other, and back to CHW RGB tensors at the end (see :mod:`imgcls.data.pipelines.images`).
    """

    def __init__(self, transforms: Sequence[Mapping | Callable] | None = ()):
        if transforms is None:
            transforms = ()
        if isinstance(transforms, (str, Mapping)) or not isinstance(transforms, Sequence):
            raise ConfigError(f'a pipeline must be a list of steps such as [dict(type="Resize", size=32)], '
                              f'got {type(transforms).__name__}: {transforms!r}')
        self.transforms: list[Callable] = []
        self._layouts: list[str] = []
        for i, step in enumerate(transforms):
            if isinstance(step, Mapping):
                self.transforms.append(build_from_cfg(step, PIPELINES))
                self._layouts.append(step_layout(self.transforms[-1], from_config=True))
            elif callable(step):
                self.transforms.append(step)
                self._layouts.append(step_layout(step, from_config=False))
            else:
                raise ConfigError(f'pipeline step {i} must be a dict with a "type" key or a callable, '
                                  f'got {type(step).__name__}: {step!r}')

    def __call__(self, results: dict) -> dict:
        for step, layout in zip(self.transforms, self._layouts):
            out = step(to_layout(results, layout))
            if out is None:
                raise DataError(f'pipeline step {step!r} returned None; a step must return the results '
                                'dict (dropping samples is not supported: raise an error instead)')
            results = out
        return to_layout(results, 'chw')

    def __len__(self) -> int:
        return len(self.transforms)

    def __repr__(self) -> str:
        lines = ''.join(f'\n    {t!r},' for t in self.transforms)
        return f'{type(self).__name__}([{lines}\n])' if lines else f'{type(self).__name__}([])'
