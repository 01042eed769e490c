"""The ``model`` dicts of mmcls 0.25's transformer config files build in imgcls with mmcls's parameter counts.

fixtures/mmcls_transformer_models.json holds, per config file of the wheel (ViT, Swin, ConvNeXt, DeiT, Swin V2,
MLP-Mixer, Twins, T2T-ViT, TNT, Conformer, MViT v2, and ResNet-101 + CSRAClsHead), its ``model`` dict as mmcv
composed it (``train_cfg`` left out) and the parameter count of the model mmcls built from it. The files themselves also
need the config language (e.g. ``{{_base_.x}}``) to load; this checks everything behind that.
"""

from __future__ import annotations

import json

import pytest
from zoo_checks import FIXTURES, meta_params

MODELS = json.loads((FIXTURES / 'mmcls_transformer_models.json').read_text())


@pytest.mark.parametrize('name', sorted(MODELS))
def test_mmcls_model_dict_builds_with_mmcls_parameter_count(name):
    assert meta_params(MODELS[name]['model']) == MODELS[name]['params']
