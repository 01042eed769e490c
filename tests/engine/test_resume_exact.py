"""Exact resume: 4 epochs straight == 2 epochs, SIGKILL during epoch 3, --resume (deterministic fp32)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ARGS = ['--deterministic', '--seed', '3', '--cfg-options', 'runner.max_epochs=4', 'amp=None', 'channels_last=False']


def train(config: Path, work: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1')  # a tiny model: one thread is fastest
    return subprocess.Popen([sys.executable, '-m', 'imgcls', 'train', str(config), '--work-dir', str(work), *ARGS,
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)


def wait_for_epoch(work: Path, proc: subprocess.Popen, epoch: int, timeout: float = 240) -> None:
    """Block until log.jsonl shows a training step of ``epoch``."""
    log = work / 'log.jsonl'
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise AssertionError(f'training ended before epoch {epoch}: {proc.stdout.read()}')
        if log.exists():
            for line in log.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if rec.get('mode') == 'train' and rec.get('epoch') == epoch:
                    return
        time.sleep(0.05)
    raise AssertionError(f'epoch {epoch} never started')


def final_weights(work: Path) -> dict:
    return torch.load(work / 'epoch_4.pth', weights_only=True)['state_dict']


@pytest.mark.slow
def test_kill_and_resume_gives_bitwise_identical_weights(tiny_config, tmp_path):
    straight = train(tiny_config, tmp_path / 'straight')
    assert straight.wait(timeout=600) == 0, straight.stdout.read()

    killed = train(tiny_config, tmp_path / 'killed')
    wait_for_epoch(tmp_path / 'killed', killed, 3)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert not (tmp_path / 'killed' / 'epoch_4.pth').exists()
    resumed = train(tiny_config, tmp_path / 'killed', '--resume')
    out, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, out
    assert 'resumed from' in out

    a, b = final_weights(tmp_path / 'straight'), final_weights(tmp_path / 'killed')
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f'weights differ after resume: {different[:5]}'


@pytest.mark.slow
def test_sigterm_saves_a_resumable_checkpoint(tiny_config, tmp_path):
    work = tmp_path / 'work'
    proc = train(tiny_config, work)
    wait_for_epoch(work, proc, 2)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert 'resumable checkpoint' in out
    latest = torch.load(work / 'latest.pth', weights_only=True)
    assert latest['meta']['inner_iter'] > 0 and 'optimizer' in latest
    resumed = train(tiny_config, work, '--resume')
    out, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, out
    assert (work / 'epoch_4.pth').is_file()
    iters = [json.loads(line)['iter'] for line in (work / 'log.jsonl').read_text().splitlines()
             if json.loads(line)['mode'] == 'train']
    assert max(iters) == 48


WDS_TINY = """
_base_ = ['{base}']
data = dict(samples_per_gpu=128, workers_per_gpu=2,
            train=dict(urls='{shards}/train', shuffle_buffer=300), val=dict(urls='{shards}/val'),
            test=dict(urls='{shards}/val'))
log_config = dict(interval=1)
"""


@pytest.mark.slow
def test_webdataset_run_stopped_mid_epoch_resumes_to_identical_weights(tiny_config, tmp_path):
    """SIGTERM mid-epoch saves where it was; the resumed run reads the rest of that epoch's stream exactly."""
    pytest.importorskip('webdataset')
    from imgcls.cli.main import main as imgcls_main
    tiny = tiny_config.read_text()
    for split in ('train', 'val'):
        assert imgcls_main(['data', 'pack', str(tiny_config), str(tmp_path / 'shards' / split), '--split', split,
                            '--shard-size', '200']) == 0
    # the tiny config's pipelines, reading grayscale PNGs from the shards
    base = tmp_path / 'wds_base.py'
    base.write_text(tiny.replace("dict(type='Resize', size=(16, 16)),",
                                 "dict(type='LoadImageFromFile', color_type='grayscale'), "
                                 "dict(type='Resize', size=(16, 16)),")
                    + "\ndata.update(train=dict(_delete_=True, type='WebDataset', pipeline=pipe),"
                      "val=dict(_delete_=True, type='WebDataset', pipeline=pipe[:2] + pipe[3:], test_mode=True),"
                      "test=dict(_delete_=True, type='WebDataset', pipeline=pipe[:2] + pipe[3:], test_mode=True))\n")
    config = tmp_path / 'wds_tiny.py'
    config.write_text(WDS_TINY.format(base=base, shards=tmp_path / 'shards'))
    straight = train(config, tmp_path / 'straight')
    out, _ = straight.communicate(timeout=600)
    assert straight.returncode == 0, out
    work = tmp_path / 'stopped'
    proc = train(config, work)
    wait_for_epoch(work, proc, 2)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert torch.load(work / 'latest.pth', weights_only=True)['meta']['inner_iter'] > 0
    resumed = train(config, work, '--resume')
    out, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, out
    a, b = final_weights(tmp_path / 'straight'), final_weights(work)
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f'weights differ after resume: {different[:5]}'
