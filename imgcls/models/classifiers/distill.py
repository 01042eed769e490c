"""DistilledImageClassifier: an ImageClassifier trained against a frozen teacher's logits (DeiT's recipe)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping

import torch
import torch.nn as nn

from ...config import Config
from ...errors import ConfigError
from ..builder import CLASSIFIERS, build_classifier
from ..layers import read_state_dict
from .image import ImageClassifier

__all__ = ['DistilledImageClassifier']


def _build_teacher(teacher: Mapping) -> nn.Module:
    """The frozen, eval-mode teacher of ``dict(config=path or model=dict(...), checkpoint=path)``."""
    if not isinstance(teacher, Mapping) or ('config' in teacher) == ('model' in teacher):
        raise ConfigError("model.teacher must be dict(config='teacher_config.py', checkpoint='teacher.pth') "
                          f"or dict(model=dict(type='ImageClassifier', ...), checkpoint=...), got {teacher!r}")
    unknown = sorted(set(teacher) - {'config', 'model', 'checkpoint'})
    if unknown:
        raise ConfigError(f'model.teacher has unknown key(s) {", ".join(unknown)}; '
                          'the keys are config (or model) and checkpoint')
    if 'config' in teacher:
        model_cfg = Config.fromfile(teacher['config']).model.to_dict()
    else:
        model_cfg = dict(teacher['model'])
    model_cfg.pop('train_cfg', None)  # the teacher only predicts
    model = build_classifier(model_cfg, path='model.teacher')
    if teacher.get('checkpoint') is not None:
        model.load_state_dict(read_state_dict(teacher['checkpoint']), strict=True)
    for param in model.parameters():
        param.requires_grad = False
    return model.eval()


@CLASSIFIERS.register_module()
class DistilledImageClassifier(ImageClassifier):
    """An ImageClassifier whose head also learns from a teacher's logits of the same (augmented) images.

    Args:
        teacher: ``dict(config='teacher.py', checkpoint='teacher.pth')`` (or ``model=dict(...)`` in place of
            ``config``). The teacher stays frozen and in eval mode; it is not part of this model's state
            dict, so checkpoints of the student load into a plain ImageClassifier as they are.
        Other arguments: those of ImageClassifier. The head's ``forward_train`` must take
        ``teacher_logits`` (DeiTClsHead does).
    """

    def __init__(self, *args, teacher: Mapping, **kwargs):
        super().__init__(*args, **kwargs)
        params = inspect.signature(self.head.forward_train).parameters
        if 'teacher_logits' not in params:
            raise ConfigError(f'DistilledImageClassifier: the head {type(self.head).__name__} does not learn from '
                              'a teacher; use a head that takes teacher_logits, such as DeiTClsHead')
        # kept out of the module tree: no teacher keys in checkpoints, no teacher parameters in the optimizer
        self.__dict__['teacher'] = _build_teacher(teacher)

    def _apply(self, fn, *args, **kwargs):
        """``.to()``, ``.cuda()``, ``.half()``... move the teacher with the student."""
        self.__dict__['teacher']._apply(fn, *args, **kwargs)
        return super()._apply(fn, *args, **kwargs)

    def train(self, mode: bool = True):
        """Train the student; the teacher stays in eval mode."""
        super().train(mode)
        self.__dict__['teacher'].eval()
        return self

    @torch.no_grad()
    def teacher_logits(self, img: torch.Tensor) -> torch.Tensor:
        """The teacher's raw class scores of ``img`` (N, classes)."""
        teacher = self.__dict__['teacher']
        return teacher.simple_test(img, softmax=False, post_process=False)

    def forward_train(self, img: torch.Tensor, gt_label: torch.Tensor, **kwargs) -> dict:
        """The head's losses against ``gt_label`` and the teacher's logits of ``img``."""
        x = self.extract_feat(img)
        return dict(self.head.forward_train(x, gt_label, teacher_logits=self.teacher_logits(img)))
