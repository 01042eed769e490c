"""Checkpoints of a training run: weights into a model (fine-tuning aware), RNG states for exact resume.

File I/O lives in :mod:`imgcls.checkpoint_io`; references to weights (URLs, ``torchvision://``, ``timm/``)
are resolved by :mod:`imgcls.hub.sources`. Both are re-exported here for the engine and the APIs.
"""

from __future__ import annotations

import logging
import random

import numpy as np
import torch
import torch.nn as nn

from ..checkpoint_io import UNSAFE_HINT, checkpoint_meta, get_state_dict, read_checkpoint, save_checkpoint
from ..errors import CheckpointError
from ..hub.sources import load_checkpoint
from ..models.layers.pretrained import adapt_input_conv_weights, apply_load_hooks, describe_partial_load

__all__ = ['UNSAFE_HINT', 'checkpoint_meta', 'get_rng_state', 'get_state_dict', 'load_checkpoint',
           'load_model_weights', 'read_checkpoint', 'save_checkpoint', 'set_rng_state', 'unwrap_model']

logger = logging.getLogger(__name__)


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
    """Load weights into ``model``; shape mismatches (a new head) are skipped and reported in one log line.

    Returns the lists of ``missing`` (not in the checkpoint), ``unexpected`` (no place in the model) and
    ``mismatched`` (present with another shape, not loaded) keys.
    """
    model = unwrap_model(model)
    if skip_mismatched:  # fine-tuning: RGB weights into a model with another number of input channels
        state_dict = adapt_input_conv_weights(state_dict, model)
    state_dict = apply_load_hooks(model, state_dict)  # e.g. ViT resizes pos_embed for another image size
    own = model.state_dict()
    shapes = {k: (tuple(v.shape), tuple(own[k].shape)) for k, v in state_dict.items()
              if k in own and own[k].shape != v.shape}
    if shapes and not skip_mismatched:
        raise CheckpointError(f'checkpoint {source} does not fit the model (shape mismatch): '
                              + '; '.join(f'{k}: checkpoint {a} vs model {b}' for k, (a, b) in list(shapes.items())[:5])
                              + ' — is it the same architecture and num_classes?')
    usable = {k: v for k, v in state_dict.items() if k not in shapes}
    _check_overlap(model, usable, state_dict, own, source)
    result = model.load_state_dict(usable, strict=False)
    missing = [k for k in result.missing_keys if k not in shapes]
    report = {'missing': missing, 'unexpected': list(result.unexpected_keys),
              'mismatched': [f'{k}: checkpoint {a} vs model {b}' for k, (a, b) in shapes.items()]}
    if strict and (report['missing'] or report['unexpected']):
        raise CheckpointError(f'checkpoint {source} does not match the model architecture: '
                              f'{len(report["missing"])} missing keys (e.g. {report["missing"][:3]}), '
                              f'{len(report["unexpected"])} unexpected keys (e.g. {report["unexpected"][:3]})')
    line = describe_partial_load(source, len(usable) - len(report['unexpected']), shapes, missing,
                                 report['unexpected'])
    if line:
        logger.warning(line)
    return report
