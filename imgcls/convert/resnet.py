"""ResNet family (ResNet, ResNetV1c/V1d, ResNeXt, Wide ResNet) from torchvision, timm and mmcls."""

from __future__ import annotations

from .registry import register_converter

__all__: list[str] = []


def _is_resnet(sd) -> bool:
    return 'layer1.0.conv1.weight' in sd and 'layer4.0.conv1.weight' in sd


def _classifier_keys(sd: dict) -> dict:
    """``fc.*`` → ``head.fc.*``, everything else under ``backbone.``."""
    out = {}
    for key, value in sd.items():
        if key.startswith('fc.'):
            out['head.' + key] = value
        else:
            out['backbone.' + key] = value
    return out


@register_converter('torchvision', 'resnet', _is_resnet)
def torchvision_resnet(sd: dict) -> dict:
    """torchvision's resnet*/resnext*/wide_resnet* use mmcls's key names already."""
    return _classifier_keys(sd)


def _is_timm_resnet(sd) -> bool:
    return _is_resnet(sd) and ('conv1.weight' in sd or 'conv1.0.weight' in sd)


# timm's SE modules (seresnet*, seresnext*) → mmcls's SELayer
_TIMM_SE = {'.se.fc1.': '.se_layer.conv1.conv.', '.se.fc2.': '.se_layer.conv2.conv.'}


@register_converter('timm', 'resnet', _is_timm_resnet)
def timm_resnet(sd: dict) -> dict:
    """timm's resnet / resnet*d / seresne(x)t*: a deep stem is ``conv1.{0,1,3,4,6}`` + ``bn1`` (mmcls:
    ``stem.{0,1,2}``); SE layers are ``se.fc1/fc2`` (mmcls: ``se_layer.conv1.conv/conv2.conv``)."""
    deep = {'conv1.0.': 'stem.0.conv.', 'conv1.1.': 'stem.0.bn.', 'conv1.3.': 'stem.1.conv.',
            'conv1.4.': 'stem.1.bn.', 'conv1.6.': 'stem.2.conv.', 'bn1.': 'stem.2.bn.'}
    is_deep = 'conv1.0.weight' in sd
    shift_layer1 = 'layer1.0.downsample.2.weight' in sd
    out = {}
    for key, value in sd.items():
        if is_deep:
            for old, new in deep.items():
                if key.startswith(old):
                    key = new + key[len(old):]
                    break
        for old, new in _TIMM_SE.items():
            key = key.replace(old, new)
        if shift_layer1 and key.startswith('layer1.0.downsample.'):
            # timm keeps an Identity in place of the pool of stride-1 avg-down shortcuts; mmcls has none
            index, rest = key[len('layer1.0.downsample.'):].split('.', 1)
            key = f'layer1.0.downsample.{int(index) - 1}.{rest}'
        out[key] = value
    return _classifier_keys(out)
