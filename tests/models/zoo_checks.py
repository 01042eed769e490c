"""Helpers shared by the per-family transformer tests: meta-device sizes and mmcls-saved fixtures."""

from __future__ import annotations

import sys
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


def check_mmcls_fixture(name: str, tmp_path: Path, atol: float = 1e-5, rtol: float = 0.0) -> nn.Module:
    """The fixture loads strictly with mmcls's exact keys and gives mmcls's logits."""
    model, ckpt, io = load_mmcls_fixture(name, tmp_path)  # init_model loads strictly (then fuses BNs)
    assert set(ckpt) >= {'meta', 'state_dict', 'optimizer'}
    with torch.device('meta'):
        assert list(build_classifier(io['model']).state_dict()) == list(ckpt['state_dict'])  # and in order
    with torch.no_grad():
        logits = model.simple_test(io['img'], softmax=False, post_process=False)
    torch.testing.assert_close(logits, io['logits'], atol=atol, rtol=rtol)
    return model


def macs_breakdown(model: nn.Module, input_shape: tuple, functional_linears: tuple = ()) -> dict[str, int]:
    """Our MACs of one image and the parts other counters leave out or add, to compare with published FLOPs:
    ``attention`` (q @ k^T and attn @ v), ``functional_linear`` (linear layers called as functions inside the
    ``functional_linears`` module types: tokens x in x 3in, the fused qkv) and ``elementwise`` (what mmcv's
    counter adds: 2 operations per LayerNorm / BatchNorm input element, 1 per ReLU and pooling input element
    and 1 per output of a convolution with a bias)."""
    from imgcls.analysis.complexity import get_complexity
    from imgcls.models.utils import attention
    parts = {'attention': 0, 'functional_linear': 0, 'elementwise': 0}
    plain = attention.scaled_dot_product_attention

    def counted(q, k, v, *args, **kwargs):
        parts['attention'] += q.shape[:-1].numel() * k.shape[-2] * (q.shape[-1] + v.shape[-1])
        return plain(q, k, v, *args, **kwargs)

    def hook(module, inputs, output):
        if isinstance(module, nn.LayerNorm):
            parts['elementwise'] += 2 * inputs[0].numel()
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            parts['elementwise'] += 2 * inputs[0].numel()
        elif isinstance(module, (nn.ReLU, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
            parts['elementwise'] += inputs[0].numel()
        elif isinstance(module, nn.Conv2d) and module.bias is not None:
            parts['elementwise'] += output.numel()
        elif isinstance(module, functional_linears):
            x = inputs[0]
            parts['functional_linear'] += x.numel() * 3 * x.shape[-1]

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    # every imgcls module that imported the shared attention function calls it through its own globals
    users = [m for name, m in sys.modules.items()
             if name.startswith('imgcls.') and getattr(m, 'scaled_dot_product_attention', None) is plain]
    for module in users:
        module.scaled_dot_product_attention = counted
    try:
        parts['macs'] = get_complexity(model, input_shape).macs
    finally:
        for module in users:
            module.scaled_dot_product_attention = plain
        for h in handles:
            h.remove()
    return parts


def mmcv_convention_macs(model: nn.Module, input_shape: tuple, skipped_modules: tuple = ()) -> tuple[int, int]:
    """(our MACs, the count mmcv's counter makes): without the attention products and functional linears,
    with the elementwise operations (see :func:`macs_breakdown`)."""
    p = macs_breakdown(model, input_shape, skipped_modules)
    return p['macs'], p['macs'] - p['attention'] - p['functional_linear'] + p['elementwise']
