"""VGG-11/13/16/19 (with or without BN) from torchvision and timm."""

from __future__ import annotations

import re

import torch

from ..errors import CheckpointError
from .registry import register_converter

__all__: list[str] = []

# convs per stage of each depth (VGG.arch_settings); kept here so converters need no model code
_STAGE_CONVS = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
_CONVS_TO_DEPTH = {sum(blocks): depth for depth, blocks in _STAGE_CONVS.items()}


def _is_vgg(sd) -> bool:
    return 'features.0.weight' in sd and ('classifier.0.weight' in sd or 'pre_logits.fc1.weight' in sd)


def _features(sd: dict) -> dict:
    """``features.i`` (conv, [bn,] relu per layer, a pool per stage) → mmcls's ``features.j.{conv,bn}``."""
    indices = sorted({int(m.group(1)) for k in sd if (m := re.match(r'features\.(\d+)\.', k))})
    convs = [i for i in indices if sd[f'features.{i}.weight'].dim() == 4]
    if len(convs) not in _CONVS_TO_DEPTH:
        raise CheckpointError(f'this VGG checkpoint has {len(convs)} convs; VGG-11/13/16/19 have '
                              f'{sorted(_CONVS_TO_DEPTH)}')
    blocks = _STAGE_CONVS[_CONVS_TO_DEPTH[len(convs)]]
    # mmcls index of each conv: its position, plus one max-pool after every finished stage
    targets, position = [], 0
    for num in blocks:
        targets += range(position, position + num)
        position += num + 1
    out = {}
    for src, dst in zip(convs, targets):
        out[f'backbone.features.{dst}.conv.weight'] = sd[f'features.{src}.weight']
        out[f'backbone.features.{dst}.conv.bias'] = sd[f'features.{src}.bias']
        bn = f'features.{src + 1}.'
        for key in sd:
            if key.startswith(bn):
                out[f'backbone.features.{dst}.bn.' + key[len(bn):]] = sd[key]
    return out


@register_converter('torchvision', 'vgg', _is_vgg)
def torchvision_vgg(sd: dict) -> dict:
    """torchvision vgg*/vgg*_bn: the classifier keeps its ``classifier.{0,3,6}`` names under ``backbone.``."""
    out = _features(sd)
    for key, value in sd.items():
        if key.startswith('classifier.'):
            out['backbone.' + key] = value
    return out


@register_converter('timm', 'vgg', _is_vgg)
def timm_vgg(sd: dict) -> dict:
    """timm vgg*: its conv-shaped ``pre_logits.fc1/fc2`` and ``head.fc`` become the linear ``classifier.{0,3,6}``."""
    if 'classifier.0.weight' in sd:
        return torchvision_vgg(sd)
    out = _features(sd)
    for src, dst in (('pre_logits.fc1', 0), ('pre_logits.fc2', 3), ('head.fc', 6)):
        if f'{src}.weight' in sd:
            weight = sd[f'{src}.weight']
            out[f'backbone.classifier.{dst}.weight'] = torch.flatten(weight, 1) if weight.dim() == 4 else weight
            out[f'backbone.classifier.{dst}.bias'] = sd[f'{src}.bias']
    return out
