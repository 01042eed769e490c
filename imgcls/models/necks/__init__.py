"""Necks: turn backbone feature maps into the vectors heads classify."""

from .gap import GlobalAveragePooling

__all__ = ['GlobalAveragePooling']
