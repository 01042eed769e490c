"""Classifiers (registered in CLASSIFIERS)."""

from .base import BaseClassifier
from .image import ImageClassifier

__all__ = ['BaseClassifier', 'ImageClassifier']
