"""Data: datasets, pipelines, batching and loaders.

Images travel as ``(C, H, W)`` uint8 RGB tensors from loading to the batch; conversion to
float and normalization happen on the device, in the model's data preprocessor. Each sample's
augmentation is seeded from (seed, epoch, index) by the loader (see :func:`build_dataloader`).
"""

from . import datasets, pipelines  # noqa: F401  (registers the datasets and pipeline steps)
from .builder import DATASETS, PIPELINES, build_dataset
from .collate import collate
from .datasets import (
    CIFAR10,
    CIFAR100,
    MNIST,
    BaseDataset,
    ClassBalancedDataset,
    ConcatDataset,
    CustomDataset,
    Digits,
    FashionMNIST,
    ImageNet,
    KFoldDataset,
    MultiLabelDataset,
    RepeatDataset,
)
from .loader import ImgclsDataLoader, SeededDataset, build_dataloader, cpu_count, worker_init_fn
from .pipelines import Compose
from .samplers import SeededSampler
from .utils import move_normalize_to_model

__all__ = [
    'DATASETS', 'PIPELINES', 'build_dataset', 'build_dataloader', 'worker_init_fn', 'cpu_count', 'collate', 'Compose',
    'move_normalize_to_model', 'BaseDataset', 'CustomDataset', 'Digits', 'RepeatDataset', 'ConcatDataset',
    'ClassBalancedDataset', 'KFoldDataset', 'ImageNet', 'CIFAR10', 'CIFAR100', 'MNIST', 'FashionMNIST',
    'MultiLabelDataset', 'SeededSampler', 'SeededDataset', 'ImgclsDataLoader',
]
