"""Every file imgcls produces appears whole or not at all; log lines are never half written."""

from __future__ import annotations

import ast
import json
import os
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import REPO

from imgcls.fileio import atomic_open, atomic_write_text

# Each place that writes a file, and why it is safe. A new write site fails this test until it goes through
# imgcls.fileio (or is added here with its reason).
REVIEWED = {
    ('imgcls/fileio.py', 'tempfile.mkstemp'): 'the atomic writer itself',
    ('imgcls/checkpoint_io.py', 'torch.save'): 'into an atomic_open handle',
    ('imgcls/fileio.py', 'os.open'): 'opening the folder to fsync the rename',
    ('imgcls/hub/download.py', 'os.open'): 'a lock file, never written: flock lets one process download at a time',
    ('imgcls/safetensors_io.py', 'save'): 'safetensors.torch.save returns bytes; atomic_write_bytes writes them',
    ('imgcls/convert/__init__.py', 'save'): 'safetensors.torch.save returns bytes; atomic_write_bytes writes them',
    ('imgcls/engine/hooks/checkpoint_hook.py', 'os.link'): 'latest.pth: a link made under a temp name, then os.replace',
    ('imgcls/engine/hooks/checkpoint_hook.py', 'shutil.copyfile'): 'latest.pth fallback: temp copy, then os.replace',
    ('imgcls/engine/hooks/logger.py', 'os.open'): 'log.jsonl: one O_APPEND write per whole line',
    ('imgcls/engine/hooks/logger.py', 'open'): 'log.jsonl: cutting a half-written last line before appending',
    ('imgcls/engine/hooks/trackers.py', 'SummaryWriter'): "TensorBoard's own append-only event files (optional)",
    ('imgcls/engine/log.py', 'logging.FileHandler'): 'train.log: a human-readable log, appended line by line',
    ('imgcls/analysis/browse.py', 'fig.savefig'): 'into an atomic_open handle',
    ('imgcls/analysis/plots.py', 'fig.savefig'): 'into a BytesIO, then atomic_write_bytes',
    ('imgcls/analysis/log_curves.py', 'fig.savefig'): 'into a BytesIO, then atomic_write_bytes',
    ('imgcls/apis/export.py', 'torch.onnx.export'): 'into a BytesIO (or none), then atomic_write_bytes',
    ('imgcls/apis/export.py', 'torch.jit.save'): 'into a BytesIO, then atomic_write_bytes',
    # tools/compat_report.py writes tiny data into its own temporary folder, made anew each run
    **{('tools/compat_report.py', call): 'scratch data of the compatibility report' for call in (
        '(base / cls.meta_file).write_bytes',
        '(base / name).write_bytes',
        "(folder / 'ann.txt').write_text",
        "(folder / f'{split}-images-idx3-ubyte').write_bytes",
        "(folder / f'{split}-labels-idx1-ubyte').write_bytes",
        "(folder / 'image_class_labels.txt').write_text",
        "(folder / 'images.txt').write_text",
        "(folder / 'train_test_split.txt').write_text",
        "(voc / 'Annotations' / f'{i:06d}.xml').write_text",
        "(voc / 'ImageSets' / 'Main' / f'{split}.txt').write_text",
        'Image.fromarray(np.random.default_rng(seed).integers(0, 256, (256, 320, 3), dtype=np.uint8)).save',
    )},
}
WRITERS = {'write_text', 'write_bytes', 'savefig', 'tofile', 'copyfile', 'copy2', 'copytree', 'FileHandler',
           'SummaryWriter', 'link', 'symlink', 'mkstemp', 'NamedTemporaryFile', 'save', 'save_file', 'imwrite',
           'dump', 'safe_dump', 'export'}


def _write_sites(path: Path):
    tree = ast.parse(path.read_text(encoding='utf-8'))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, 'id', None)
        where = ast.unparse(func)
        if name == 'open':
            mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == 'mode'),
                                                                 None)
            text = mode.value if isinstance(mode, ast.Constant) else None
            if where == 'os.open' or (mode is not None and (text is None or set('wax+') & set(str(text)))):
                yield where
        elif name in WRITERS and not (name in ('dump', 'safe_dump') and len(node.args) < 2
                                      and not any(k.arg == 'stream' for k in node.keywords)):
            if where.endswith(('.dump', '.pretty_text')) and where.startswith(('cfg', 'self')):
                continue  # Config.dump: atomic_write_text inside
            yield where
        elif name in ('atomic_write_bytes', 'atomic_write_text', 'atomic_open'):
            yield where


def test_every_file_write_is_atomic_or_reviewed():
    found = Counter()
    for root in ('imgcls', 'tools'):
        for path in sorted((REPO / root).rglob('*.py')):
            for call in _write_sites(path):
                found[(str(path.relative_to(REPO)), call)] += 1
    unreviewed = sorted(k for k in found if k not in REVIEWED and not k[1].startswith('atomic_'))
    assert not unreviewed, f'file writes that bypass imgcls.fileio: {unreviewed}'


def test_atomic_open_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / 'out.json'
    atomic_write_text(path, 'old')
    os.chmod(path, 0o640)
    with pytest.raises(RuntimeError), atomic_open(path, 'w') as f:
        f.write('new, half')
        raise RuntimeError('killed')
    assert path.read_text() == 'old'
    assert os.listdir(tmp_path) == ['out.json']  # the temporary file is gone
    atomic_write_text(path, 'new')
    assert path.read_text() == 'new' and os.stat(path).st_mode & 0o777 == 0o640  # permissions kept


def _logger_hook(work: Path):
    from imgcls.engine.hooks.logger import JsonLoggerHook
    hook = JsonLoggerHook()
    hook.before_run(SimpleNamespace(work_dir=work))
    return hook


def test_a_half_written_log_line_is_cut_before_appending(tmp_path):
    from imgcls.analysis.log_curves import read_log
    log = tmp_path / 'log.jsonl'
    log.write_text('{"mode": "train", "iter": 1, "loss": 2.0}\n{"mode": "train", "iter": 2, "lo')  # killed mid-line
    hook = _logger_hook(tmp_path)
    hook.write(None, {'mode': 'train', 'iter': 2, 'loss': 1.5, 'lr': float('nan')})
    lines = log.read_text().splitlines()
    assert [json.loads(line)['iter'] for line in lines] == [1, 2]
    assert json.loads(lines[1])['lr'] is None  # NaN is written as null: every line is valid JSON
    assert len(read_log(log).records('train')) == 2


def test_a_log_line_is_one_write_call(tmp_path, monkeypatch):
    from imgcls.engine.hooks import logger
    hook = _logger_hook(tmp_path)
    calls = []
    real = os.write
    monkeypatch.setattr(logger.os, 'write', lambda fd, data: calls.append(bytes(data)) or real(fd, data))
    hook.write(None, {'mode': 'train', 'iter': 1, 'name': 'x' * 5000})
    assert len(calls) == 1 and calls[0].endswith(b'\n') and json.loads(calls[0])['iter'] == 1


def test_stale_temporary_files_of_killed_writes_are_removed(tmp_path):
    from imgcls.engine.hooks.checkpoint_hook import CheckpointHook
    stale = [tmp_path / '.epoch_3.pth.k2j3h4.tmp', tmp_path / '.latest.pth.tmp4242', tmp_path / '.best_top1.pth.x.tmp']
    kept = [tmp_path / 'epoch_2.pth', tmp_path / '.keep', tmp_path / 'notes.tmp']
    for p in stale + kept:
        p.write_bytes(b'x')
    CheckpointHook().before_run(SimpleNamespace(work_dir=tmp_path))
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)
