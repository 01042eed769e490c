"""RegNetX from torchvision (``stem`` / ``trunk_output``) and timm (``stem`` / ``s1.b1``)."""

from __future__ import annotations

import re

from ..errors import CheckpointError
from .registry import register_converter

__all__: list[str] = []

# torchvision's block parts → mmcls's bottleneck names
_TV_PARTS = {'proj.0': 'downsample.0', 'proj.1': 'downsample.1', 'f.a.0': 'conv1', 'f.a.1': 'bn1',
             'f.b.0': 'conv2', 'f.b.1': 'bn2', 'f.c.0': 'conv3', 'f.c.1': 'bn3'}
_TIMM_PARTS = {'downsample.conv': 'downsample.0', 'downsample.bn': 'downsample.1', 'conv1.conv': 'conv1',
               'conv1.bn': 'bn1', 'conv2.conv': 'conv2', 'conv2.bn': 'bn2', 'conv3.conv': 'conv3', 'conv3.bn': 'bn3'}


def _is_tv_regnet(sd) -> bool:
    return 'stem.0.weight' in sd and any(k.startswith('trunk_output.') for k in sd)


def _is_timm_regnet(sd) -> bool:
    return 'stem.conv.weight' in sd and any(k.startswith('s1.b1.') for k in sd)


def _check_not_tv_400mf(sd: dict) -> None:
    fc = sd.get('fc.weight')
    if fc is not None and fc.shape[1] == 400:
        raise CheckpointError(
            "this is torchvision's regnet_x_400mf, whose last stage is 400 wide: torchvision rounds the widths "
            "up where pycls, timm and mmcls ('regnetx_400mf', 384 wide) round to even, so the weights do not fit. "
            "Use timm's regnetx_004 weights (or mmcls's) for RegNet(arch='regnetx_400mf')")


@register_converter('torchvision', 'regnet', _is_tv_regnet)
def torchvision_regnet(sd: dict) -> dict:
    """``trunk_output.blockS.blockS-B.f.a.0`` → ``backbone.layerS.B.conv1`` and so on; ``fc`` → ``head.fc``."""
    _check_not_tv_400mf(sd)
    out = {}
    for key, value in sd.items():
        if key.startswith('stem.0.'):
            new = 'backbone.conv1.' + key[len('stem.0.'):]
        elif key.startswith('stem.1.'):
            new = 'backbone.bn1.' + key[len('stem.1.'):]
        elif key.startswith('fc.'):
            new = 'head.' + key
        elif m := re.match(r'trunk_output\.block(\d+)\.block\d+-(\d+)\.(proj\.\d|f\.[abc]\.\d)\.(.+)', key):
            stage, block, part, rest = m.groups()
            new = f'backbone.layer{stage}.{block}.{_TV_PARTS[part]}.{rest}'
        else:
            raise CheckpointError(f'unexpected key {key!r} in a torchvision RegNet checkpoint')
        out[new] = value
    return out


@register_converter('timm', 'regnet', _is_timm_regnet)
def timm_regnet(sd: dict) -> dict:
    """``sS.bB.conv1.conv`` → ``backbone.layerS.(B-1).conv1``; ``stem.conv/bn`` → ``conv1/bn1``; ``head.fc``."""
    out = {}
    for key, value in sd.items():
        if key.startswith('stem.conv.'):
            new = 'backbone.conv1.' + key[len('stem.conv.'):]
        elif key.startswith('stem.bn.'):
            new = 'backbone.bn1.' + key[len('stem.bn.'):]
        elif key.startswith('head.fc.'):
            new = key
        elif m := re.match(r's(\d+)\.b(\d+)\.((?:downsample|conv\d)\.(?:conv|bn))\.(.+)', key):
            stage, block, part, rest = m.groups()
            new = f'backbone.layer{stage}.{int(block) - 1}.{_TIMM_PARTS[part]}.{rest}'
        else:
            raise CheckpointError(f'unexpected key {key!r} in a timm RegNet checkpoint (only RegNetX is supported)')
        out[new] = value
    return out
