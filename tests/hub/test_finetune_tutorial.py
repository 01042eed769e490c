"""docs/tutorials/finetune.md runs as written, offline: its weights URL is served by a local HTTP server.

The tutorial's MMClassification URL is replaced (in the config and in the model index) by the local server's
URL of a ResNet-18 CIFAR checkpoint, named like the published file with the served file's own sha256 prefix,
so the download, the hash check, the cache and the fine-tuning all run for real.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from imgcls.cli.main import main
from imgcls.hub import index
from imgcls.hub.api import get_model

DOC = Path(__file__).resolve().parents[2] / 'docs' / 'tutorials' / 'finetune.md'
NAME = 'resnet18_8xb16_cifar10'
PUBLISHED = ('https://download.openmmlab.com/mmclassification/v0/resnet/'
             'resnet18_b16x8_cifar10_20210528-bd6371c8.pth')
_FENCE = re.compile(r'^```(\w+)([^\n]*)\n(.*?)^```', re.S | re.M)


def _blocks() -> list[tuple[str, str, str]]:
    """(language, info, code) of every fenced block, in order."""
    return [(m[1], m[2].strip(), m[3]) for m in _FENCE.finditer(DOC.read_text(encoding='utf-8'))]


def _draw_shapes(root: Path) -> None:
    """32x32 images of a circle, a square or a triangle, in data/shapes/{train,val}/<class>/<i>.png."""
    yy, xx = np.mgrid[:32, :32]
    rng = np.random.default_rng(0)
    for split, count in (('train', 6), ('val', 3)):
        for shape in ('circle', 'square', 'triangle'):
            folder = root / 'data' / 'shapes' / split / shape
            folder.mkdir(parents=True)
            for i in range(count):
                cy, cx, r = rng.integers(12, 20), rng.integers(12, 20), rng.integers(6, 10)
                mask = {'circle': (yy - cy) ** 2 + (xx - cx) ** 2 < r * r,
                        'square': (abs(yy - cy) < r) & (abs(xx - cx) < r),
                        'triangle': (yy > cy - r) & (yy < cy + r) & (abs(xx - cx) < (yy - cy + r) / 2)}[shape]
                image = np.zeros((32, 32, 3), np.uint8)
                image[mask] = rng.integers(128, 256, 3)
                Image.fromarray(image).save(folder / f'{i}.png')


@pytest.mark.slow  # ~20 s: two epochs of a ResNet-18 and three 45 MB checkpoints
def test_the_finetune_tutorial_runs_as_written(tmp_path, server, hub_cache, monkeypatch, capsys):
    torch.manual_seed(0)
    published = {'state_dict': get_model(NAME).state_dict(), 'meta': {'CLASSES': [str(i) for i in range(10)]}}
    torch.save(published, tmp_path / 'published.pth')
    url = server.add('resnet18_b16x8_cifar10_20210528-{sha}.pth', (tmp_path / 'published.pth').read_bytes(),
                     folder='/mmclassification/v0/resnet')
    entries = index._entries()
    monkeypatch.setitem(entries, NAME, dataclasses.replace(entries[NAME], weights=url))
    project = tmp_path / 'project'
    project.mkdir()
    _draw_shapes(project)
    monkeypatch.chdir(project)
    # the snippets' prints are compared with the doc: log lines go to stderr until `imgcls train` sets up logging
    monkeypatch.setattr(logging.getLogger('imgcls'), 'handlers', [])
    monkeypatch.setattr(logging.getLogger('imgcls'), 'propagate', False)

    blocks = _blocks()
    assert any(info.startswith('config=') for _, info, _ in blocks) and PUBLISHED in DOC.read_text()
    outputs = []
    for i, (lang, info, code) in enumerate(blocks):
        if lang == 'python' and info.startswith('config='):
            (project / info.split('=', 1)[1]).write_text(code.replace(PUBLISHED, url), encoding='utf-8')
        elif lang == 'python':
            capsys.readouterr()
            exec(compile(code, f'{DOC.name} block {i}', 'exec'), {})
            printed = capsys.readouterr().out
            expected = blocks[i + 1]
            if expected[:2] == ('text', 'output'):
                assert printed == expected[2], printed
        elif lang == 'bash':
            for line in code.strip().splitlines():
                argv = shlex.split(line)
                assert argv[0] == 'imgcls', line
                assert main(argv[1:]) == 0, (line, capsys.readouterr())
                outputs.append((line, capsys.readouterr().out))

    listing = dict(outputs)['imgcls list models resnet18_']
    assert [row.split()[0] for row in listing.splitlines()] == ['resnet18_8xb16_cifar10', 'resnet18_8xb32_in1k']
    train_out = next(out for line, out in outputs if line.startswith('imgcls train'))
    assert 'skipped 2 with another shape (the classification head, num_classes differs' in train_out
    assert 'head.fc.weight (10, 512)->(3, 512), head.fc.bias (10,)->(3,)' in train_out
    assert sum(server.requests.values()) == 1  # get_model downloaded it; the training run found it in the cache
    assert (hub_cache / url.rsplit('/', 1)[1]).is_file()
    infer_out = next(out for line, out in outputs if line.startswith('imgcls infer'))
    assert 'circle' in infer_out or 'square' in infer_out or 'triangle' in infer_out
