"""ImageNet (ILSVRC-2012) from its folder layout or mmcls-style annotation files."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from ...errors import ConfigError, DataError
from ..registries import DATASETS
from .custom import IMG_EXTENSIONS, CustomDataset

__all__ = ['ImageNet', 'ImageNet21k']


@DATASETS.register_module()
class ImageNet(CustomDataset):
    """ImageNet in the layout mmcls 0.x reads (imgcls never downloads it: get it from image-net.org).

    Either a folder with one sub-folder per class, ``data_prefix/<wnid>/<image>.JPEG`` (e.g.
    ``data/imagenet/train/n01440764/n01440764_10026.JPEG``), or ``ann_file`` with one line per
    image, ``<path relative to data_prefix> <label>`` (``meta/val.txt``:
    ``ILSVRC2012_val_00000001.JPEG 65``).

    Class names: imgcls ships no list of the 1,000 ImageNet names. In the folder layout they are
    the sorted folder names (the WordNet ids, which is also the standard label order 0..999).
    With ``ann_file`` they are '0', '1', ... up to the largest label. To show readable names,
    pass ``classes``: a list, or a text file with one name per line in label order (e.g.
    ``data/imagenet/meta/classes.txt``); sorted folders then map to those names in order.
    """

    def __init__(self, data_prefix: str | None, pipeline: Sequence = (), classes=None,
                 ann_file: str | None = None, test_mode: bool = False, file_client_args: Mapping | None = None,
                 extensions: Sequence[str] = IMG_EXTENSIONS, skip_bad_images: bool = False):
        _check_present(data_prefix, ann_file)
        super().__init__(data_prefix, pipeline, classes=classes, ann_file=ann_file, extensions=extensions,
                         test_mode=test_mode, file_client_args=file_client_args, skip_bad_images=skip_bad_images)


def _check_present(data_prefix: str | None, ann_file: str | None) -> None:
    """Say exactly what to put where when the dataset is not on disk."""
    prefix = os.path.expanduser(data_prefix) if data_prefix else data_prefix
    if ann_file and not os.path.isfile(os.path.expanduser(ann_file)):
        raise DataError(
            f'ImageNet: ann_file {ann_file!r} does not exist. Put a text file there with one line per image, '
            f'"<path relative to data_prefix> <label>" (e.g. "ILSVRC2012_val_00000001.JPEG 65" for '
            f'{data_prefix or "the image folder"}/ILSVRC2012_val_00000001.JPEG), or remove ann_file to use the '
            'folder layout <data_prefix>/<wnid>/<image>.JPEG. imgcls does not download ImageNet.')
    if not prefix or not os.path.isdir(prefix):
        layout = ('the images named in ann_file' if ann_file else
                  'one sub-folder per class named by its WordNet id, e.g. '
                  f'{data_prefix or "data/imagenet/train"}/n01440764/n01440764_10026.JPEG')
        raise DataError(
            f'ImageNet: data_prefix {data_prefix!r} is not a folder. Put the ILSVRC-2012 images there '
            f'({layout}); for the validation set, the 50,000 images in one folder plus ann_file='
            '"data/imagenet/meta/val.txt". imgcls does not download ImageNet (get it from image-net.org).')


@DATASETS.register_module()
class ImageNet21k(CustomDataset):
    """ImageNet-21k in the layouts of :class:`ImageNet` (class sub-folders, searched recursively, or
    ``ann_file``), with the arguments of mmcls 0.x's ImageNet21k.

    ``serialize_data``: mmcls packs the sample infos into one byte buffer so that loader workers
    share them; imgcls stores annotation-file samples packed in any case (paths as one blob, labels
    as one array), so True and False read the same. ``recursion_subdir=False`` and
    ``multi_label=True`` are refused, as mmcls refuses them. Class names: ``classes``, else the
    sorted folder names (folder layout) or '0', '1', ... (``ann_file``).
    """

    def __init__(self, data_prefix: str | None, pipeline: Sequence = (), classes=None,
                 ann_file: str | None = None, serialize_data: bool = True, multi_label: bool = False,
                 recursion_subdir: bool = True, test_mode: bool = False, file_client_args: Mapping | None = None,
                 extensions: Sequence[str] = IMG_EXTENSIONS, skip_bad_images: bool = False):
        if not recursion_subdir:
            raise ConfigError('ImageNet21k: recursion_subdir=False is not supported (mmcls 0.25 dropped it too): '
                              'images are found in all sub-folders; remove the key or set it to True')
        if multi_label:
            raise ConfigError('ImageNet21k: multi_label=True is not supported (nor by mmcls); for multi-label '
                              'data use MultiLabelDataset with an annotation file')
        if not isinstance(serialize_data, bool):
            raise ConfigError(f'ImageNet21k: serialize_data must be True or False, got {serialize_data!r}')
        self.serialize_data, self.multi_label = serialize_data, multi_label
        super().__init__(data_prefix, pipeline, classes=classes, ann_file=ann_file, extensions=extensions,
                         test_mode=test_mode, file_client_args=file_client_args, skip_bad_images=skip_bad_images)
