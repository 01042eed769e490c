"""Reading and writing checkpoints: atomic saves, safe loads, clear errors."""

from __future__ import annotations

import errno
import os
import pickle
import random
import re
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from ..errors import CheckpointError
from ..fileio import atomic_open

UNSAFE_HINT = ('If you trust where this file came from, load it with --unsafe-load '
               '(Python: load_checkpoint(path, unsafe=True)); that runs any code pickled inside it.')


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain model inside DDP / torch.compile wrappers."""
    while True:
        if hasattr(model, 'module') and isinstance(model.module, nn.Module):
            model = model.module
        elif hasattr(model, '_orig_mod'):
            model = model._orig_mod
        else:
            return model


def get_rng_state() -> dict:
    """Python, numpy and torch RNG states in a form ``torch.load(weights_only=True)`` accepts."""
    np_state = np.random.get_state()
    state = {
        'python': random.getstate(),
        'numpy': (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        'torch': torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    if 'python' in state:
        version, internal, gauss = state['python']
        random.setstate((version, tuple(internal), gauss))
    if 'numpy' in state:
        name, keys, *rest = state['numpy']
        np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    if 'torch' in state:
        torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


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


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = 'cpu',
                    unsafe: bool = False) -> dict:
    """Load a checkpoint file safely (``weights_only``), turning every failure into a CheckpointError.

    ``.safetensors`` files (by name or content) come back as ``{'state_dict': ..., 'meta': ...}``.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f'checkpoint {path} does not exist (or is not a file)')
    if path.stat().st_size == 0:
        raise CheckpointError(f'checkpoint {path} is empty (0 bytes): it was not written completely')
    from .safetensors_io import load_safetensors, looks_like_safetensors
    if path.suffix == '.safetensors' or looks_like_safetensors(path):
        return load_safetensors(path, map_location)
    if zipfile.is_zipfile(path):
        _verify_zip(path)
    try:
        with warnings.catch_warnings():  # torch's note on unusual pickle protocols; errors are reported below
            warnings.filterwarnings('ignore', message='Detected pickle protocol')
            ckpt = torch.load(path, map_location=map_location, weights_only=not unsafe)
    except pickle.UnpicklingError as e:
        # the weights-only unpickler names the GLOBAL it refused; anything else is a damaged file
        if not unsafe and 'global' in str(e).lower():
            found = re.search(r'GLOBAL ([\w.]+)', str(e))
            example = f' (here {found.group(1)})' if found else ''
            raise CheckpointError(f'checkpoint {path} contains pickled Python objects{example} beyond tensors '
                                  'and plain containers, which imgcls does not load by default because '
                                  f'unpickling can run arbitrary code. {UNSAFE_HINT}') from e
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


def _check_overlap(model: nn.Module, usable: dict, state_dict: dict, own: dict, source: str) -> None:
    """Refuse a file for another architecture: no learned weight fits, or most same-named ones have other shapes.

    Fine-tuning (another head) mismatches a couple of tensors; a model of another size mismatches nearly all,
    and loading it would silently leave the model at its random init.
    """
    params = {name for name, _ in model.named_parameters()}
    fit = sum(k in params for k in usable)
    other = sum(k in params and own[k].shape != v.shape for k, v in state_dict.items())
    if params and (fit == 0 or other > fit):
        example = next((f'{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}'
                        for k, v in state_dict.items() if k in params and own[k].shape != v.shape), None)
        raise CheckpointError(f'checkpoint {source} does not fit this model: {fit} of its {len(params)} learned '
                              f'weights load, {other} have other shapes'
                              + (f' (e.g. {example})' if example else f' (checkpoint keys start '
                                 f'{list(state_dict)[:3]})')
                              + '. Is it for another architecture or model size?')


def load_model_weights(model: nn.Module, state_dict: dict, strict: bool = False, source: str = '',
                       skip_mismatched: bool = True) -> dict[str, list[str]]:
    """Load weights into ``model``; shape mismatches are skipped (with a warning) rather than fatal.

    Returns the lists of ``missing``, ``unexpected`` and ``mismatched`` keys.
    """
    model = unwrap_model(model)
    from ..models.layers.pretrained import adapt_input_conv_weights, apply_load_hooks
    if skip_mismatched:  # fine-tuning: RGB weights into a model with another number of input channels
        state_dict = adapt_input_conv_weights(state_dict, model)
    state_dict = apply_load_hooks(model, state_dict)  # e.g. ViT resizes pos_embed for another image size
    own = model.state_dict()
    mismatched = [f'{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}'
                  for k, v in state_dict.items() if k in own and own[k].shape != v.shape]
    if mismatched and not skip_mismatched:
        raise CheckpointError(f'checkpoint {source} does not fit the model (shape mismatch): '
                              + '; '.join(mismatched[:5]) + ' — is it the same architecture and num_classes?')
    usable = {k: v for k, v in state_dict.items() if not (k in own and own[k].shape != v.shape)}
    _check_overlap(model, usable, state_dict, own, source)
    result = model.load_state_dict(usable, strict=False)
    report = {'missing': list(result.missing_keys), 'unexpected': list(result.unexpected_keys),
              'mismatched': mismatched}
    if strict and (report['missing'] or report['unexpected']):
        raise CheckpointError(f'checkpoint {source} does not match the model architecture: '
                              f'{len(report["missing"])} missing keys (e.g. {report["missing"][:3]}), '
                              f'{len(report["unexpected"])} unexpected keys (e.g. {report["unexpected"][:3]})')
    if mismatched:
        warnings.warn(f'skipped {len(mismatched)} weights from {source} whose shapes differ from the '
                      f'model (usually the classification head when num_classes changed): '
                      + '; '.join(mismatched), stacklevel=2)
    if not strict and (report['missing'] or report['unexpected']):
        warnings.warn(f'loading {source}: {len(report["missing"])} model weights not in the checkpoint '
                      f'{report["missing"][:8]}, {len(report["unexpected"])} checkpoint weights not used '
                      f'{report["unexpected"][:8]}', stacklevel=2)
    return report


def checkpoint_meta(ckpt: dict) -> dict[str, Any]:
    meta = ckpt.get('meta', {})
    return meta if isinstance(meta, dict) else {}
