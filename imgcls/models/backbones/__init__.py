"""Backbones: networks that turn images into a tuple of feature maps."""

from .base_backbone import BaseBackbone
from .resnet import BasicBlock, Bottleneck, ResLayer, ResNet, ResNetV1c, ResNetV1d
from .resnet_cifar import ResNet_CIFAR

__all__ = ['BaseBackbone', 'BasicBlock', 'Bottleneck', 'ResLayer', 'ResNet', 'ResNetV1c', 'ResNetV1d',
           'ResNet_CIFAR']

# modules added to this folder later register themselves too
from ...discover import import_all_submodules  # noqa: E402

__all__ += import_all_submodules(__name__, globals())
