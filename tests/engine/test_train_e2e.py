"""End to end through the CLI: train → resume → test on the bundled digits, with a small model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from imgcls.cli.main import main

REPO = Path(__file__).resolve().parents[2]

TINY = """
_base_ = ['{repo}/configs/resnet/resnet18_digits.py']
model = dict(backbone=dict(stem_channels=8, base_channels=8), head=dict(in_channels=64))
pipe = [
    dict(type='Resize', size=(16, 16)),
    dict(type='Normalize', mean=[77.8], std=[96.5], to_rgb=False),
    dict(type='ImageToTensor', keys=['img']),
    dict(type='ToTensor', keys=['gt_label']),
    dict(type='Collect', keys=['img', 'gt_label']),
]
data = dict(samples_per_gpu=128, workers_per_gpu=0,
            train=dict(pipeline=pipe), val=dict(pipeline=pipe), test=dict(pipeline=pipe))
optimizer = dict(lr=0.2)
lr_config = dict(warmup_iters=5)
runner = dict(max_epochs=2)
log_config = dict(interval=4)
amp = None
"""


def write_tiny_config(tmp_path: Path, extra: str = '') -> Path:
    path = tmp_path / 'tiny_digits.py'
    path.write_text(TINY.format(repo=REPO) + extra)
    return path


def read_log(work_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (work_dir / 'log.jsonl').read_text().splitlines()]


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('e2e')
    cfg = write_tiny_config(tmp)
    work = tmp / 'work'
    assert main(['train', str(cfg), '--work-dir', str(work), '--cfg-options', 'runner.max_epochs=1']) == 0
    return cfg, work


@pytest.mark.slow
def test_train_writes_the_work_dir(trained):
    cfg, work = trained
    for name in ('config.py', 'log.jsonl', 'train.log', 'epoch_1.pth', 'latest.pth', 'best_accuracy_top-1.pth'):
        assert (work / name).is_file(), name
    records = read_log(work)
    train = [r for r in records if r['mode'] == 'train']
    val = [r for r in records if r['mode'] == 'val']
    assert train and all({'loss', 'lr', 'epoch', 'iter', 'img_per_s'} <= set(r) for r in train)
    assert len(val) == 1 and {'accuracy_top-1', 'accuracy_top-5'} <= set(val[0])
    assert train[-1]['loss'] < train[0]['loss']  # it learns


@pytest.mark.slow
def test_every_evaluation_is_on_the_console_and_in_train_log_once(tmp_path, capsys):
    cfg = write_tiny_config(tmp_path, "evaluation = dict(metric=['accuracy', 'precision', 'recall'])\n")
    assert main(['train', str(cfg), '--work-dir', str(tmp_path / 'work')]) == 0
    out = capsys.readouterr().out
    log = (tmp_path / 'work' / 'train.log').read_text()
    for line in ('evaluation at epoch 1: accuracy_top-1 ', 'evaluation at epoch 2: accuracy_top-1 ',
                 'final evaluation at the end (2 epochs, 24 iterations): accuracy_top-1 '):
        assert out.count(line) == 1 and log.count(f'INFO {line}') == 1, line
    assert ', precision ' in log.splitlines()[-1] and ', recall ' in log.splitlines()[-1]
    assert out.count('final evaluation') == 1


@pytest.mark.slow
def test_checkpoint_format(trained):
    _, work = trained
    ckpt = torch.load(work / 'epoch_1.pth', weights_only=True)
    assert {'state_dict', 'optimizer', 'meta'} <= set(ckpt)
    meta = ckpt['meta']
    assert meta['epoch'] == 1 and meta['iter'] == 12
    assert meta['CLASSES'] == [str(i) for i in range(10)]
    assert 'config' in meta and 'torch_version' in meta and 'rng' in meta
    assert 'backbone.conv1.weight' in ckpt['state_dict'] and 'head.fc.weight' in ckpt['state_dict']


@pytest.mark.slow
def test_dumped_config_is_loadable(trained):
    from imgcls import Config
    _, work = trained
    cfg = Config.fromfile(work / 'config.py')
    assert cfg.model.backbone.type == 'ResNet_CIFAR'
    # Normalize was moved from the pipeline to the model's data preprocessor
    assert cfg.model.data_preprocessor['mean'] == [77.8]
    assert all(step['type'] != 'Normalize' for step in cfg.data.train.pipeline)


@pytest.mark.slow
def test_resume_continues_where_it_stopped(trained, tmp_path):
    import shutil
    cfg, work = trained
    work2 = tmp_path / 'work'
    shutil.copytree(work, work2)
    assert main(['train', str(cfg), '--work-dir', str(work2), '--resume']) == 0
    records = read_log(work2)
    train_iters = [r['iter'] for r in records if r['mode'] == 'train']
    assert max(train_iters) == 24 and min(i for i in train_iters if i > 12) > 12
    assert (work2 / 'epoch_2.pth').is_file()
    ckpt = torch.load(work2 / 'latest.pth', weights_only=True)
    assert ckpt['meta']['epoch'] == 2


@pytest.mark.slow
def test_test_command_prints_metrics(trained, capsys):
    cfg, work = trained
    assert main(['test', str(cfg), str(work / 'epoch_1.pth')]) == 0
    out = capsys.readouterr().out
    assert 'accuracy_top-1' in out and 'accuracy_top-5' in out


def test_config_and_list_commands(capsys):
    assert main(['config', str(REPO / 'configs/resnet/resnet18_digits.py'),
                 '--cfg-options', 'optimizer.lr=0.01']) == 0
    out = capsys.readouterr().out
    assert "type='ResNet_CIFAR'" in out and 'lr=0.01' in out
    assert main(['list', 'backbones']) == 0
    assert 'ResNet_CIFAR' in capsys.readouterr().out.split()
    assert main(['list', 'configs']) == 0
    assert 'configs/resnet/resnet18_digits.py' in capsys.readouterr().out
