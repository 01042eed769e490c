"""Building a classifier from a config, the way train, test, infer and export all do."""

from __future__ import annotations

import copy

import torch

from ..data.utils import move_normalize_to_model
from ..errors import ConfigError
from ..models.builder import build_classifier
from ..models.fuse import fuse_conv_bn


def prepare_config(cfg) -> None:
    """Move ``Normalize`` out of the data pipelines into ``model.data_preprocessor`` (in place).

    mmcls 0.x configs normalise in the data pipeline; imgcls normalises on the model's device, so the
    workers ship uint8 tensors (4x less data) and the float math runs where the model runs.
    """
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


def prepare_for_inference(model: torch.nn.Module, cfg, speed) -> torch.nn.Module:
    """Set ``model`` up for inference in place: eval mode, BatchNorms folded into their convolutions (unless the
    config says ``fuse_conv_bn = False``), channels_last when ``speed`` has it. Returns the model.

    The result is for inference only: the folded BatchNorms are gone, so build the model anew to train it.
    """
    fuse = cfg.get('fuse_conv_bn', True)
    if not isinstance(fuse, bool):
        raise ConfigError(f'fuse_conv_bn must be True or False, got {fuse!r}')
    model.eval()
    if fuse:
        fuse_conv_bn(model)
    return speed.apply_memory_format(model)
