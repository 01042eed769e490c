"""Checkpoints load without running code unless asked; released weights are .safetensors with metadata."""

from __future__ import annotations

import argparse
import ast
import contextlib
import errno
import json
import os
from pathlib import Path

import pytest
import torch
from conftest import REPO, run_cli, write_config

from imgcls import checkpoint_io as checkpoint_module
from imgcls.engine.checkpoint import checkpoint_meta, load_checkpoint
from imgcls.errors import CheckpointError

PACKAGE = REPO / 'imgcls'


# -- what the source may call -----------------------------------------------------------------------------


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                yield f'{func.value.id}.{func.attr}', node
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Attribute) \
                    and isinstance(func.value.value, ast.Name):
                yield f'{func.value.value.id}.{func.value.attr}.{func.attr}', node
            elif isinstance(func, ast.Name):
                yield func.id, node


def _keyword(node: ast.Call, name: str):
    return next((k.value for k in node.keywords if k.arg == name), None)


# exec/eval are the .py-config loader (documented: .py configs are code) and nothing else
ALLOWED = {('exec', 'loading.py'), ('torch.jit.load', 'export.py')}


def test_every_deserialiser_in_the_package_is_a_safe_one():
    problems = []
    for path in sorted(PACKAGE.rglob('*.py')):
        tree = ast.parse(path.read_text(encoding='utf-8'))
        for name, node in _calls(tree):
            where = f'{path.relative_to(REPO)}:{node.lineno}'
            if name == 'torch.load':
                weights_only = _keyword(node, 'weights_only')
                if weights_only is None or (isinstance(weights_only, ast.Constant) and not weights_only.value):
                    problems.append(f'{where}: torch.load without weights_only=True')
            elif name in ('pickle.load', 'pickle.loads', 'yaml.unsafe_load', 'yaml.full_load', 'marshal.loads'):
                problems.append(f'{where}: {name} can run code from the file')
            elif name == 'yaml.load' and _keyword(node, 'Loader') is None:
                problems.append(f'{where}: yaml.load without a safe Loader')
            elif name == 'np.load' and isinstance(_keyword(node, 'allow_pickle'), ast.Constant) \
                    and _keyword(node, 'allow_pickle').value:
                problems.append(f'{where}: np.load(allow_pickle=True)')
            elif name in ('eval', 'exec', 'torch.jit.load') and (name, path.name) not in ALLOWED:
                problems.append(f'{where}: {name}')
    assert not problems, '\n'.join(problems)


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    from imgcls.cli.main import build_parser
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_command_that_loads_a_checkpoint_has_unsafe_load():
    loaders = {}
    for name, parser in _subcommands().items():
        dests = {a.dest for a in parser._actions}
        if dests & {'checkpoint', 'load_from', 'resume'} or name == 'convert':
            loaders[name] = '--unsafe-load' in parser._option_string_actions
    assert set(loaders) >= {'train', 'test', 'infer', 'export', 'cam', 'convert', 'publish'}
    assert all(loaders.values()), loaders


# -- pickled objects are refused, and --unsafe-load lets trusted ones through -------------------------------


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}',))


@pytest.fixture(scope='module')
def pickled(trained_fast, tmp_path_factory):
    """(config, checkpoint with an argparse.Namespace inside, checkpoint that runs `touch MARKER`, marker, image)."""
    from PIL import Image
    config, work = trained_fast
    root = tmp_path_factory.mktemp('pickled')
    ckpt = torch.load(work / 'epoch_2.pth', weights_only=True)
    with_namespace = root / 'namespace.pth'
    torch.save(dict(ckpt, meta=dict(ckpt['meta'], args=argparse.Namespace(lr=0.1))), with_namespace)
    marker = root / 'PWNED'
    evil = root / 'evil.pth'
    torch.save(dict(ckpt, meta=dict(ckpt['meta'], x=_Evil(marker))), evil)
    image = root / 'digit.png'
    Image.new('L', (8, 8), 200).save(image)
    return config, with_namespace, evil, marker, image


