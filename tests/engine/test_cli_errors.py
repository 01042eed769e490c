"""Bad input gets one clear paragraph (exit 1, no traceback) naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from imgcls.cli.main import main

REPO = Path(__file__).resolve().parents[2]
DIGITS = REPO / 'configs/resnet/resnet18_digits.py'


def run_error(capsys, argv) -> str:
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert 'Traceback' not in captured.err
    return captured.err


def test_misspelt_type_suggests_the_right_name(tmp_path, capsys):
    cfg = tmp_path / 'bad.py'
    cfg.write_text(f"_base_ = ['{DIGITS}']\nmodel = dict(backbone=dict(type='ResNet_CIAFR'))\n")
    err = run_error(capsys, ['train', str(cfg), '--work-dir', str(tmp_path / 'w')])
    assert "'ResNet_CIAFR'" in err and 'ResNet_CIFAR' in err and 'model.backbone' in err


def test_type_in_the_wrong_registry_says_where_it_lives(tmp_path, capsys):
    cfg = tmp_path / 'bad.py'
    cfg.write_text(f"_base_ = ['{DIGITS}']\nmodel = dict(neck=dict(type='LinearClsHead'))\n")
    err = run_error(capsys, ['train', str(cfg), '--work-dir', str(tmp_path / 'w')])
    assert 'head' in err and 'model.neck' in err


def test_missing_base_file(tmp_path, capsys):
    cfg = tmp_path / 'bad.py'
    cfg.write_text("_base_ = ['./nope/missing.py']\n")
    err = run_error(capsys, ['config', str(cfg)])
    assert 'missing.py' in err and 'bad.py' in err


def test_syntax_error_names_file_and_line(tmp_path, capsys):
    cfg = tmp_path / 'bad.py'
    cfg.write_text("model = dict(\n  type='ImageClassifier',\n  backbone=dict(type='ResNet' depth=18))\n")
    err = run_error(capsys, ['config', str(cfg)])
    assert 'bad.py' in err and 'line 3' in err


def test_wrong_cfg_options_key(capsys):
    err = run_error(capsys, ['config', str(DIGITS), '--cfg-options', 'modle.backbone.depth=50'])
    assert 'modle' in err and 'model' in err


def test_misspelt_constructor_argument(tmp_path, capsys):
    err = run_error(capsys, ['train', str(DIGITS), '--work-dir', str(tmp_path / 'w'),
                             '--cfg-options', 'model.backbone.dpeth=18'])
    assert 'dpeth' in err and 'depth' in err


def test_misspelt_top_level_key(tmp_path, capsys):
    cfg = tmp_path / 'bad.py'
    cfg.write_text(f"_base_ = ['{DIGITS}']\noptimzer = dict(type='SGD', lr=0.1)\n")
    err = run_error(capsys, ['train', str(cfg), '--work-dir', str(tmp_path / 'w')])
    assert 'optimzer' in err and 'optimizer' in err


def test_missing_config_file(capsys):
    err = run_error(capsys, ['train', 'configs/nope.py'])
    assert 'configs/nope.py' in err


def _folder_config(tmp_path: Path, ann: str | None) -> Path:
    from PIL import Image
    root = tmp_path / 'imgs'
    for cls in ('a', 'b'):
        (root / cls).mkdir(parents=True)
        for i in range(2):
            Image.new('RGB', (8, 8), (i * 100, 50, 50)).save(root / cls / f'{i}.png')
    (root / 'a' / 'broken.png').write_bytes(b'not an image at all')
    ann_line = f", ann_file='{ann}', classes=['a', 'b']" if ann else ''
    cfg = tmp_path / 'folder.py'
    cfg.write_text(f"""
_base_ = ['{DIGITS}']
pipe = [dict(type='LoadImageFromFile'), dict(type='Resize', size=(8, 8)), dict(type='Normalize', mean=[0.], std=[1.]),
        dict(type='ImageToTensor', keys=['img']), dict(type='ToTensor', keys=['gt_label']),
        dict(type='Collect', keys=['img', 'gt_label'])]
data = dict(samples_per_gpu=2, workers_per_gpu=0,
            train=dict(_delete_=True, type='CustomDataset', data_prefix='{root}'{ann_line}, pipeline=pipe),
            val=dict(_delete_=True, type='CustomDataset', data_prefix='{root}'{ann_line}, pipeline=pipe),
            test=dict(_delete_=True, type='CustomDataset', data_prefix='{root}'{ann_line}, pipeline=pipe))
model = dict(backbone=dict(in_channels=3), head=dict(num_classes=2, topk=(1,)))
runner = dict(max_epochs=1)
amp = None
""")
    return cfg


def test_unreadable_image_names_the_file(tmp_path, capsys):
    cfg = _folder_config(tmp_path, None)
    err = run_error(capsys, ['train', str(cfg), '--work-dir', str(tmp_path / 'w'), '--seed', '0'])
    assert 'broken.png' in err


def test_label_outside_num_classes(tmp_path, capsys):
    ann = tmp_path / 'ann.txt'
    ann.write_text('a/0.png 0\nb/0.png 7\n')
    cfg = _folder_config(tmp_path, str(ann))
    err = run_error(capsys, ['train', str(cfg), '--work-dir', str(tmp_path / 'w')])
    assert '7' in err and 'ann.txt' in err


@pytest.mark.parametrize('value', ['runner.max_epochs=0', 'data.samples_per_gpu=-1'])
def test_bad_values_are_reported_before_training(tmp_path, capsys, value):
    err = run_error(capsys, ['train', str(DIGITS), '--work-dir', str(tmp_path / 'w'), '--cfg-options', value])
    assert value.split('=')[0].split('.')[-1] in err


def test_misspelt_evaluation_key_is_reported_before_training(tmp_path, capsys):
    err = run_error(capsys, ['train', str(DIGITS), '--work-dir', str(tmp_path / 'w'),
                             '--cfg-options', 'evaluation.metirc_options={"topk":[1]}'])
    assert 'metirc_options' in err and 'metric_options' in err
