"""Datasets (registered in DATASETS)."""

from .base_dataset import BaseDataset
from .custom import CustomDataset
from .dataset_wrappers import ConcatDataset, RepeatDataset
from .digits import Digits

__all__ = ['BaseDataset', 'CustomDataset', 'Digits', 'RepeatDataset', 'ConcatDataset']

# modules added to this folder later register themselves too
from ...discover import import_all_submodules  # noqa: E402

__all__ += import_all_submodules(__name__, globals())
