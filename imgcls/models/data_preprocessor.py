"""ClsDataPreprocessor: moves a batch to the model's device, makes it float and normalises it there."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn as nn

from ..errors import ConfigError, DataError


def _as_channel_vector(values, name: str, key: str = 'data_preprocessor') -> torch.Tensor:
    """Turn a list of per-channel values into a (C, 1, 1) float tensor."""
    if isinstance(values, (int, float)):
        values = [values]
    if not isinstance(values, (Sequence, torch.Tensor)) or len(values) == 0:
        raise ConfigError(f'{key}.{name} must be a list of per-channel values '
                          f'such as [123.675, 116.28, 103.53], got {values!r}')
    return torch.as_tensor([float(v) for v in values], dtype=torch.float32).view(-1, 1, 1)


class _Normalization(nn.Module):
    """One split's normalization: per-channel mean/std (None: raw 0..255) and the channel order the model sees."""

    def __init__(self, mean: Sequence[float] | None, std: Sequence[float] | None, to_rgb: bool, key: str):
        super().__init__()
        if (mean is None) != (std is None):
            raise ConfigError(f'{key} needs mean and std together, got mean={mean!r}, std={std!r}')
        self.normalize = mean is not None
        if self.normalize:
            mean_t, std_t = _as_channel_vector(mean, 'mean', key), _as_channel_vector(std, 'std', key)
            if len(mean_t) != len(std_t):
                raise ConfigError(f'{key}.mean has {len(mean_t)} values but std has {len(std_t)}')
            if bool((std_t == 0).any()):
                raise ConfigError(f'{key}.std must not contain 0, got {std!r}')
            # non-persistent: the state_dict keeps the mmcls key names (no data_preprocessor.*)
            self.register_buffer('mean', mean_t, persistent=False)
            self.register_buffer('std', std_t, persistent=False)
        else:
            self.mean = self.std = None
        self.to_rgb, self.key = bool(to_rgb), key

    def _match_channels(self, img: torch.Tensor) -> torch.Tensor:
        """Expand grayscale batches for RGB-normalised models; reject other channel mismatches."""
        want, have = len(self.mean), img.size(1)
        if want == 1 or want == have:
            return img
        if have == 1:
            return img.expand(-1, want, -1, -1)
        raise DataError(f'the images have {have} channels but {self.key}.mean/std have {want} values: '
                        f'give {have} values to mean and std in the model config, or convert the images '
                        f'to {want} channels in the data pipeline.')

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """A uint8 (N, C, H, W) batch → float32, channels reversed for BGR models, normalized."""
        if self.normalize:
            img = self._match_channels(img)
        if not self.to_rgb and img.size(1) == 3:
            img = img.flip(1)  # imgcls loads RGB; this model was trained on BGR
        img = img.float()
        if self.normalize:
            img = img.sub_(self.mean).div_(self.std)  # in place: img is a fresh float copy
        return img