def _argv(command: str, config: Path, ckpt: Path, image: Path, out: Path) -> list:
    return {
        'test': ['test', config, ckpt],
        'infer': ['infer', config, ckpt, image],
        'export': ['export', config, ckpt, '--out', out / 'model.pt', '--shape', '16', '16'],
        'cam': ['cam', config, ckpt, image, '--out', out / 'cam.png'],
        'convert': ['convert', ckpt, out / 'converted.pth', '--from', 'mmcls'],
        'publish': ['publish', ckpt, out / 'model.safetensors'],
        'resume': ['train', config, '--work-dir', out / 'work', '--resume', ckpt],
        'load_from': ['train', config, '--work-dir', out / 'work', '--load-from', ckpt,
                      '--cfg-options', 'runner.max_epochs=1'],
        'pretrained': ['train', config, '--work-dir', out / 'work', '--cfg-options', 'runner.max_epochs=1',
                       f"model.backbone.init_cfg={{'type': 'Pretrained', 'checkpoint': '{ckpt}', "
                       "'prefix': 'backbone'}"],
    }[command]


COMMANDS = ['test', 'infer', 'export', 'cam', 'convert', 'publish', 'resume', 'load_from', 'pretrained']


@pytest.mark.slow
@pytest.mark.parametrize('command', COMMANDS)
def test_pickled_code_is_refused_and_never_run(pickled, capsys, tmp_path, command):
    config, _, evil, marker, image = pickled
    code, _, err = run_cli(capsys, _argv(command, config, evil, image, tmp_path))
    assert code == 1 and 'Traceback' not in err
    assert 'evil.pth' in err and 'arbitrary code' in err and '--unsafe-load' in err and 'system' in err
    assert not marker.exists()


@pytest.mark.slow
@pytest.mark.parametrize('command', COMMANDS)
def test_unsafe_load_lets_a_trusted_checkpoint_through(pickled, capsys, tmp_path, command):
    config, with_namespace, _, _, image = pickled
    argv = _argv(command, config, with_namespace, image, tmp_path)
    code, _, err = run_cli(capsys, argv)
    assert code == 1 and 'Namespace' in err and '--unsafe-load' in err
    code, _, err = run_cli(capsys, argv + ['--unsafe-load'])
    assert code == 0, err


# -- .safetensors for released weights ------------------------------------------------------------------------


@pytest.mark.slow
def test_publish_writes_weights_classes_and_config(trained_fast, capsys, tmp_path):
    from safetensors import safe_open
    config, work = trained_fast
    out = tmp_path / 'release' / 'digits.safetensors'
    code, stdout, err = run_cli(capsys, ['publish', work / 'epoch_2.pth', out])
    assert code == 0, err
    assert '10 class names' in stdout
    with safe_open(str(out), framework='pt') as f:
        header = f.metadata()
        keys = set(f.keys())
    assert json.loads(header['CLASSES'])[:3] == ['zero', 'one', 'two']
    assert 'ResNet_CIFAR' in header['config'] and header['epoch'] == '2' and header['weights'] == 'model'
    original = load_checkpoint(work / 'epoch_2.pth')
    assert keys == set(original['state_dict'])  # the weights only: no optimizer, RNG or hook state
    loaded = load_checkpoint(out)
    assert checkpoint_meta(loaded)['CLASSES'][9] == 'nine' and checkpoint_meta(loaded)['epoch'] == 2
    for key, value in original['state_dict'].items():
        assert torch.equal(loaded['state_dict'][key], value), key

    # test and infer take it, with the class names
    code, stdout, err = run_cli(capsys, ['test', config, out])
    assert code == 0 and 'accuracy_top-1' in stdout, err
    from PIL import Image
    Image.new('L', (8, 8), 30).save(tmp_path / 'x.png')
    code, stdout, err = run_cli(capsys, ['infer', config, out, tmp_path / 'x.png', '--json'])
    assert code == 0, err
    assert json.loads(stdout)[0]['pred_class'] in json.loads(header['CLASSES'])
    # resuming needs the training state, which a release does not have
    code, _, err = run_cli(capsys, ['train', config, '--work-dir', tmp_path / 'w', '--resume', out])
    assert code == 1 and 'optimizer' in err and '--load-from' in err


@pytest.mark.slow
def test_publish_ema_weights(trained_fast, capsys, tmp_path):
    _, work = trained_fast
    ckpt = load_checkpoint(work / 'epoch_2.pth')
    ema = {k: v + 1 if v.is_floating_point() else v for k, v in ckpt['state_dict'].items()}
    src = tmp_path / 'with_ema.pth'
    torch.save(dict(ckpt, state_dict_ema=ema), src)
    code, stdout, err = run_cli(capsys, ['publish', src, tmp_path / 'ema.safetensors', '--ema'])
    assert code == 0 and 'ema weights' in stdout, err
    loaded = load_checkpoint(tmp_path / 'ema.safetensors')
    assert torch.equal(loaded['state_dict']['head.fc.weight'], ema['head.fc.weight'])
    assert loaded['meta']['weights'] == 'ema'
    code, _, err = run_cli(capsys, ['publish', work / 'epoch_2.pth', tmp_path / 'no.safetensors', '--ema'])
    assert code == 1 and 'EMA' in err and not (tmp_path / 'no.safetensors').exists()
    code, _, err = run_cli(capsys, ['publish', src, tmp_path / 'model.pth'])
    assert code == 1 and '.safetensors' in err


