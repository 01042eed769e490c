"""Checks shared by the tests of the families ported from mmcls 0.25 (imported by test_<family>.py files).

- ``config_params``: parameters of a config's classifier, counted on the meta device (nothing allocated).
- ``check_mmcls_checkpoint``: a checkpoint in mmcls 0.25's layout (``meta``, ``state_dict``, ``optimizer``) whose
  keys and shapes are the recorded mmcls ones loads strictly through ``init_model`` and gives the logits of the
  model it was saved from. The ``fixtures/*_mmcls_keys.json`` lists were written from a tiny model of each family
  and compared by hand, module by module, with mmcls 0.25's source (mmcls itself could not be run to save them).
- ``load_reference_weights``: copy an independent implementation's weights (timm's) to compare logits.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from imgcls import Config
from imgcls.apis import build_model, init_model, prepare_config
from imgcls.models.builder import build_classifier

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / 'configs'
FIXTURES = Path(__file__).resolve().parent / 'fixtures'


def config_params(config: str) -> int:
    """Parameters of ``configs/<config>``'s classifier."""
    cfg = Config.fromfile(CONFIGS / config)
    with torch.device('meta'):
        model = build_classifier(cfg.model)
    return sum(p.numel() for p in model.parameters())


def randomize(model: nn.Module, seed: int = 0) -> None:
    """Random weights everywhere and non-trivial norm statistics, so a misplaced tensor shows in the logits."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                values = torch.rand(tensor.shape, generator=gen)
                # variances stay positive; everything else is centred and small
                tensor.copy_(values + 0.5 if name.endswith('running_var') else (values - 0.5) * 0.4)


def key_shapes(model: nn.Module) -> list[list]:
    """``[key, shape]`` for every state-dict entry (the layout fixtures record)."""
    return [[k, list(v.shape)] for k, v in model.state_dict().items()]


def check_mmcls_checkpoint(cfg: Config, fixture: str, tmp_path: Path, side: int = 64) -> None:
    """Save a randomly weighted model of ``cfg`` in mmcls's checkpoint layout, check its keys and shapes against
    ``fixtures/<fixture>``, load it with ``init_model``, compare logits."""
    prepare_config(cfg)
    model = build_model(cfg).eval()
    randomize(model)
    expected = json.loads((FIXTURES / fixture).read_text())
    assert key_shapes(model) == expected, 'the state-dict layout differs from mmcls 0.25'
    ckpt = {'meta': {'mmcls_version': '0.25.0', 'epoch': 1, 'iter': 10, 'CLASSES': None},
            'state_dict': {k: v.clone() for k, v in model.state_dict().items()},
            'optimizer': {'state': {}, 'param_groups': [{'lr': 0.1, 'momentum': 0.9, 'params': [0, 1]}]}}
    path = tmp_path / 'mmcls.pth'
    torch.save(ckpt, path)
    cfg.amp, cfg.fuse_conv_bn = 'fp32', False  # the exact model, on any CPU kind
    loaded = init_model(cfg, str(path))
    x = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = model.simple_test(x, post_process=False, softmax=False)
        got = loaded.simple_test(x, post_process=False, softmax=False)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def load_reference_weights(model: nn.Module, reference: nn.Module, rename, fold_bias: tuple[str, ...] = ()) -> None:
    """Copy ``reference``'s (randomized) weights into ``model`` through ``rename`` (reference key → model key),
    strictly. ``fold_bias`` names reference convs followed by a BatchNorm whose bias the model does not have:
    in eval mode ``bn(conv(x) + b)`` is ``bn'(conv(x))`` with ``running_mean' = running_mean - b``."""
    source = dict(reference.state_dict())
    for conv, norm in fold_bias:
        bias = source.pop(f'{conv}.bias')
        source[f'{norm}.running_mean'] = source[f'{norm}.running_mean'] - bias
    model.load_state_dict({rename(k): v for k, v in source.items()}, strict=True)
