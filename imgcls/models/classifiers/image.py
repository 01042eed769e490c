"""ImageClassifier: backbone → (neck) → head, built from config dicts."""

from __future__ import annotations

import inspect
from collections.abc import Mapping

import torch
import torch.nn as nn

from ...errors import ConfigError
from ..builder import CLASSIFIERS, build_backbone, build_head, build_neck
from ..layers import initialize, load_pretrained
from ..utils.augment import Augments
from .base import BaseClassifier

_STAGES = ('backbone', 'neck', 'pre_logits')


def _build_train_augments(train_cfg: Mapping | None):
    """Build the mmcls 0.x ``train_cfg=dict(augments=...)`` batch augments (Mixup/CutMix), or None."""
    if train_cfg is None:
        return None
    if not isinstance(train_cfg, Mapping):
        raise ConfigError(f'model.train_cfg must be a dict or None, got {train_cfg!r}')
    unknown = sorted(set(train_cfg) - {'augments'})
    if unknown:
        raise ConfigError(f'model.train_cfg has unknown key(s) {", ".join(unknown)}; '
                          f'the only key is "augments"')
    augments_cfg = train_cfg.get('augments')
    if augments_cfg is None:
        return None
    return Augments(augments_cfg)


def _is_pretrained(init_cfg) -> bool:
    return isinstance(init_cfg, Mapping) and init_cfg.get('type') == 'Pretrained'


@CLASSIFIERS.register_module()
class ImageClassifier(BaseClassifier):
    """A classifier made of a backbone, an optional neck and a head.

    Args:
        backbone / neck / head: config dicts of the parts.
        pretrained: path of a checkpoint loaded into the backbone by ``init_weights``.
        train_cfg: ``dict(augments=...)`` batch augments (mmcls 0.x), run in training.
        init_cfg: init dicts applied to the whole model by ``init_weights``, e.g.
            ``dict(type='Pretrained', checkpoint='model.pth')``.
        data_preprocessor: ClsDataPreprocessor arguments (``mean``, ``std``, ``to_rgb``,
            ``channels_last``, ``batch_augments``); None only moves batches to the device.
    """

    def __init__(self, backbone: Mapping, neck: Mapping | None = None, head: Mapping | None = None,
                 pretrained: str | None = None, train_cfg: Mapping | None = None,
                 init_cfg: Mapping | list | None = None,
                 data_preprocessor: Mapping | nn.Module | None = None):
        super().__init__(init_cfg=init_cfg, data_preprocessor=data_preprocessor)
        self.pretrained = pretrained
        self.train_cfg = train_cfg
        self.backbone = build_backbone(backbone)
        if neck is not None:
            self.neck = build_neck(neck)
        if head is not None:
            self.head = build_head(head)
        augments = _build_train_augments(train_cfg)
        if augments is not None:
            if getattr(self.data_preprocessor, 'batch_augments', None) is not None:
                raise ConfigError('batch augments are set twice: in model.train_cfg.augments and in '
                                  'model.data_preprocessor.batch_augments; keep one.')
            self.data_preprocessor.batch_augments = augments

    def init_weights(self) -> None:
        """Initialise the parts, as mmcls 0.x does.

        ``pretrained`` is loaded into the backbone; an ``init_cfg`` of type 'Pretrained' loads a
        whole-classifier checkpoint instead of initialising the parts.
        """
        if self.init_cfg is not None:
            initialize(self, self.init_cfg)
            if _is_pretrained(self.init_cfg):
                return
        if self.pretrained is not None:
            init = getattr(self.backbone, 'init_weights', None)
            if init is not None and 'pretrained' in inspect.signature(init).parameters:
                init(pretrained=self.pretrained)
            else:
                load_pretrained(self.backbone, self.pretrained)
        elif hasattr(self.backbone, 'init_weights'):
            self.backbone.init_weights()
        for part in ('neck', 'head'):
            module = getattr(self, part, None)
            if module is not None and hasattr(module, 'init_weights'):
                module.init_weights()

    def extract_feat(self, img: torch.Tensor, stage: str = 'neck'):
        """Features of ``img`` after the backbone, the neck (default) or the head's ``pre_logits``."""
        if stage not in _STAGES:
            raise ValueError(f'stage={stage!r} is not valid; choose one of {", ".join(_STAGES)}')
        x = self.backbone(img)
        if stage == 'backbone':
            return x
        if self.with_neck:
            x = self.neck(x)
        if stage == 'neck':
            return x
        if self.with_head and hasattr(self.head, 'pre_logits'):
            x = self.head.pre_logits(x)
        return x

    def forward_train(self, img: torch.Tensor, gt_label: torch.Tensor, **kwargs) -> dict:
        """Return the head's losses dict for normalised images ``img`` and labels ``gt_label``."""
        x = self.extract_feat(img)
        return dict(self.head.forward_train(x, gt_label))

    def simple_test(self, img: torch.Tensor, img_metas=None, **kwargs):
        """Return the head's predictions; ``kwargs`` (softmax, post_process) go to the head."""
        x = self.extract_feat(img)
        return self.head.simple_test(x, **kwargs)
