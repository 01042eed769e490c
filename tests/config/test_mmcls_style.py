"""A config tree laid out as mmcls 0.x lays its configs out, through ``Config`` and ``imgcls config``."""

import sys
import textwrap

import pytest

from imgcls import Config
from imgcls.cli.main import main
from imgcls.config import parse_cfg_options
from imgcls.errors import ConfigError


def write(directory, name, text):
    """Write a dedented config file under ``directory`` and return its path as str."""
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip('\n'), encoding='utf-8')
    return str(path)


@pytest.fixture
def tree(tmp_path):
    """models/ (.py), datasets/ (.py using a .json policy file), schedules/ (.yaml), runtime (.json), a recipe."""
    write(tmp_path, '_base_/models/resnet18.py', """
        model = dict(type='ImageClassifier', backbone=dict(type='ResNet', depth=18, out_indices=(3, )),
                     neck=dict(type='GlobalAveragePooling'),
                     head=dict(type='LinearClsHead', num_classes=1000, in_channels=512, topk=(1, 5),
                               loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
    """)
    write(tmp_path, '_base_/datasets/pipelines/rand_aug.json', """
        {"rand_increasing_policies": [{"type": "AutoContrast"}, {"type": "Posterize", "bits": 4}]}
    """)
    write(tmp_path, '_base_/datasets/imagenet.py', """
        _base_ = ['./pipelines/rand_aug.json']
        train_pipeline = [
            dict(type='LoadImageFromFile'),
            dict(type='RandomResizedCrop', size=224),
            dict(type='RandAugment', policies={{_base_.rand_increasing_policies}}, num_policies=2),
        ]
        data = dict(samples_per_gpu=64, train=dict(type='ImageNet', data_prefix='{{ fileDirname }}/data',
                                                   pipeline=train_pipeline))
    """)
    write(tmp_path, '_base_/schedules/sgd.yaml', """
        optimizer: {type: SGD, lr: 0.1, momentum: 0.9, weight_decay: 1.0e-4}
        lr_config: {policy: step, step: [30, 60, 90]}
        runner: {type: EpochBasedRunner, max_epochs: 100}
    """)
    write(tmp_path, '_base_/default_runtime.json', '{"log_config": {"interval": 100}, "load_from": null}')
    return write(tmp_path, 'resnet/recipe.py', """
        _base_ = ['../_base_/models/resnet18.py', '../_base_/datasets/imagenet.py',
                  '../_base_/schedules/sgd.yaml', '../_base_/default_runtime.json']
        model = dict(head=dict(num_classes=10, topk={{_base_.model.head.topk}}))
        optimizer = dict(_delete_=True, type='AdamW', lr=0.001)
        lr_config = dict(step=[2, 4])
    """)


EXPECTED = {
    'model': {'type': 'ImageClassifier', 'backbone': {'type': 'ResNet', 'depth': 18, 'out_indices': (3,)},
              'neck': {'type': 'GlobalAveragePooling'},
              'head': {'type': 'LinearClsHead', 'num_classes': 10, 'in_channels': 512, 'topk': (1, 5),
                       'loss': {'type': 'CrossEntropyLoss', 'loss_weight': 1.0}}},
    'optimizer': {'type': 'AdamW', 'lr': 0.001},
    'lr_config': {'policy': 'step', 'step': [2, 4]},
    'runner': {'type': 'EpochBasedRunner', 'max_epochs': 100},
    'log_config': {'interval': 100}, 'load_from': None,
}


def test_tree_merges_as_mmcls_does(tree, tmp_path):
    cfg = Config.fromfile(tree)
    assert {k: cfg.to_dict()[k] for k in EXPECTED} == EXPECTED
    policies = [{'type': 'AutoContrast'}, {'type': 'Posterize', 'bits': 4}]
    assert cfg.rand_increasing_policies == policies
    assert cfg.data.train.pipeline[2].to_dict() == {'type': 'RandAugment', 'policies': policies, 'num_policies': 2}
    assert cfg.data.train.data_prefix == f'{tmp_path}/_base_/datasets/data'
    assert sorted(cfg) == sorted([*EXPECTED, 'rand_increasing_policies', 'train_pipeline', 'data'])


def test_cfg_options_with_list_indices_and_tuples(tree):
    cfg = Config.fromfile(tree)
    cfg.merge_from_dict(parse_cfg_options([
        'data.train.pipeline.1.size=256', 'data.train.pipeline.2.policies.1.bits=6', 'model.head.topk=(1,)',
        'model.backbone.out_indices=(2,3)', 'data.train.pipeline.0={"type": "LoadImageFromFile", "x": [1, 2]}',
        'lr_config.step=[(1,2),(3,4)]']))
    assert cfg.data.train.pipeline[1].size == 256
    assert cfg.data.train.pipeline[2].policies[1].to_dict() == {'type': 'Posterize', 'bits': 6}
    assert cfg.model.head.topk == (1,) and cfg.model.backbone.out_indices == (2, 3)
    assert cfg.data.train.pipeline[0].to_dict() == {'type': 'LoadImageFromFile', 'x': [1, 2]}
    assert cfg.lr_config.step == [(1, 2), (3, 4)]
    # an index into a tuple replaces that item, the tuple stays a tuple
    cfg.merge_from_dict(parse_cfg_options(['model.backbone.out_indices.0=1']))
    assert cfg.model.backbone.out_indices == (1, 3)
    with pytest.raises(ConfigError, match=r"index 3 is out of range, 'data\.train\.pipeline' is a list of length 3"):
        cfg.merge_from_dict(parse_cfg_options(['data.train.pipeline.3.size=1']))


def test_imgcls_config_prints_the_merged_config_that_loads_back_equal(tree, tmp_path, capsys):
    assert main(['config', tree, '--cfg-options', 'data.train.pipeline.1.size=256', 'model.head.topk=(1,)']) == 0
    printed = capsys.readouterr().out
    dumped = tmp_path / 'printed.py'
    dumped.write_text(printed)
    again = Config.fromfile(dumped)
    expected = Config.fromfile(tree)
    expected.merge_from_dict({'data.train.pipeline.1.size': 256, 'model.head.topk': (1,)})
    assert again.to_dict() == expected.to_dict()
    assert again.data.train.pipeline[1].size == 256 and again.model.head.topk == (1,)


def test_imgcls_config_reports_a_bad_option_value(tree, capsys):
    assert main(['config', tree, '--cfg-options', 'model.head.topk=(1,5']) == 1
    err = capsys.readouterr().err
    assert "the value of 'model.head.topk' does not parse: '(1,5'" in err and 'Traceback' not in err


def test_custom_imports_in_a_base(tmp_path):
    write(tmp_path, 'plugins/my_mmcls_plugin_mod.py', """
        from imgcls.models import BACKBONES
        VALUE = 42
    """)
    write(tmp_path, 'plugins/base.py', "custom_imports = dict(imports=['my_mmcls_plugin_mod'])\n")
    path = write(tmp_path, 'cfg.py', "_base_ = 'plugins/base.py'\nx = 1\n")
    try:
        Config.fromfile(path)
        assert sys.modules['my_mmcls_plugin_mod'].VALUE == 42
    finally:
        sys.modules.pop('my_mmcls_plugin_mod', None)
        if str(tmp_path / 'plugins') in sys.path:
            sys.path.remove(str(tmp_path / 'plugins'))
