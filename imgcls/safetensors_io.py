"""Released weights as ``.safetensors``: tensors only, with the class names and config in the header.

A ``.safetensors`` file cannot hold code: it is a JSON header (tensor names, dtypes, shapes and a
``__metadata__`` map of strings) followed by raw tensor bytes. imgcls stores in that map:

* ``CLASSES``: the class names as a JSON list,
* ``config``: the merged config text the weights were trained with,
* ``format`` (``pt``), ``imgcls_version``, ``torch_version``, and where known ``epoch``, ``iter``,
  ``source`` (the checkpoint it was published from) and ``weights`` (``model`` or ``ema``).

:func:`load_safetensors` returns ``{'state_dict': ..., 'meta': ...}`` with ``CLASSES`` decoded, so
``imgcls test`` / ``imgcls infer`` read class names from a published file as from a ``.pth``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save

from .errors import CheckpointError
from .fileio import atomic_write_bytes

__all__ = ['save_safetensors', 'load_safetensors', 'looks_like_safetensors']

# the header of a safetensors file: 8 bytes little-endian header size, then a JSON object
_MAX_HEADER = 100 * 2 ** 20


def looks_like_safetensors(path: str | os.PathLike) -> bool:
    """Whether the file starts like a safetensors file (whatever its name)."""
    try:
        with open(path, 'rb') as fh:
            head = fh.read(9)
            size = os.fstat(fh.fileno()).st_size
    except OSError:
        return False
    if len(head) < 9:
        return False
    n = int.from_bytes(head[:8], 'little')
    return 2 <= n <= min(size - 8, _MAX_HEADER) and head[8:9] == b'{'


def _plain_tensors(state_dict: dict) -> dict[str, torch.Tensor]:
    """Contiguous CPU tensors that own their memory (safetensors refuses shared or strided storage)."""
    out, seen = {}, set()
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f'cannot write {key!r} to a .safetensors file: it is a '
                                  f'{type(value).__name__}, not a tensor')
        t = value.detach().cpu().contiguous()
        ptr = t.untyped_storage().data_ptr() if t.numel() else None
        if ptr is not None and ptr in seen:  # tied weights: store a copy under each name
            t = t.clone()
        elif ptr is not None:
            seen.add(ptr)
        out[key] = t
    return out


def save_safetensors(path: str | os.PathLike, state_dict: dict, metadata: dict[str, Any] | None = None) -> None:
    """Write ``state_dict`` and ``metadata`` to ``path`` atomically; ``CLASSES`` is stored as JSON."""
    header = {'format': 'pt'}
    for key, value in (metadata or {}).items():
        if value is None:
            continue
        header[key] = json.dumps(list(value)) if key == 'CLASSES' else str(value)
    data = save(_plain_tensors(state_dict), metadata=header)
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
    except OSError as e:
        raise CheckpointError(f'could not write {path}: {e.strerror or e} (is the disk full or the folder '
                              'read-only?); nothing was written under that name') from e


def _decode_meta(path: Path, header: dict[str, str]) -> dict[str, Any]:
    meta: dict[str, Any] = dict(header)
    if 'CLASSES' in meta:
        try:
            classes = json.loads(meta['CLASSES'])
        except ValueError:
            classes = None
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise CheckpointError(f'{path}: the CLASSES metadata is not a JSON list of class names: '
                                  f'{meta["CLASSES"][:80]!r}')
        meta['CLASSES'] = classes
    for key in ('epoch', 'iter'):
        if key in meta and meta[key].isdigit():
            meta[key] = int(meta[key])
    return meta


def load_safetensors(path: str | os.PathLike, map_location: str | torch.device = 'cpu') -> dict:
    """``{'state_dict': tensors, 'meta': metadata}`` of a ``.safetensors`` file; CheckpointError if unreadable."""
    path = Path(path)
    try:
        with safe_open(str(path), framework='pt', device=str(map_location)) as f:
            header = f.metadata() or {}
            state = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
    except Exception as e:  # safetensors raises its own error type and OSError/ValueError variants
        raise CheckpointError(f'checkpoint {path} is not a valid .safetensors file (corrupt or truncated): '
                              f'{str(e).splitlines()[0] if str(e) else type(e).__name__}') from e
    return {'state_dict': state, 'meta': _decode_meta(path, header)}
