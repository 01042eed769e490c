"""torchrun on CPU (gloo): 2 processes match 1 process; a killed rank is survived through --max-restarts."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.skipif(shutil.which('torchrun') is None and not Path(sys.executable).with_name(
    'torchrun').exists(), reason='torchrun is not installed')

TORCHRUN = str(Path(sys.executable).with_name('torchrun'))
# GroupNorm: the result must not depend on how the global batch is split between processes
COMMON = ['--deterministic', '--seed', '5', '--cfg-options', 'amp=None', 'channels_last=False',
          "model.backbone.norm_cfg={'type':'GN','num_groups':4}", 'data.train_dataloader={"drop_last":True}',
          'runner.max_epochs=1', 'checkpoint_config.interval=1', 'optimizer.lr=0.05']


def env() -> dict:
    return dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')


def single(config: Path, work: Path, batch: int, *extra: str) -> None:
    cmd = [sys.executable, '-m', 'imgcls', 'train', str(config), '--work-dir', str(work), *COMMON,
           f'data.samples_per_gpu={batch}', *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env(), timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr


def torchrun(config: Path, work: Path, batch: int, *extra: str, restarts: int = 0) -> subprocess.Popen:
    cmd = [TORCHRUN, '--standalone', '--nproc-per-node', '2', f'--max-restarts={restarts}', '-m', 'imgcls',
           'train', str(config), '--work-dir', str(work), *COMMON, f'data.samples_per_gpu={batch}', *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env())


@pytest.mark.slow
# with accumulation, the ranks skip the gradient all-reduce (DDP no_sync) except on updates
@pytest.mark.parametrize('extra', [(), pytest.param(('optimizer_config.cumulative_iters=2',))],
                         ids=['plain', 'accumulated'])
def test_two_processes_reach_the_same_weights_as_one(tiny_config, tmp_path, extra):
    single(tiny_config, tmp_path / 'one', 64, *extra)
    proc = torchrun(tiny_config, tmp_path / 'two', 32, *extra)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    a = torch.load(tmp_path / 'one' / 'epoch_1.pth', weights_only=True)['state_dict']
    b = torch.load(tmp_path / 'two' / 'epoch_1.pth', weights_only=True)['state_dict']
    for key in a:  # the same up to float rounding (the gradient all-reduce sums in another order)
        if a[key].is_floating_point():
            rel = (a[key] - b[key]).norm() / a[key].norm().clamp_min(1e-12)
            assert rel < 1e-3, (key, rel.item())
    logs = {run: [json.loads(line) for line in (tmp_path / run / 'log.jsonl').read_text().splitlines()]
            for run in ('one', 'two')}
    losses = {run: [r['loss'] for r in recs if r['mode'] == 'train'] for run, recs in logs.items()}
    assert losses['one'] == pytest.approx(losses['two'], rel=1e-4)  # losses are averaged over both ranks
    # only rank 0 writes, and evaluation covers each val image once (gathered from both ranks)
    val = {run: [r for r in recs if r['mode'] == 'val'] for run, recs in logs.items()}
    assert len(val['two']) == 1
    assert val['two'][0]['accuracy_top-1'] == pytest.approx(val['one'][0]['accuracy_top-1'], abs=0.3)


def _worker_pids(parent: int) -> dict[int, int]:
    """rank -> pid of torchrun's worker processes."""
    ranks = {}
    for pid in map(int, subprocess.run(['pgrep', '-P', str(parent)], capture_output=True, text=True).stdout.split()):
        try:
            environ = Path(f'/proc/{pid}/environ').read_bytes().split(b'\0')
        except OSError:
            continue
        for item in environ:
            if item.startswith(b'RANK='):
                ranks[int(item[5:])] = pid
    return ranks


@pytest.mark.slow
def test_a_killed_rank_is_resumed_by_torchrun_restart(tiny_config, tmp_path):
    work = tmp_path / 'work'
    proc = torchrun(tiny_config, work, 32, 'runner.max_epochs=3', restarts=1)
    deadline = time.time() + 300
    while not (work / 'epoch_1.pth').exists():  # let it save a checkpoint, then kill rank 1
        assert proc.poll() is None and time.time() < deadline, proc.stdout.read() if proc.poll() else 'timeout'
        time.sleep(0.1)
    ranks = _worker_pids(proc.pid)
    assert 1 in ranks, ranks
    os.kill(ranks[1], signal.SIGKILL)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert 'resumed from' in out
    assert torch.load(work / 'epoch_3.pth', weights_only=True)['meta']['epoch'] == 3
