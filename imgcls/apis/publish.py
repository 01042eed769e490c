"""``publish_checkpoint``: a training checkpoint → released weights in a ``.safetensors`` file."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .. import __version__
from ..engine.checkpoint import checkpoint_meta, get_state_dict, load_checkpoint
from ..errors import CheckpointError, ConfigError
from ..safetensors_io import load_safetensors, save_safetensors

__all__ = ['publish_checkpoint']


def publish_checkpoint(src: str | os.PathLike, dst: str | os.PathLike, ema: bool = False,
                       unsafe_load: bool = False) -> dict:
    """Write only the model weights of ``src`` (or its EMA weights) plus class names and config to ``dst``.

    The optimizer, RNG and hook states are left out: the file holds tensors and strings only, so it is
    safe to load from anywhere. Returns the metadata written.
    """
    src, dst = Path(src), Path(dst)
    if dst.suffix != '.safetensors':
        raise ConfigError(f'imgcls publish writes a .safetensors file; name the output like '
                          f'{dst.with_suffix(".safetensors")} (got {dst})')
    if dst.exists() and src.exists() and os.path.samefile(src, dst):
        raise ConfigError(f'the output {dst} is the checkpoint being published; choose another name')
    ckpt = load_checkpoint(src, unsafe=unsafe_load)
    if ema:
        state = ckpt.get('state_dict_ema')
        if not isinstance(state, dict) or not state:
            raise CheckpointError(f'{src} has no EMA weights (state_dict_ema); train with '
                                  "custom_hooks=[dict(type='EMAHook')] or publish without --ema")
    else:
        state = get_state_dict(ckpt)
    meta = checkpoint_meta(ckpt)
    header = {'CLASSES': meta.get('CLASSES'), 'config': meta.get('config'), 'epoch': meta.get('epoch'),
              'iter': meta.get('iter'), 'imgcls_version': __version__, 'torch_version': str(torch.__version__),
              'source': src.name, 'weights': 'ema' if ema else 'model'}
    save_safetensors(dst, state, header)
    written = load_safetensors(dst)  # read it back: what we release must load
    if set(written['state_dict']) != set(state):
        raise CheckpointError(f'{dst} was written but does not read back with the same weights; try again')
    return written['meta']
