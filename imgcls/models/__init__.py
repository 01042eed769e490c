"""Models: registries and the parts (layers, backbones, necks, heads, losses, classifiers) they build."""

# isort: off
# imported in dependency order, so each subpackage's classes are registered before the next needs them
from . import builder
from . import layers
from . import backbones
from . import necks
from . import heads
from . import losses
from . import classifiers
# isort: on
from .backbones import *  # noqa: F401,F403
from .builder import (
    BACKBONES,
    CLASSIFIERS,
    HEADS,
    LOSSES,
    MODELS,
    NECKS,
    build_backbone,
    build_classifier,
    build_head,
    build_loss,
    build_neck,
)
from .necks import *  # noqa: F401,F403

__all__ = [
    'BACKBONES', 'CLASSIFIERS', 'HEADS', 'LOSSES', 'MODELS', 'NECKS', 'backbones', 'build_backbone',
    'build_classifier', 'build_head', 'build_loss', 'build_neck', 'builder', 'classifiers', 'heads', 'layers',
    'losses', 'necks',
]
