"""Damaged or wrong checkpoint files: one clear CheckpointError naming the file, from every entry point.

Each command gets the file where it takes a checkpoint (``imgcls test``, ``imgcls infer``,
``imgcls train --resume`` / ``--load-from``, ``init_cfg=dict(type='Pretrained', ...)``) and must exit
with code 1 and a message naming the file, never a traceback from inside torch.
"""

from __future__ import annotations

import io
import pickle
import random
import zipfile
from pathlib import Path

import pytest
import torch
from conftest import run_cli, write_config

from imgcls.engine.checkpoint import load_checkpoint
from imgcls.errors import CheckpointError


def _drop_entry(data: bytes, suffix: str) -> bytes:
    """The zip archive ``data`` without its entry ending in ``suffix``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, 'w') as zout:
        for name in zin.namelist():
            if not name.endswith(suffix):
                zout.writestr(name, zin.read(name))
    return out.getvalue()


def _flip(data: bytes, start: int, n: int = 64) -> bytes:
    bad = bytearray(data)
    for i in range(start, start + n):
        bad[i] ^= 0xFF
    return bytes(bad)


def _other_architecture() -> bytes:
    """A valid checkpoint of the same family at another width: every weight has another shape."""
    from imgcls.models.builder import build_classifier
    model = build_classifier(dict(type='ImageClassifier',
                                  backbone=dict(type='ResNet_CIFAR', depth=18, in_channels=1, stem_channels=16,
                                                base_channels=16),
                                  neck=dict(type='GlobalAveragePooling'),
                                  head=dict(type='LinearClsHead', num_classes=10, in_channels=128)))
    buf = io.BytesIO()
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, buf)
    return buf.getvalue()


def _variants(good: bytes) -> dict[str, bytes]:
    rng = random.Random(0)
    buf = io.BytesIO()
    torch.save([torch.zeros(2), 'not a dict'], buf)
    return {
        'truncated_head': good[:64],
        'truncated_middle': good[:len(good) // 2],
        'truncated_tail': good[:-20],
        'random_bytes': bytes(rng.randrange(256) for _ in range(4096)),
        'empty': b'',
        'other_architecture': _other_architecture(),
        'not_a_dict': buf.getvalue(),
        'zip_missing_tensor': _drop_entry(good, 'data/0'),
        'zip_missing_pickle': _drop_entry(good, 'data.pkl'),
        'flipped_bytes': _flip(good, len(good) // 3),
        'text_file': b'these are not the weights you are looking for\n',
        'plain_pickle': pickle.dumps({'state_dict': {'a': [1, 2]}}),
    }


@pytest.fixture(scope='module')
def damaged(trained_fast, tmp_path_factory):
    config, work = trained_fast
    good = (work / 'epoch_2.pth').read_bytes()
    root = tmp_path_factory.mktemp('damaged')
    files = {}
    for name, data in _variants(good).items():
        files[name] = root / f'{name}.pth'
        files[name].write_bytes(data)
    return config, files


VARIANTS = ['truncated_head', 'truncated_middle', 'truncated_tail', 'random_bytes', 'empty', 'other_architecture',
            'not_a_dict', 'zip_missing_tensor', 'zip_missing_pickle', 'flipped_bytes', 'text_file', 'plain_pickle']


def _assert_clean_failure(code: int, err: str, path: Path) -> None:
    assert code == 1, err
    assert 'Traceback' not in err and 'torch/' not in err
    assert str(path) in err or path.name in err, err


@pytest.mark.slow
@pytest.mark.parametrize('variant', VARIANTS)
def test_load_checkpoint_raises_checkpoint_error(damaged, variant):
    _, files = damaged
    if variant == 'other_architecture':
        load_checkpoint(files[variant])  # a valid file: it is refused when loaded into the model
        return
    with pytest.raises(CheckpointError, match=files[variant].name):
        load_checkpoint(files[variant])


@pytest.mark.slow
@pytest.mark.parametrize('variant', VARIANTS)
def test_imgcls_test(damaged, capsys, variant):
    config, files = damaged
    code, _, err = run_cli(capsys, ['test', config, files[variant]])
    _assert_clean_failure(code, err, files[variant])


@pytest.mark.slow
@pytest.mark.parametrize('variant', VARIANTS)
def test_imgcls_infer(damaged, capsys, tmp_path, variant):
    from PIL import Image
    config, files = damaged
    image = tmp_path / 'digit.png'
    Image.new('L', (8, 8), 128).save(image)
    code, _, err = run_cli(capsys, ['infer', config, files[variant], image])
    _assert_clean_failure(code, err, files[variant])


TRAIN_VARIANTS = ['truncated_middle', 'random_bytes', 'empty', 'other_architecture', 'not_a_dict',
                  'zip_missing_tensor', 'flipped_bytes']


@pytest.mark.slow
@pytest.mark.parametrize('how', ['resume', 'load_from', 'pretrained'])
@pytest.mark.parametrize('variant', TRAIN_VARIANTS)
def test_imgcls_train(damaged, capsys, tmp_path, how, variant):
    _, files = damaged
    path = files[variant]
    config = write_config(tmp_path, epochs=1)
    argv = ['train', config, '--work-dir', tmp_path / 'work']
    if how == 'resume':
        argv += ['--resume', path]
    elif how == 'load_from':
        argv += ['--load-from', path]
    else:
        argv += ['--cfg-options', f"model.backbone.init_cfg={{'type': 'Pretrained', 'checkpoint': '{path}', "
                                  "'prefix': 'backbone'}"]
    code, _, err = run_cli(capsys, argv)
    _assert_clean_failure(code, err, path)
    assert not list((tmp_path / 'work').glob('epoch_*.pth'))  # nothing was trained from a bad start


@pytest.mark.slow
def test_a_partial_fit_still_fine_tunes(trained_fast, capsys, tmp_path):
    """The usual fine-tuning case (another number of classes) is not mistaken for a wrong architecture."""
    config, work = trained_fast
    argv = ['train', write_config(tmp_path, epochs=1), '--work-dir', tmp_path / 'work', '--load-from',
            work / 'epoch_2.pth', '--cfg-options', 'model.head.num_classes=12']
    code, _, err = run_cli(capsys, argv)
    assert code == 0, err
    log = (tmp_path / 'work' / 'train.log').read_text()  # the skipped head is reported in the log
    assert 'skipped 2 with another shape (the classification head' in log and 'head.fc.weight' in log
