"""tools/gen_model_index.py on a small wheel-like folder, and what the shipped index says about imgcls today."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tools'))
import gen_model_index  # noqa: E402

import imgcls  # noqa: E402
from imgcls.convert.swin import relative_position_index  # noqa: E402
from imgcls.hub.api import availability, model_config  # noqa: E402
from imgcls.hub.index import model_info  # noqa: E402

METAFILE = """
Collections:
  - Name: Tiny
Models:
  - Name: tiny_1xb8_demo
    In Collection: Tiny
    Metadata:
      FLOPs: 1000
      Parameters: 2000
    Results:
      - Dataset: Demo
        Metrics:
          Top 1 Accuracy: 90.5
          Top 5 Accuracy: 99.25
        Task: Image Classification
    Weights: https://download.openmmlab.com/x/tiny_20220101-0123abcd.pth
    Config: configs/tiny/tiny_1xb8_demo.py
  - Name: tiny_backbone_only
    In Collection: Tiny
    Metadata:
      Parameters: 1500
    Results: null
    Weights: https://download.openmmlab.com/x/tiny_backbone-89abcdef.pth
"""


def test_the_tool_writes_names_urls_numbers_and_the_model(tmp_path):
    mim = tmp_path / '.mim'
    (mim / 'configs' / 'tiny').mkdir(parents=True)
    (mim / 'model-index.yml').write_text('Import:\n  - configs/tiny/metafile.yml\n')
    (mim / 'configs' / 'tiny' / 'metafile.yml').write_text(METAFILE)
    (mim / 'configs' / 'tiny' / 'tiny_1xb8_demo.py').write_text(
        "model = dict(type='ImageClassifier', backbone=dict(type='ResNet_CIFAR', depth=18, out_indices=(3, )))\n")
    out = tmp_path / 'index.json'
    assert gen_model_index.main(['--mim', str(mim), '--out', str(out)]) == 0
    demo, backbone_only = json.loads(out.read_text())['models']
    assert {k: v for k, v in demo.items() if k != 'model'} == {
        'name': 'tiny_1xb8_demo', 'collection': 'Tiny', 'family': 'tiny', 'config': 'configs/tiny/tiny_1xb8_demo.py',
        'weights': 'https://download.openmmlab.com/x/tiny_20220101-0123abcd.pth', 'dataset': 'Demo', 'top1': 90.5,
        'top5': 99.25, 'params': 2000, 'flops': 1000}
    assert ast.literal_eval(demo['model'])['backbone'] == {'type': 'ResNet_CIFAR', 'depth': 18, 'out_indices': (3,)}
    assert (backbone_only['config'], backbone_only['model'], backbone_only['top1']) == (None, None, None)


def test_the_converters_swin_index_is_the_models():
    from imgcls.models.utils.attention import relative_position_index as models_index
    for window in (2, 7):
        assert torch.equal(relative_position_index(window), models_index((window, window)))


# parameter counts that mmcls 0.25's metafiles give wrong (mmcls's own models build imgcls's counts):
METAFILE_ERRATA = {
    'regnetx-3.2gf_8xb64_in1k', 'resnet34_8xb32_in1k',  # a digit lost: 15.30M and 21.80M are right
    'deit-small-distilled_3rdparty_pt-4xb256_in1k', 'deit-tiny-distilled_3rdparty_pt-4xb256_in1k',  # the plain
    # DeiT's counts, without the distillation token and head
    'resnet101-csra_1xb16_voc07-448px',  # 23.55M: ResNet-101's backbone alone has 42.5M
}


def _errata(name: str) -> bool:
    # RepVGG A2 and larger: the metafile swaps Parameters and FLOPs
    return name in METAFILE_ERRATA or (name.startswith('repvgg-') and not name.startswith(('repvgg-A0', 'repvgg-A1')))


@pytest.mark.slow  # ~30 s: builds every buildable published model up to 30M parameters
def test_every_buildable_published_model_has_the_published_size():
    from imgcls.hub.api import _without_pretrained_init
    from imgcls.models.builder import build_classifier
    checked = 0
    for name in imgcls.list_models():
        info = model_info(name)
        if availability(name) is not None or not info.params or info.params > 30e6 or _errata(name):
            continue
        cfg, _ = model_config(name)
        model = build_classifier(_without_pretrained_init(cfg['model'].to_dict()))
        params = sum(p.numel() for p in model.parameters())
        assert abs(params - info.params) <= 0.01 * info.params, (name, params, info.params)
        checked += 1
    assert checked >= 39
