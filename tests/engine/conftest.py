"""A tiny digits config (8-channel ResNet-18 at 16 px) that trains an epoch in about a second."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

TINY = """
_base_ = ['{repo}/configs/resnet/resnet18_digits.py']
model = dict(backbone=dict(stem_channels=16, base_channels=16), head=dict(in_channels=128))
pipe = [
    dict(type='Resize', size=(16, 16)),
    dict(type='RandomCrop', size=16, padding=1),
    dict(type='Normalize', mean=[77.8], std=[96.5], to_rgb=False),
    dict(type='ImageToTensor', keys=['img']),
    dict(type='ToTensor', keys=['gt_label']),
    dict(type='Collect', keys=['img', 'gt_label']),
]
data = dict(samples_per_gpu=128, workers_per_gpu=0,
            train=dict(pipeline=pipe), val=dict(pipeline=pipe[:1] + pipe[2:]), test=dict(pipeline=pipe[:1] + pipe[2:]))
optimizer = dict(lr=0.2)
lr_config = dict(warmup_iters=5)
runner = dict(max_epochs=2)
log_config = dict(interval=4)
amp = None
"""


@pytest.fixture
def tiny_config(tmp_path) -> Path:
    path = tmp_path / 'tiny_digits.py'
    path.write_text(TINY.format(repo=REPO))
    return path

