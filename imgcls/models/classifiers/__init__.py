"""Classifiers (registered in CLASSIFIERS)."""

from .base import BaseClassifier
from .image import ImageClassifier

__all__ = ['BaseClassifier', 'ImageClassifier']

# modules added to this folder later register themselves too
from ...discover import import_all_submodules  # noqa: E402

__all__ += import_all_submodules(__name__, globals())
