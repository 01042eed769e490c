"""Checkpoint files on disk: atomic saves, safe loads (``weights_only``, checksums), clear errors.

This is the bottom layer for checkpoints: it knows files, not models or where weights come from.
Resolving URLs, ``torchvision://`` and ``timm/`` names to files is :mod:`imgcls.hub.sources`;
loading weights into a model is :mod:`imgcls.engine.checkpoint`.
"""

from __future__ import annotations

import errno
import os
import pickle
import re
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError
from .fileio import atomic_open
from .safetensors_io import load_safetensors, looks_like_safetensors

__all__ = ['UNSAFE_HINT', 'save_checkpoint', 'read_checkpoint', 'get_state_dict', 'checkpoint_meta']

UNSAFE_HINT = ('If you trust where this file came from, load it with --unsafe-load '
               '(Python: load_checkpoint(path, unsafe=True)); that runs any code pickled inside it.')


def _os_error_in(exc: BaseException) -> OSError | None:
    """The OSError behind ``exc``: torch.save reports a failed write as a RuntimeError caused by one."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def save_checkpoint(path: str | os.PathLike, checkpoint: dict) -> None:
    """Write ``checkpoint`` atomically: the old file stays intact until the new one is complete."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, 'wb') as f:
            torch.save(checkpoint, f)
    except (OSError, RuntimeError) as e:
        os_error = _os_error_in(e)
        if os_error is None:  # a RuntimeError that is not about writing: a bug, not the disk
            raise
        reason = ('the disk is full (no space left on device)' if os_error.errno == errno.ENOSPC
                  else os_error.strerror or str(os_error))
        raise CheckpointError(f'could not write checkpoint {path}: {reason}. Nothing was written under that '
                              'name and the previous checkpoint is intact; free disk space or choose another '
                              '--work-dir, then continue with --resume.') from e


def _detail(e: BaseException) -> str:
    """The informative line of a load error (torch wraps unpickler errors in advice about weights_only)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    noise = ('weights only load failed', 'please file an issue', 'check the documentation')
    useful = [ln for ln in lines if not ln.lower().startswith(noise)]
    return ((useful or lines or [''])[0])[:200]


def _corrupt(path: Path, e: BaseException) -> CheckpointError:
    return CheckpointError(f'checkpoint {path} is corrupt, truncated or not a PyTorch checkpoint and cannot be '
                           f'read ({type(e).__name__}: {_detail(e)}). Use an earlier checkpoint (epoch_*.pth) '
                           'in the same folder, or copy the file again.')


def _verify_zip(path: Path) -> None:
    """Check the CRC of every entry: torch.load does not, so flipped bytes would load as wrong weights."""
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as e:
        raise _corrupt(path, e) from e
    if bad is not None:
        raise CheckpointError(f'checkpoint {path} is corrupt: the data of its entry {bad!r} does not match its '
                              'checksum (the file was damaged on disk or in transfer). Use an earlier '
                              'checkpoint or copy the file again.')


def _refused_pickle(path: Path, e: pickle.UnpicklingError) -> CheckpointError:
    """The weights-only unpickler names the GLOBAL it refused: say which, and how to load it anyway."""
    found = re.search(r'GLOBAL ([\w.]+)', str(e))
    example = f' (here {found.group(1)})' if found else ''
    return CheckpointError(f'checkpoint {path} contains pickled Python objects{example} beyond tensors '
                           'and plain containers, which imgcls does not load by default because '
                           f'unpickling can run arbitrary code. {UNSAFE_HINT}')


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = 'cpu',
                    unsafe: bool = False) -> dict:
    """Load a local checkpoint file safely (``weights_only``), turning every failure into a CheckpointError.

    ``.safetensors`` files (by name or content) come back as ``{'state_dict': ..., 'meta': ...}``.
    """
    path = Path(path)
    if not path.is_file():
        where = '' if path.is_absolute() else f'; relative paths are read from {os.getcwd()}'
        raise CheckpointError(f'checkpoint {path} does not exist (or is not a file){where}')
    if path.stat().st_size == 0:
        raise CheckpointError(f'checkpoint {path} is empty (0 bytes): it was not written completely')
    if path.suffix == '.safetensors' or looks_like_safetensors(path):
        return load_safetensors(path, map_location)
    if zipfile.is_zipfile(path):
        _verify_zip(path)
    try:
        with warnings.catch_warnings():  # torch's note on unusual pickle protocols; errors are reported below
            warnings.filterwarnings('ignore', message='Detected pickle protocol')
            ckpt = torch.load(path, map_location=map_location, weights_only=not unsafe)
    except pickle.UnpicklingError as e:
        if not unsafe and 'global' in str(e).lower():
            raise _refused_pickle(path, e) from e
        raise _corrupt(path, e) from e
    except Exception as e:  # zip, pickle, storage and decoding errors of a damaged file all end here
        raise _corrupt(path, e) from e
    if not isinstance(ckpt, dict):
        raise CheckpointError(f'checkpoint {path} holds a {type(ckpt).__name__}, not a dict of weights')
    return ckpt


def get_state_dict(ckpt: dict) -> dict:
    """The model weights in a checkpoint (mmcls/torchvision/timm layouts), without DDP's ``module.``."""
    for key in ('state_dict', 'model', 'state_dict_ema'):
        if key in ckpt and isinstance(ckpt[key], dict):
            sd = ckpt[key]
            break
    else:
        sd = ckpt
    if not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError('the checkpoint holds no weights dict: expected a "state_dict" entry of tensors')
    if sd and all(k.startswith('module.') for k in sd):
        sd = OrderedDict((k[len('module.'):], v) for k, v in sd.items())
    return sd


def checkpoint_meta(ckpt: dict) -> dict[str, Any]:
    """The ``meta`` dict of a checkpoint (empty when it has none)."""
    meta = ckpt.get('meta', {})
    return meta if isinstance(meta, dict) else {}
