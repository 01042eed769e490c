"""Turn a trained checkpoint of a re-parameterizable model (RepVGG, RepMLPNet) into its deploy form."""

from __future__ import annotations

import os

import torch

from ..engine.checkpoint import save_checkpoint
from ..errors import CheckpointError, ConfigError
from ..models.utils.reparam import switch_all_to_deploy
from .model import prepare_config
from .test import load_trained_model

__all__ = ['reparameterize_checkpoint']


def _logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.simple_test(x, softmax=False, post_process=False).float()


def reparameterize_checkpoint(cfg, src: str | os.PathLike, dst: str | os.PathLike,
                              shape: tuple[int, int, int] = (3, 224, 224), atol: float = 1e-4,
                              unsafe_load: bool = False) -> float:
    """Load ``src`` into the training-time model of ``cfg`` (a Config), merge its branches, write ``dst``.

    The written checkpoint loads into the same config with ``model.backbone.deploy=True``. The deploy model's
    logits on a random batch of ``shape`` images (the backbone's ``img_size`` if it has one) must match the
    training-time model's within ``atol`` (times the logits' scale when above 1), else nothing is written.
    Returns the largest difference seen. ``unsafe_load`` allows pickled objects in ``src`` (trusted files only).
    """
    prepare_config(cfg)
    backbone = cfg['model'].get('backbone') or {}
    if backbone.get('deploy'):
        raise ConfigError(f'--reparam needs the training-time config, but model.backbone.deploy=True in it; '
                          f'give the config the checkpoint {src} was trained with')
    model, meta = load_trained_model(cfg, str(src), 'cpu', unsafe_load)
    model.float().eval()
    img_size = getattr(getattr(model, 'backbone', None), 'img_size', None)
    if img_size is not None:  # a backbone that takes one input size only (RepMLPNet)
        shape = (shape[0], *img_size)
    x = torch.randn((2, *shape), generator=torch.Generator().manual_seed(0))
    before = _logits(model, x)
    if switch_all_to_deploy(model) == 0:
        raise ConfigError(f"{backbone.get('type', 'this model')} has nothing to re-parameterize (no module with "
                          'switch_to_deploy); --reparam applies to RepVGG and RepMLPNet')
    after = _logits(model, x)
    diff = (after - before).abs().max().item()
    if diff > atol * max(1.0, before.abs().max().item()):
        raise CheckpointError(f'the re-parameterized model of {src} differs from the trained one by {diff:.3g} '
                              f'(more than {atol:g}); nothing was written to {dst}')
    save_checkpoint(dst, {'state_dict': {k: v.contiguous() for k, v in model.state_dict().items()},
                          'meta': {**meta, 'reparameterized': True}})
    return diff
