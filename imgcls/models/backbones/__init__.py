"""Backbones: networks that turn images into a tuple of feature maps."""

from .base_backbone import BaseBackbone
from .resnet import BasicBlock, Bottleneck, ResLayer, ResNet, ResNetV1c, ResNetV1d
from .resnet_cifar import ResNet_CIFAR

__all__ = ['BaseBackbone', 'BasicBlock', 'Bottleneck', 'ResLayer', 'ResNet', 'ResNetV1c', 'ResNetV1d',
           'ResNet_CIFAR']
