"""Key renaming shared by the MobileNet / EfficientNet converters (torchvision and timm block layouts)."""

from __future__ import annotations

import re
from collections.abc import Callable

import torch

from ..errors import CheckpointError

StateDict = dict[str, torch.Tensor]

# timm block children → mmcls InvertedResidual children (MobileNetV3 / EfficientNet)
TIMM_IR = {'conv_pw': 'expand_conv.conv', 'bn1': 'expand_conv.bn', 'conv_dw': 'depthwise_conv.conv',
           'bn2': 'depthwise_conv.bn', 'conv_pwl': 'linear_conv.conv', 'bn3': 'linear_conv.bn',
           'se.conv_reduce': 'se.conv1.conv', 'se.conv_expand': 'se.conv2.conv'}
# timm's depthwise-separable block (no expand conv): its conv_pw is the projection
TIMM_DS = {'conv_dw': 'depthwise_conv.conv', 'bn1': 'depthwise_conv.bn', 'conv_pw': 'linear_conv.conv',
           'bn2': 'linear_conv.bn', 'se.conv_reduce': 'se.conv1.conv', 'se.conv_expand': 'se.conv2.conv'}
# timm's conv + bn + act block
TIMM_CN = {'conv': 'conv', 'bn1': 'bn'}


def rename(sd: StateDict, mapper: Callable[[str], str | None]) -> StateDict:
    """Apply ``mapper`` to every key; it returns the new key, or None for a key no rule covers."""
    out, unknown = {}, []
    for key, value in sd.items():
        new = mapper(key)
        if new is None:
            unknown.append(key)
        else:
            out[new] = value
    if unknown:
        raise CheckpointError(f'{len(unknown)} key(s) of this checkpoint have no counterpart in the imgcls model '
                              f'(e.g. {", ".join(unknown[:4])}): is it the model family you converted it as?')
    return out


def replace_prefix(rest: str, table: dict[str, str]) -> str | None:
    """``rest`` with its longest prefix found in ``table`` replaced, or None."""
    for old in sorted(table, key=len, reverse=True):
        if rest.startswith(old + '.'):
            return table[old] + rest[len(old):]
    return None


def count_children(sd: StateDict, pattern: str) -> dict[int, int]:
    """For ``pattern`` with two groups (stage, block), the number of blocks in each stage."""
    blocks: dict[int, set[int]] = {}
    for key in sd:
        m = re.match(pattern, key)
        if m:
            blocks.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
    return {stage: len(b) for stage, b in sorted(blocks.items())}


def timm_block(sd: StateDict, prefix: str, rest: str) -> str | None:
    """A timm MobileNetV3/EfficientNet block child → the mmcls InvertedResidual child (or ConvModule)."""
    if f'{prefix}.conv_pwl.weight' in sd:
        table = TIMM_IR
    elif f'{prefix}.conv_dw.weight' in sd:
        table = TIMM_DS
    else:
        table = TIMM_CN
    return replace_prefix(rest, table)


def torchvision_mbconv(sd: StateDict, prefix: str, rest: str) -> str | None:
    """``block.<j>.…`` of a torchvision MobileNetV3/EfficientNet block → the mmcls InvertedResidual child.

    torchvision numbers the parts (expand if any, depthwise, SE if any, projection); the projection is the
    last conv part, the depthwise the one before it, the expand conv the one before that.
    """
    m = re.match(r'block\.(\d+)\.(.*)', rest)
    if not m:
        return None
    parts = sorted({int(k[len(prefix) + 7:].split('.')[0]) for k in sd if k.startswith(prefix + '.block.')})
    convs = [j for j in parts if f'{prefix}.block.{j}.fc1.weight' not in sd]
    j, tail = int(m.group(1)), m.group(2)
    if j not in convs:  # the SE: fc1 squeezes, fc2 expands
        return replace_prefix(tail, {'fc1': 'se.conv1.conv', 'fc2': 'se.conv2.conv'})
    name = ('expand_conv', 'depthwise_conv', 'linear_conv')[3 - len(convs) + convs.index(j)]
    return replace_prefix(tail, {'0': f'{name}.conv', '1': f'{name}.bn'})


def conv_norm(rest: str, name: str) -> str | None:
    """torchvision's Conv2dNormActivation child ``0.*`` / ``1.*`` → mmcls ConvModule ``<name>.conv/.bn``."""
    return replace_prefix(rest, {'0': f'{name}.conv', '1': f'{name}.bn'})