@pytest.mark.slow
def test_safetensors_is_recognised_by_content_and_damage_is_reported(trained_fast, capsys, tmp_path):
    config, work = trained_fast
    out = tmp_path / 'm.safetensors'
    assert run_cli(capsys, ['publish', work / 'epoch_2.pth', out])[0] == 0
    renamed = tmp_path / 'renamed.pth'
    renamed.write_bytes(out.read_bytes())
    assert load_checkpoint(renamed)['meta']['CLASSES'][0] == 'zero'
    data = out.read_bytes()
    for i, damaged in enumerate([data[:len(data) // 2], data[:20], b'\x10\0\0\0\0\0\0\0{"a": 1' + b'\0' * 40]):
        path = tmp_path / f'bad{i}.safetensors'
        path.write_bytes(damaged)
        with pytest.raises(CheckpointError, match=path.name):
            load_checkpoint(path)
        code, _, err = run_cli(capsys, ['test', config, path])
        assert code == 1 and path.name in err and 'Traceback' not in err


@pytest.mark.slow
def test_a_failed_publish_leaves_the_previous_release(trained_fast, tmp_path, monkeypatch):
    from imgcls import safetensors_io
    from imgcls.apis.publish import publish_checkpoint
    _, work = trained_fast
    out = tmp_path / 'm.safetensors'
    publish_checkpoint(work / 'epoch_1.pth', out)
    before = out.read_bytes()

    def full_disk(path, data):
        raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(safetensors_io, 'atomic_write_bytes', full_disk)
    with pytest.raises(CheckpointError, match='disk'):
        publish_checkpoint(work / 'epoch_2.pth', out)
    assert out.read_bytes() == before


# -- a full disk while saving a checkpoint -------------------------------------------------------------------


class _FullDiskFile:
    """Passes writes through until ``limit`` bytes, then fails as a full disk does."""

    def __init__(self, f, limit: int):
        self._f, self._left = f, limit

    def write(self, data) -> int:
        n = len(memoryview(data).cast('B'))
        if n > self._left:
            self._f.write(memoryview(data).cast('B')[:self._left])
            raise OSError(errno.ENOSPC, 'No space left on device')
        self._left -= n
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)


@pytest.mark.slow
def test_enospc_while_saving_keeps_the_previous_checkpoint_and_resume_works(tmp_path, capsys, monkeypatch):
    config = write_config(tmp_path, epochs=2)
    work = tmp_path / 'work'
    real = checkpoint_module.atomic_open

    @contextlib.contextmanager
    def disk_fills_at_epoch_2(path, mode='wb', encoding=None):
        with real(path, mode, encoding) as f:
            yield _FullDiskFile(f, limit=100_000) if Path(path).name == 'epoch_2.pth' else f

    monkeypatch.setattr(checkpoint_module, 'atomic_open', disk_fills_at_epoch_2)
    code, _, err = run_cli(capsys, ['train', config, '--work-dir', work, '--seed', '0'])
    assert code == 1 and 'Traceback' not in err
    assert 'epoch_2.pth' in err and 'disk' in err and '--resume' in err
    assert not (work / 'epoch_2.pth').exists()
    assert not list(work.glob('.*tmp*'))  # the partial temporary file was removed
    epoch1 = (work / 'epoch_1.pth').read_bytes()
    assert (work / 'latest.pth').read_bytes() == epoch1  # latest.pth still points at the intact epoch 1
    assert checkpoint_meta(load_checkpoint(work / 'latest.pth'))['epoch'] == 1

    monkeypatch.setattr(checkpoint_module, 'atomic_open', real)  # space was freed
    code, _, err = run_cli(capsys, ['train', config, '--work-dir', work, '--seed', '0', '--resume'])
    assert code == 0, err
    assert (work / 'epoch_1.pth').read_bytes() == epoch1
    assert checkpoint_meta(load_checkpoint(work / 'epoch_2.pth'))['epoch'] == 2
