"""Building a classifier from a config, the way train, test, infer and export all do."""

from __future__ import annotations

import copy

import torch

from ..errors import ConfigError
from ..models.builder import build_classifier


def prepare_config(cfg) -> None:
    """Move ``Normalize`` out of the data pipelines into ``model.data_preprocessor`` (in place).

    mmcls 0.x configs normalise in the data pipeline; imgcls normalises on the model's device, so the
    workers ship uint8 tensors (4x less data) and the float math runs where the model runs.
    """
    from ..data.utils import move_normalize_to_model
    new_cfg, preproc = move_normalize_to_model(cfg)
    if 'data' in cfg:
        cfg['data'] = new_cfg['data']
    for key in list(cfg.keys()):
        if key.endswith('_pipeline') and key in new_cfg:
            cfg[key] = new_cfg[key]
    model = cfg.get('model')
    if not isinstance(model, dict):
        raise ConfigError(f'the config needs a "model" dict, got {model!r}')
    if model.get('data_preprocessor') is None:
        top = cfg.get('data_preprocessor')
        if isinstance(top, dict):  # mmpretrain 1.x puts it at the top level
            preproc = {k: v for k, v in top.items() if k in ('mean', 'std', 'to_rgb')}
        if preproc is not None:
            model['data_preprocessor'] = preproc


def build_model(cfg, device: str | torch.device = 'cpu', init: bool = True) -> torch.nn.Module:
    """Build ``cfg.model`` (after :func:`prepare_config`), initialise its weights, move it to ``device``."""
    model_cfg = copy.deepcopy(cfg['model'])
    model = build_classifier(model_cfg)
    if init and hasattr(model, 'init_weights'):
        model.init_weights()
    return model.to(device)
