"""Data: datasets, pipelines, batching and loaders.

Images travel as ``(C, H, W)`` uint8 RGB tensors from loading to the batch; conversion to
float and normalization happen on the device, in the model's data preprocessor.
"""

from . import datasets, pipelines  # noqa: F401  (registers the datasets and pipeline steps)
from .builder import DATASETS, PIPELINES, build_dataloader, build_dataset, worker_init_fn
from .collate import collate
from .datasets import BaseDataset, ConcatDataset, CustomDataset, Digits, RepeatDataset
from .pipelines import Compose
from .utils import move_normalize_to_model

__all__ = [
    'DATASETS', 'PIPELINES', 'build_dataset', 'build_dataloader', 'worker_init_fn', 'collate', 'Compose',
    'move_normalize_to_model', 'BaseDataset', 'CustomDataset', 'Digits', 'RepeatDataset', 'ConcatDataset',
]
