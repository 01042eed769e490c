"""SIGKILL at random points of training: ``--resume`` always continues and ends with a valid model.

Every run is a real ``python -m imgcls train`` subprocess on the FAST config (2 epochs of 5 iterations).
After each kill, every ``*.pth`` visible in the work dir must load (atomic writes: no truncated file
under a final name), and ``--resume`` must finish the training, leaving a final checkpoint that
``imgcls test`` evaluates.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import start_cli, subprocess_env, write_config

from imgcls.engine.checkpoint import checkpoint_meta, load_checkpoint

EPOCHS = 2
HERE = Path(__file__).resolve().parent


def _visible_checkpoints_load(work: Path) -> list[str]:
    """Load every checkpoint under its final name; return their names."""
    names = []
    for path in sorted(work.glob('*.pth')):
        load_checkpoint(path)  # raises CheckpointError on a truncated file
        names.append(path.name)
    return names


def _resume_to_the_end(config: Path, work: Path, tmp_path: Path) -> None:
    log = tmp_path / 'resume.log'
    proc = start_cli(['train', config, '--work-dir', work, '--resume', '--seed', '0'], tmp_path, log)
    assert proc.wait(timeout=300) == 0, log.read_text()[-3000:]
    final = work / f'epoch_{EPOCHS}.pth'
    assert checkpoint_meta(load_checkpoint(final))['epoch'] == EPOCHS
    assert not list(work.glob('.*tmp*')), 'temporary files of interrupted writes were not cleaned up'
    _visible_checkpoints_load(work)


def _test_final_model(capsys, config: Path, work: Path) -> None:
    from conftest import run_cli
    code, out, err = run_cli(capsys, ['test', config, work / f'epoch_{EPOCHS}.pth'])
    assert code == 0, err
    assert 'accuracy_top-1' in out


@pytest.mark.slow
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_sigkill_at_a_random_point_then_resume(tmp_path, capsys, seed):
    config = write_config(tmp_path, epochs=EPOCHS)
    work = tmp_path / 'work'
    # a kill anywhere from start-up (before any checkpoint exists) to after the last epoch; the first run
    # already passes --resume, as a job script that is simply restarted would
    delay = random.Random(seed).uniform(1.0, 5.0)
    proc = start_cli(['train', config, '--work-dir', work, '--seed', '0', '--resume'], tmp_path, tmp_path / 'run.log')
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.kill()  # SIGKILL: no handler, no cleanup
        proc.wait()
    if work.is_dir():
        _visible_checkpoints_load(work)
    _resume_to_the_end(config, work, tmp_path)
    _test_final_model(capsys, config, work)


def _wait_for(predicate, proc: subprocess.Popen, timeout: float = 120.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        if proc.poll() is not None:
            return predicate()
        time.sleep(0.002)
    return False


@pytest.mark.slow
def test_kill_during_a_checkpoint_write_leaves_old_or_new_file(tmp_path, capsys):
    """A slowed-down writer: kill while ``epoch_2.pth`` is half written, then right after it appears."""
    config = write_config(tmp_path, epochs=EPOCHS)
    work = tmp_path / 'work'
    args = [sys.executable, str(HERE / '_slow_writer.py'), '0.05', 'train', config, '--work-dir', work, '--seed', '0']
    with open(tmp_path / 'slow.log', 'wb') as log:
        proc = subprocess.Popen(args, cwd=tmp_path, env=subprocess_env(), stdout=log, stderr=subprocess.STDOUT)
        half_written = _wait_for(lambda: any(work.glob('.epoch_2.pth.*.tmp')), proc)
        time.sleep(0.1)  # a few pieces into the file
        proc.kill()
        proc.wait()
    assert half_written, (tmp_path / 'slow.log').read_text()[-3000:]
    assert not (work / 'epoch_2.pth').exists()  # the half-written file is not visible under its name
    assert any(work.glob('.epoch_2.pth.*.tmp'))
    assert checkpoint_meta(load_checkpoint(work / 'latest.pth'))['epoch'] == 1
    _visible_checkpoints_load(work)

    # the resumed run: kill it the moment epoch_3.pth appears (between the rename and latest.pth)
    proc = start_cli(['train', config, '--work-dir', work, '--resume', '--seed', '0'], tmp_path, tmp_path / 'r.log')
    appeared = _wait_for(lambda: (work / f'epoch_{EPOCHS}.pth').exists(), proc)
    proc.kill()
    proc.wait()
    assert appeared, (tmp_path / 'r.log').read_text()[-3000:]
    _visible_checkpoints_load(work)
    _resume_to_the_end(config, work, tmp_path)
    _test_final_model(capsys, config, work)
