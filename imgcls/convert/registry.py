"""The registry of weight converters: other libraries' state dicts → imgcls's key names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..errors import CheckpointError

SOURCES = ('torchvision', 'timm', 'mmcls')

StateDict = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Converter:
    source: str  # 'torchvision' | 'timm' | 'mmcls'
    family: str  # e.g. 'resnet', 'vgg', 'vit'
    detect: Callable[[StateDict], bool]  # does this state dict look like this family?
    convert: Callable[[StateDict], StateDict]


CONVERTERS: list[Converter] = []


def register_converter(source: str, family: str, detect: Callable[[StateDict], bool]):
    """Decorator registering ``fn(state_dict) -> state_dict`` for ``source`` checkpoints of ``family``."""
    if source not in SOURCES:
        raise ValueError(f'unknown converter source {source!r}; use one of {SOURCES}')

    def _register(fn: Callable[[StateDict], StateDict]):
        CONVERTERS.append(Converter(source, family, detect, fn))
        return fn

    return _register


def families(source: str | None = None) -> list[str]:
    return sorted({c.family for c in CONVERTERS if source is None or c.source == source})


def find_converter(state_dict: StateDict, source: str, family: str | None = None) -> Converter:
    """The converter for ``family`` (or the first whose ``detect`` accepts the keys)."""
    if source not in SOURCES:
        raise CheckpointError(f'--from {source!r} is not supported; use one of {", ".join(SOURCES)}')
    candidates = [c for c in CONVERTERS if c.source == source]
    if family is not None:
        chosen = [c for c in candidates if c.family == family]
        if not chosen:
            raise CheckpointError(f'no {source} converter for the model family {family!r}; known families: '
                                  f'{", ".join(families(source)) or "(none)"}')
        return chosen[0]
    for conv in candidates:
        if conv.detect(state_dict):
            return conv
    sample = ', '.join(list(state_dict)[:6])
    raise CheckpointError(f'could not tell which model family this {source} checkpoint holds (first keys: '
                          f'{sample}); pass --family, one of {", ".join(families(source)) or "(none)"}')


def convert_state_dict(state_dict: StateDict, source: str, family: str | None = None) -> tuple[str, StateDict]:
    """Convert a state dict; returns ``(family, converted)``."""
    conv = find_converter(state_dict, source, family)
    return conv.family, conv.convert(dict(state_dict))
