"""Pascal VOC 2007 as a multi-label classification dataset, read from its devkit as mmcls 0.x reads it."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence

import numpy as np

from ...errors import ConfigError, DataError
from ..registries import DATASETS
from .multi_label import MultiLabelDataset

__all__ = ['VOC']


@DATASETS.register_module()
class VOC(MultiLabelDataset):
    """Pascal VOC 2007: the 20 object classes of each image, from ``Annotations/<id>.xml``.

    As mmcls 0.x: ``data_prefix`` is the ``VOC2007`` folder and ``ann_file`` a list of image ids
    (``ImageSets/Main/trainval.txt`` or ``test.txt``); image ``<id>`` is ``JPEGImages/<id>.jpg``.
    An object marked difficult makes its class -1 (``difficult_as_postive=True``: 1, ``False``: 0)
    unless another object of that class is not difficult.
    """

    CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
               'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train',
               'tvmonitor')

    def __init__(self, data_prefix: str, ann_file: str, pipeline: Sequence = (), classes=None,
                 difficult_as_postive: bool | None = None, test_mode: bool = False,
                 file_client_args: Mapping | None = None, skip_bad_images: bool = False):
        if difficult_as_postive not in (None, True, False):
            raise ConfigError(f'VOC: difficult_as_postive must be None, True or False, got {difficult_as_postive!r}')
        if 'VOC2007' not in str(data_prefix):
            raise ConfigError(f'VOC: data_prefix must be the VOC2007 folder (e.g. data/VOCdevkit/VOC2007/), '
                              f'got {data_prefix!r}; mmcls reads only the 2007 edition')
        self.difficult_as_postive = difficult_as_postive
        super().__init__(data_prefix, ann_file, pipeline, classes=classes, test_mode=test_mode,
                         file_client_args=file_client_args, skip_bad_images=skip_bad_images)

    def _objects(self, image_id: str) -> list[tuple[str, bool]]:
        """(class name, difficult) of every object of an image's XML annotation."""
        path = os.path.join(self.data_prefix, 'Annotations', f'{image_id}.xml')
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as e:
            raise DataError(f'VOC: cannot read the annotation {path}: {e}') from None
        objects = []
        for obj in root.findall('object'):
            name, difficult = obj.findtext('name'), obj.findtext('difficult', '0')
            objects.append((name.strip() if name else '', difficult.strip() == '1'))
        return objects

    def load_annotations(self) -> list[dict]:
        """One info per image id of ``ann_file``, with its (20,) int8 label vector."""
        index = self.class_to_idx
        infos = []
        for image_id in (line.strip() for line in self._read_lines()):
            if not image_id:
                continue
            gt = np.zeros(len(self.CLASSES), dtype=np.int8)
            objects = [(index[n], d) for n, d in self._objects(image_id) if n in index]
            hard = [c for c, d in objects if d]
            gt[hard] = -1 if self.difficult_as_postive is None else int(self.difficult_as_postive)
            gt[[c for c, d in objects if not d]] = 1
            infos.append({'img_prefix': self.data_prefix, 'img_info': {'filename': f'JPEGImages/{image_id}.jpg'},
                          'gt_label': gt})
        self.ann_lines = None
        return infos
