"""Suite-wide settings.

One intra-op thread: the tests run many tiny models, where a second OpenMP thread costs more in
synchronisation than it saves (measured several-fold slower wall time on the 2-core CI machines).
Subprocesses the tests start (the CLI, torchrun) use torch's default thread count.
"""

import torch

torch.set_num_threads(1)


# -- trained_digits: a tiny digits model, trained once per test session (evaluation/inference tests) --------

import pytest  # noqa: E402

_TINY_DIGITS = '''
_base_ = [{base!r}]
names = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine']
norm = dict(type='Normalize', mean=[77.8], std=[96.5], to_rgb=False)
train_pipeline = [dict(type='Resize', size=(16, 16)), dict(type='RandomCrop', size=16, padding=1), norm,
                  dict(type='ImageToTensor', keys=['img']), dict(type='ToTensor', keys=['gt_label']),
                  dict(type='Collect', keys=['img', 'gt_label'])]
test_pipeline = [dict(type='Resize', size=(16, 16)), norm, dict(type='ImageToTensor', keys=['img']),
                 dict(type='Collect', keys=['img'])]
model = dict(backbone=dict(stem_channels=8, base_channels=8), head=dict(in_channels=64))
data = dict(workers_per_gpu=0, train=dict(pipeline=train_pipeline, classes=names),
            val=dict(pipeline=test_pipeline, classes=names), test=dict(pipeline=test_pipeline, classes=names))
runner = dict(max_epochs=2)
lr_config = dict(warmup_iters=3)
log_config = dict(interval=50)
checkpoint_config = dict(interval=1, max_keep_ckpts=1)
# 8-channel 1x1 strided convs: oneDNN issue #6035 in channels_last training on CPU (see engine/precision.py)
channels_last = False
'''


@pytest.fixture(scope='session')
def trained_digits(tmp_path_factory):
    """``(config_path, checkpoint_path, work_dir)`` of the digits config shrunk to 8 channels at 16x16 with
    class names zero..nine, trained for 2 epochs (~65% top-1, a few seconds)."""
    from pathlib import Path

    from imgcls.cli.main import main

    root = tmp_path_factory.mktemp('trained_digits')
    base = Path(__file__).resolve().parents[1] / 'configs' / 'resnet' / 'resnet18_digits.py'
    config = root / 'tiny_digits.py'
    config.write_text(_TINY_DIGITS.format(base=str(base)))
    work_dir = root / 'work'
    assert main(['train', str(config), '--work-dir', str(work_dir), '--seed', '0']) == 0
    return config, work_dir / 'latest.pth', work_dir


@pytest.fixture
def imgcls_log(caplog):
    """``caplog`` for the ``imgcls`` logger, which stops propagating to the root once the engine sets it up."""
    import logging

    logger = logging.getLogger('imgcls')
    propagate = logger.propagate
    logger.propagate = False  # each record once, through caplog's handler below
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger='imgcls')
    yield caplog
    logger.removeHandler(caplog.handler)
    logger.propagate = propagate
