"""imgcls browse-dataset: a grid of augmented images with class names."""

import numpy as np
import pytest
import torch
from PIL import Image

from imgcls.analysis.browse import browse_dataset, label_text, to_display
from imgcls.cli.main import main

CONFIG = '''
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', size=16),
    dict(type='RandomFlip', flip_prob=0.5),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='ImageToTensor', keys=['img']),
    dict(type='ToTensor', keys=['gt_label']),
    dict(type='Collect', keys=['img', 'gt_label'])
]
data = dict(samples_per_gpu=2, workers_per_gpu=0,
            train=dict(type='CustomDataset', data_prefix='{root}', pipeline=train_pipeline))
'''


@pytest.fixture
def config(tmp_path):
    root = tmp_path / 'images'
    for name, colour in (('cat', (200, 30, 30)), ('dog', (30, 30, 200))):
        for k in range(3):
            (root / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((20, 24, 3), colour, np.uint8)).save(root / name / f'{k}.png')
    path = tmp_path / 'cfg.py'
    path.write_text(CONFIG.replace('{root}', str(root)))
    return path


def test_cli_writes_a_grid(config, tmp_path, capsys):
    out = tmp_path / 'grid.png'
    assert main(['browse-dataset', str(config), '--out', str(out), '--num', '4']) == 0
    assert 'wrote' in capsys.readouterr().out
    with Image.open(out) as im:
        assert im.format == 'PNG' and im.size[0] > 100
        pixels = np.asarray(im.convert('RGB')).reshape(-1, 3)
    # the images are shown before normalization: their saturated red / blue is in the picture
    assert ((pixels[:, 0] > 150) & (pixels[:, 2] < 80)).any() or ((pixels[:, 2] > 150) & (pixels[:, 0] < 80)).any()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith('.grid')] == []  # written atomically


def test_same_call_same_grid(config, tmp_path):
    from imgcls import Config

    cfg = Config.fromfile(str(config))
    shown = browse_dataset(cfg, tmp_path / 'a.png', num=3, seed=1)
    assert shown == browse_dataset(cfg, tmp_path / 'b.png', num=3, seed=1) and len(shown) == 3
    assert (tmp_path / 'a.png').read_bytes() == (tmp_path / 'b.png').read_bytes()


def test_missing_split_is_a_clean_error(config, tmp_path, capsys):
    assert main(['browse-dataset', str(config), '--out', str(tmp_path / 'g.png'), '--split', 'val']) == 1
    assert 'no data.val dataset' in capsys.readouterr().err


def test_label_text_and_display():
    assert label_text(np.int64(1), ['cat', 'dog']) == 'dog'
    assert label_text(np.array([1, -1, 0, 1], np.int8), ['a', 'b', 'c', 'd']) == 'a, d, (b)'
    assert label_text(np.array([0, 0]), None) == '(none)'
    assert to_display(torch.zeros(1, 4, 5, dtype=torch.uint8)).shape == (4, 5)
    shown = to_display(torch.tensor([[[-1.0, 1.0]], [[0.0, 0.0]], [[0.0, 0.0]]]))
    assert shown.dtype == np.uint8 and shown[0, 0, 0] == 0 and shown[0, 1, 0] == 255
