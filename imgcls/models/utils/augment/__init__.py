"""Batch augments (Mixup, CutMix, ResizeMix) run on the device on whole float batches, as mmcls 0.x's
``model.train_cfg=dict(augments=...)``."""

from .augments import Augments
from .builder import AUGMENT, build_augment
from .cutmix import BatchCutMixLayer
from .identity import Identity
from .mixup import BaseMixupLayer, BatchMixupLayer
from .resizemix import BatchResizeMixLayer

__all__ = ['AUGMENT', 'Augments', 'BaseMixupLayer', 'BatchCutMixLayer', 'BatchMixupLayer', 'BatchResizeMixLayer',
           'Identity', 'build_augment']
