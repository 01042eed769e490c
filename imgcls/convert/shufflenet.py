"""ShuffleNetV2 from torchvision (mmcls checkpoints load as they are)."""

from __future__ import annotations

import re

from ._mobile_blocks import rename, replace_prefix
from .registry import register_converter

__all__: list[str] = []

# torchvision's Sequential indices → mmcls ConvModule children (the ReLUs hold no weights)
_BRANCH1 = {'0': '0.conv', '1': '0.bn', '2': '1.conv', '3': '1.bn'}
_BRANCH2 = {'0': '0.conv', '1': '0.bn', '3': '1.conv', '4': '1.bn', '5': '2.conv', '6': '2.bn'}
_TOP = {'conv1.0': 'backbone.conv1.conv', 'conv1.1': 'backbone.conv1.bn', 'conv5.0': 'backbone.layers.3.conv',
        'conv5.1': 'backbone.layers.3.bn', 'fc': 'head.fc'}


def _is_tv_shufflenet_v2(sd) -> bool:
    return 'stage2.0.branch1.0.weight' in sd and 'conv5.0.weight' in sd


@register_converter('torchvision', 'shufflenet_v2', _is_tv_shufflenet_v2)
def torchvision_shufflenet_v2(sd: dict) -> dict:
    """``stage2..4`` → ``layers.0..2``, ``conv5`` → ``layers.3``, ``fc`` → ``head.fc``."""
    def mapper(key: str) -> str | None:
        m = re.match(r'stage(\d)\.(\d+)\.(branch[12])\.(\d+)\.(.*)', key)
        if not m:
            return replace_prefix(key, _TOP)
        stage, block, branch, index, tail = m.groups()
        sub = (_BRANCH1 if branch == 'branch1' else _BRANCH2).get(index)
        return None if sub is None else f'backbone.layers.{int(stage) - 2}.{block}.{branch}.{sub}.{tail}'
    return rename(sd, mapper)
