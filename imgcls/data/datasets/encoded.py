"""What the datasets of encoded images (WebDataset shards, Hugging Face tables) share: turning a
sample's bytes into the results dict that LoadImageFromFile makes for a file, so the pipelines of
folder datasets apply unchanged.

A pipeline written for a folder dataset starts with ``LoadImageFromFile``; these datasets decode
the image themselves, so that first step is taken out of the pipeline and its ``color_type`` and
``to_float32`` are honoured by the decoding here. Configs can then swap ``type='ImageNet'`` for a
streaming type and keep their pipelines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ..pipelines.loading import LoadImageFromFile, decode_image_bytes

__all__ = ['split_loading_step', 'decoded_results']


def split_loading_step(pipeline: Sequence | None) -> tuple[dict, list]:
    """``(decode options, the other steps)``: a leading LoadImageFromFile (a config dict or an instance)
    becomes the options ``color_type`` and ``to_float32``."""
    steps = list(pipeline or ())
    options = {'color_type': 'color', 'to_float32': False}
    if steps:
        first = steps[0]
        if isinstance(first, Mapping) and first.get('type') in ('LoadImageFromFile', LoadImageFromFile):
            step = LoadImageFromFile(**{k: v for k, v in first.items() if k != 'type'})  # checks the options
        elif isinstance(first, LoadImageFromFile):
            step = first
        else:
            return options, steps
        options = {'color_type': step.color_type, 'to_float32': step.to_float32}
        steps = steps[1:]
    return options, steps


def decoded_results(data: bytes | bytearray | memoryview | np.ndarray, label, filename: str,
                    color_type: str = 'color', to_float32: bool = False) -> dict:
    """The results dict of one encoded image, as LoadImageFromFile gives for a file: ``img`` a
    ``(C, H, W)`` uint8 RGB tensor (float32 with ``to_float32``), shapes, file names and ``gt_label``.

    An unreadable image raises ImageReadError naming ``filename``."""
    buf = torch.frombuffer(bytearray(data), dtype=torch.uint8) if len(data) else torch.empty(0, dtype=torch.uint8)
    img = decode_image_bytes(buf, color_type, filename)
    if to_float32:
        img = img.float()
    shape = (img.shape[1], img.shape[2], img.shape[0])
    results = {'img': img, 'img_shape': shape, 'ori_shape': shape, 'filename': filename,
               'ori_filename': filename, 'img_info': {'filename': filename},
               'mmcls_channel_order': 'bgr'}  # as LoadImageFromFile: Normalize's to_rgb reads against it
    if label is not None:
        results['gt_label'] = np.int64(label) if np.ndim(label) == 0 else np.asarray(label, dtype=np.int64)
    return results
