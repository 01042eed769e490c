"""Shared pieces of the reliability tests: a very small digits config, and helpers to run the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DIGITS = REPO / 'configs' / 'resnet' / 'resnet18_digits.py'

# an 8-channel ResNet-18 (CIFAR stem) on 16x16 digits: 270 training images, 5 iterations per epoch
FAST = '''
_base_ = [{base!r}]
model = dict(backbone=dict(stem_channels=8, base_channels=8), head=dict(in_channels=64))
norm = dict(type='Normalize', mean=[77.8], std=[96.5], to_rgb=False)
train_steps = [dict(type='Resize', size=(16, 16)), norm, dict(type='ImageToTensor', keys=['img']),
        dict(type='ToTensor', keys=['gt_label']), dict(type='Collect', keys=['img', 'gt_label'])]
eval_steps = [dict(type='Resize', size=(16, 16)), norm, dict(type='ImageToTensor', keys=['img']),
             dict(type='Collect', keys=['img'])]
names = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine']
data = dict(samples_per_gpu=64, workers_per_gpu=0,
            train=dict(split='val', val_fraction=0.15, pipeline=train_steps, classes=names),
            val=dict(split='val', val_fraction=0.05, pipeline=eval_steps, classes=names),
            test=dict(split='val', val_fraction=0.05, pipeline=eval_steps, classes=names))
runner = dict(max_epochs={epochs})
lr_config = dict(warmup_iters=2)
log_config = dict(interval=2)
amp = None
# channels_last training of 8-channel models crashes in oneDNN when the batch size changes (CPU)
channels_last = False
'''


def write_config(folder: Path, epochs: int = 2, extra: str = '', name: str = 'fast.py') -> Path:
    """Write the FAST config (plus ``extra`` lines) to ``folder/name``."""
    path = folder / name
    path.write_text(FAST.format(base=str(DIGITS), epochs=epochs) + extra)
    return path


@pytest.fixture
def fast_config(tmp_path) -> Path:
    return write_config(tmp_path)


@pytest.fixture(scope='session')
def trained_fast(tmp_path_factory):
    """``(config, work_dir)`` of the FAST config trained for 2 epochs, once per session (read-only for tests)."""
    from imgcls.cli.main import main
    root = tmp_path_factory.mktemp('trained_fast')
    config = write_config(root)
    work = root / 'work'
    assert main(['train', str(config), '--work-dir', str(work), '--seed', '0']) == 0
    return config, work


def run_cli(capsys, argv: list[str]) -> tuple[int, str, str]:
    """Run ``imgcls ARGV`` in this process; (exit code, stdout, stderr)."""
    from imgcls.cli.main import main
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def subprocess_env() -> dict:
    """The environment for CLI subprocesses: one thread each (the test machine is small and shared)."""
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    env['PYTHONPATH'] = str(REPO) + os.pathsep + env.get('PYTHONPATH', '')
    return env


def start_cli(args: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    """Start ``python -m imgcls ARGS`` with its output going to ``log``."""
    fh = open(log, 'ab')  # noqa: SIM115 - the child owns it; closed when the Popen is collected
    return subprocess.Popen([sys.executable, '-m', 'imgcls', *map(str, args)], cwd=cwd, env=subprocess_env(),
                            stdout=fh, stderr=subprocess.STDOUT)
