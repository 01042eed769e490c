"""BaseClassifier: the forward / train_step / val_step / test_step protocol every classifier follows."""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn

from ...errors import DataError
from ..data_preprocessor import build_data_preprocessor


class BaseClassifier(nn.Module, metaclass=ABCMeta):
    """Base class of classifiers.

    Subclasses implement ``extract_feat``, ``forward_train`` and ``simple_test``;
    all three take float, already-normalised tensors. ``train_step`` / ``val_step`` /
    ``test_step`` take the loader's batch dict and run ``self.data_preprocessor`` first.

    What the APIs record on a built classifier, declared here with their defaults:

    * ``CLASSES``: the class names, from the checkpoint or the config's test dataset
      (``init_model``, ``load_trained_model``); None when unknown.
    * ``cfg``: the prepared config the model was built from (``init_model``); None for a model built directly.
    * ``speed_settings``: the :class:`imgcls.engine.SpeedSettings` (autocast, channels_last) the model was
      prepared with for inference (``init_model``), which ``inference_model`` runs it with; None: plain fp32.
    * ``fused_conv_bn``: how many BatchNorms :func:`imgcls.models.fuse.fuse_conv_bn` folded into their
      convolutions (0: none, the model can still be trained).
    """

    CLASSES: list[str] | None = None
    cfg = None
    speed_settings = None  # an imgcls.engine.SpeedSettings; engine is a layer above models, so not imported
    fused_conv_bn: int = 0

    def __init__(self, init_cfg: Mapping | list | None = None,
                 data_preprocessor: Mapping | nn.Module | None = None):
        super().__init__()
        self.init_cfg = init_cfg
        self.data_preprocessor = build_data_preprocessor(data_preprocessor)

    @property
    def with_neck(self) -> bool:
        return getattr(self, 'neck', None) is not None

    @property
    def with_head(self) -> bool:
        return getattr(self, 'head', None) is not None

    @abstractmethod
    def extract_feat(self, imgs, stage=None):
        """Return the features of a batch at ``stage``."""

    def extract_feats(self, imgs, stage=None):
        """Yield ``extract_feat`` of each batch in a list of batches."""
        if not isinstance(imgs, Sequence):
            raise TypeError(f'extract_feats expects a list of image batches, got {type(imgs).__name__}')
        kwargs = {} if stage is None else {'stage': stage}
        for img in imgs:
            yield self.extract_feat(img, **kwargs)

    @abstractmethod
    def forward_train(self, imgs, **kwargs) -> dict:
        """Return a dict of losses for a batch of normalised images."""

    @abstractmethod
    def simple_test(self, img, **kwargs):
        """Return the predictions for a batch of normalised images."""

    def forward_test(self, imgs, **kwargs):
        """Test a batch given as a tensor or a one-element list (no test-time augmentation)."""
        if isinstance(imgs, torch.Tensor):
            imgs = [imgs]
        if not isinstance(imgs, list):
            raise TypeError(f'imgs must be a tensor or a list of tensors, got {type(imgs).__name__}')
        if len(imgs) != 1:
            raise NotImplementedError(f'test-time augmentation (aug_test) is not implemented: '
                                      f'got {len(imgs)} augmented batches, expected 1')
        return self.simple_test(imgs[0], **kwargs)

    def forward(self, img, return_loss: bool = True, **kwargs):
        """``forward_train(img, **kwargs)`` if ``return_loss`` else ``forward_test(img, **kwargs)``."""
        if return_loss:
            return self.forward_train(img, **kwargs)
        return self.forward_test(img, **kwargs)

    @staticmethod
    def _parse_losses(losses: Mapping) -> tuple[torch.Tensor, OrderedDict]:
        """Sum every entry whose name contains 'loss'; return ``(loss, log_vars)``.

        ``log_vars`` maps names to detached scalar tensors (nested dicts become
        ``'accuracy.top-1'``); it never calls ``.item()``, so no host sync happens here.
        """
        log_vars = OrderedDict()
        for name, value in losses.items():
            if isinstance(value, torch.Tensor):
                log_vars[name] = value.mean()
            elif isinstance(value, (list, tuple)) and all(isinstance(v, torch.Tensor) for v in value):
                log_vars[name] = sum(v.mean() for v in value)
            elif isinstance(value, Mapping):
                for sub_name, sub_value in value.items():
                    log_vars[f'{name}.{sub_name}'] = torch.as_tensor(sub_value).float().mean()
            else:
                raise TypeError(f'the losses dict entry {name!r} must be a tensor, a list of tensors '
                                f'or a dict, got {type(value).__name__}')
        loss_terms = [v for k, v in log_vars.items() if 'loss' in k]
        if not loss_terms:
            raise KeyError(f'the losses dict has no entry whose name contains "loss": {list(losses)}')
        loss = sum(loss_terms)
        log_vars['loss'] = loss
        for name in log_vars:
            log_vars[name] = log_vars[name].detach()
        return loss, log_vars

    def _preprocess(self, data: Mapping, training: bool):
        if not isinstance(data, Mapping) or 'img' not in data:
            keys = list(data) if isinstance(data, Mapping) else type(data).__name__
            raise DataError(f'a batch must be a dict with an "img" key, got {keys}')
        img, gt_label = self.data_preprocessor(data['img'], data.get('gt_label'), training=training)
        rest = {k: v for k, v in data.items() if k not in ('img', 'gt_label')}
        return img, gt_label, rest

    def _step(self, data: Mapping, training: bool) -> dict:
        img, gt_label, rest = self._preprocess(data, training)
        if gt_label is None:
            raise DataError('train_step/val_step need labels: the batch dict has no "gt_label" key')
        losses = self(img, gt_label=gt_label, **rest)
        loss, log_vars = self._parse_losses(losses)
        return dict(loss=loss, log_vars=log_vars, num_samples=len(img))

    def train_step(self, data: Mapping, optimizer=None, **kwargs) -> dict:
        """Preprocess a batch and compute its losses: ``dict(loss, log_vars, num_samples)``.

        The optimizer step is left to the caller (the engine).
        """
        return self._step(data, training=True)

    def val_step(self, data: Mapping, optimizer=None, **kwargs) -> dict:
        """Like ``train_step`` without batch augments, under the current grad mode."""
        return self._step(data, training=False)

    def test_step(self, data: Mapping) -> torch.Tensor:
        """Return the softmaxed class scores (N, C) of a batch, on the model's device."""
        img, _, _ = self._preprocess(data, training=False)
        scores = self.simple_test(img, softmax=True, post_process=False)
        if isinstance(scores, list):  # a head that ignores post_process
            scores = torch.as_tensor(np.stack(scores), device=img.device)
        return scores
