"""Losses (registered in LOSSES) and the helpers to write new ones."""

from .accuracy import Accuracy, accuracy
from .cross_entropy_loss import CrossEntropyLoss, binary_cross_entropy, cross_entropy, soft_cross_entropy
from .l1_loss import L1Loss, l1_loss
from .utils import convert_to_one_hot, reduce_loss, weight_reduce_loss, weighted_loss

__all__ = [
    'Accuracy', 'accuracy', 'CrossEntropyLoss', 'cross_entropy', 'soft_cross_entropy', 'binary_cross_entropy',
    'L1Loss', 'l1_loss', 'convert_to_one_hot', 'reduce_loss', 'weight_reduce_loss', 'weighted_loss',
]

# modules added to this folder later register themselves too
from ...discover import import_all_submodules  # noqa: E402

__all__ += import_all_submodules(__name__, globals())
