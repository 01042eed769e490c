"""Helpers shared by the per-family transformer tests: meta-device sizes and mmcls-saved fixtures."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from imgcls import Config
from imgcls.apis import init_model
from imgcls.models.builder import build_classifier

FIXTURES = Path(__file__).parent / 'fixtures'


def model_cfg(path: str) -> dict:
    """The ``model`` dict of a config file, without batch augments (they draw random numbers when built)."""
    cfg = Config.fromfile(path).model.to_dict()
    cfg['train_cfg'] = None
    return cfg


def meta_params(cfg: dict) -> int:
    """Parameter count of the classifier ``cfg``, built on the meta device (no memory, no init)."""
    with torch.device('meta'):
        model = build_classifier(cfg)
    return sum(p.numel() for p in model.parameters())


def load_mmcls_fixture(name: str, tmp_path: Path) -> tuple[nn.Module, dict, dict]:
    """``init_model`` of fixture ``name`` (a checkpoint mmcls 0.25 saved with its own model, optimizer and
    meta included); returns the model, the checkpoint and ``{'img', 'logits', 'model'}`` that mmcls gave."""
    io = torch.load(FIXTURES / f'{name}_io.pt', weights_only=True)
    config = tmp_path / f'{name}.py'
    config.write_text(f'model = {io["model"]!r}\namp = None\n')
    model = init_model(str(config), str(FIXTURES / f'{name}_mmcls.pth'))
    ckpt = torch.load(FIXTURES / f'{name}_mmcls.pth', weights_only=True)
    return model, ckpt, io


def check_mmcls_fixture(name: str, tmp_path: Path, atol: float = 1e-5) -> nn.Module:
    """The fixture loads strictly with mmcls's exact keys and gives mmcls's logits."""
    model, ckpt, io = load_mmcls_fixture(name, tmp_path)
    assert set(ckpt) >= {'meta', 'state_dict', 'optimizer'}
    assert list(model.state_dict()) == list(ckpt['state_dict'])
    with torch.no_grad():
        logits = model.simple_test(io['img'], softmax=False, post_process=False)
    torch.testing.assert_close(logits, io['logits'], atol=atol, rtol=0)
    return model
