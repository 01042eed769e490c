"""Mapping torchvision / timm / mmcls checkpoints onto imgcls models.

Each model family registers its converters in a module of this package with
:func:`register_converter`; modules added here are imported automatically.
"""

from __future__ import annotations

import os
from pathlib import Path

from safetensors.torch import save

from ..checkpoint_io import get_state_dict, read_checkpoint, save_checkpoint
from ..fileio import atomic_write_bytes
from .registry import CONVERTERS, SOURCES, Converter, convert_state_dict, families, register_converter

__all__ = ['CONVERTERS', 'SOURCES', 'Converter', 'convert_state_dict', 'families', 'register_converter',
           'convert_checkpoint']


def convert_checkpoint(src: str | os.PathLike, dst: str | os.PathLike, source: str,
                       family: str | None = None, unsafe: bool = False) -> str:
    """Convert the checkpoint file ``src`` and write an imgcls checkpoint (``.pth`` or ``.safetensors``) to ``dst``.

    Returns the model family that was converted.
    """
    ckpt = read_checkpoint(src, unsafe=unsafe)
    family, state = convert_state_dict(get_state_dict(ckpt), source, family)
    state = {k: v.contiguous() for k, v in state.items()}
    if Path(dst).suffix == '.safetensors':
        atomic_write_bytes(dst, save(state, metadata={'format': 'pt', 'converted_from': source}))
    else:
        save_checkpoint(dst, {'state_dict': state, 'meta': {'converted_from': source, 'family': family}})
    return family


from ..discover import import_all_submodules  # noqa: E402

import_all_submodules(__name__, globals())
