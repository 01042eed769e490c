"""Reading and writing checkpoints: atomic saves, safe loads, clear errors."""

from __future__ import annotations

import os
import pickle
import random
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


def save_checkpoint(path: str | os.PathLike, checkpoint: dict) -> None:
    """Write ``checkpoint`` atomically: the old file stays intact until the new one is complete."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, 'wb') as f:
            torch.save(checkpoint, f)
    except OSError as e:
        raise CheckpointError(f'could not write checkpoint {path}: {e.strerror or e}. The previous '
                              'checkpoint is intact; free disk space or choose another --work-dir, then '
                              'resume with --resume.') from e


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = 'cpu',
                    unsafe: bool = False) -> dict:
    """Load a checkpoint file safely (``weights_only``), turning every failure into a CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f'checkpoint {path} does not exist (or is not a file)')
    if path.stat().st_size == 0:
        raise CheckpointError(f'checkpoint {path} is empty (0 bytes): it was not written completely')
    if path.suffix == '.safetensors':
        from safetensors.torch import load_file
        try:
            return {'state_dict': load_file(str(path), device=str(map_location))}
        except Exception as e:
            raise CheckpointError(f'checkpoint {path} is not a valid .safetensors file: {e}') from e
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=not unsafe)
    except pickle.UnpicklingError as e:
        if 'weights_only' in str(e) or 'Unsupported global' in str(e):
            raise CheckpointError(f'checkpoint {path} contains pickled Python objects beyond tensors and '
                                  f'plain containers, which imgcls does not load by default because '
                                  f'unpickling can run arbitrary code. {UNSAFE_HINT}') from e
        raise CheckpointError(f'checkpoint {path} is corrupt (not a torch checkpoint): {e}') from e
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as e:
        raise CheckpointError(f'checkpoint {path} is corrupt or truncated and cannot be read '
                              f'({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}). '
                              'Use an earlier checkpoint (epoch_*.pth) in the same folder.') from e
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