class ClsDataPreprocessor(nn.Module):
    """Prepares a uint8 image batch for the model on the model's own device.

    Args:
        mean: per-channel means on the 0-255 scale, in the channel order the model
            expects; None skips normalisation.
        std: per-channel standard deviations, given together with ``mean``.
        to_rgb: the model expects RGB, as imgcls loads images. False means the
            model expects BGR (mmcls ``to_rgb=False`` configs), so 3-channel uint8
            batches are flipped.
        channels_last: return the batch in ``torch.channels_last`` memory format.
        batch_augments: a callable ``(img, gt_label) -> (img, gt_label)`` such as
            Mixup, applied only in training.
        eval_norm: ``dict(mean, std, to_rgb)`` for batches seen with ``training=False``
            (validation, test, inference) when an mmcls config normalizes its test pipeline
            differently from its training one; None: the same as training.
    """

    def __init__(self, mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 to_rgb: bool = True, channels_last: bool = False,
                 batch_augments: Callable | None = None, eval_norm: Mapping | None = None):
        super().__init__()
        self.train_norm = _Normalization(mean, std, to_rgb, 'data_preprocessor')
        self.eval_norm = None
        if eval_norm is not None:
            if not isinstance(eval_norm, Mapping) or set(eval_norm) - {'mean', 'std', 'to_rgb'}:
                raise ConfigError('data_preprocessor.eval_norm must be a dict with keys mean, std, to_rgb, '
                                  f'got {eval_norm!r}')
            self.eval_norm = _Normalization(eval_norm.get('mean'), eval_norm.get('std'),
                                            eval_norm.get('to_rgb', True), 'data_preprocessor.eval_norm')
        # an empty buffer that follows .to()/.cuda(), so the device is known even without mean/std
        self.register_buffer('_device_probe', torch.empty(0), persistent=False)
        if batch_augments is not None and not callable(batch_augments):
            raise ConfigError(f'data_preprocessor.batch_augments must be a callable (img, gt_label) -> '
                              f'(img, gt_label) or None, got {batch_augments!r}')
        self.channels_last = channels_last
        self.batch_augments = batch_augments

    # the training split's settings, as attributes (as before there was one per split)
    normalize = property(lambda self: self.train_norm.normalize)
    mean = property(lambda self: self.train_norm.mean)
    std = property(lambda self: self.train_norm.std)
    to_rgb = property(lambda self: self.train_norm.to_rgb)

    @property
    def device(self) -> torch.device:
        return self._device_probe.device

    def forward(self, img: torch.Tensor, gt_label: torch.Tensor | None = None, training: bool = False,
                normalization: str | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return ``(img, gt_label)`` on the model's device; uint8 images become normalised float32.

        ``normalization``: 'train' or 'eval' picks that split's normalization whatever ``training``
        says (e.g. 'train' to recompute BatchNorm statistics on training images in eval mode);
        None: the training one when ``training``, else the evaluation one.
        """
        if normalization not in (None, 'train', 'eval'):
            raise ConfigError("data_preprocessor: normalization must be None, 'train' or 'eval', "
                              f'got {normalization!r}')
        if not isinstance(img, torch.Tensor):
            raise DataError(f'the image batch must be a torch.Tensor (N, C, H, W), got {type(img).__name__}')
        device = self.device
        img = img.to(device, non_blocking=True)
        if gt_label is not None:
            gt_label = torch.as_tensor(gt_label).to(device, non_blocking=True)
        if img.dtype == torch.uint8:
            if img.dim() != 4:
                raise DataError(f'a uint8 image batch must be (N, C, H, W), got shape {tuple(img.shape)}')
            use_eval = normalization == 'eval' or (normalization is None and not training)
            norm = self.eval_norm if use_eval and self.eval_norm is not None else self.train_norm
            img = norm(img)
        if training and self.batch_augments is not None:
            img, gt_label = self.batch_augments(img, gt_label)
        if self.channels_last and img.dim() == 4:
            img = img.contiguous(memory_format=torch.channels_last)
        return img, gt_label


def build_data_preprocessor(cfg: Mapping | nn.Module | None) -> nn.Module:
    """Build a ClsDataPreprocessor from a dict of its arguments; a module passes through."""
    if cfg is None:
        return ClsDataPreprocessor()
    if isinstance(cfg, nn.Module):
        return cfg
    if not isinstance(cfg, Mapping):
        raise ConfigError(f'model.data_preprocessor must be a dict or None, '
                          f'got {type(cfg).__name__}: {cfg!r}')
    args = dict(cfg)
    kind = args.pop('type', 'ClsDataPreprocessor')
    if kind not in ('ClsDataPreprocessor', 'mmcls.ClsDataPreprocessor', 'mmpretrain.ClsDataPreprocessor'):
        raise ConfigError(f'model.data_preprocessor.type={kind!r} is not supported; '
                          f"use 'ClsDataPreprocessor'")
    valid = [p for p in inspect.signature(ClsDataPreprocessor).parameters]
    unknown = sorted(set(args) - set(valid))
    if unknown:
        raise ConfigError(f'model.data_preprocessor has unknown key(s) {", ".join(unknown)}; '
                          f'valid keys: {", ".join(valid)}')
    return ClsDataPreprocessor(**args)
