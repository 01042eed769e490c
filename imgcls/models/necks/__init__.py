"""Necks: turn backbone feature maps into the vectors heads classify."""

from .gap import GlobalAveragePooling

__all__ = ['GlobalAveragePooling']

# modules added to this folder later register themselves too
from ...discover import import_all_submodules  # noqa: E402

__all__ += import_all_submodules(__name__, globals())
