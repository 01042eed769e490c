"""Helpers for the family tests: state dicts in mmcls 0.25's layout, checkpoints as mmcv saves them.

The expected (key, shape) lists are written per family in its test from mmcls's module structure, so a
renamed or reshaped parameter fails the test instead of silently matching our own model.
"""

from __future__ import annotations

from pathlib import Path

import torch

from imgcls.apis import init_model
from imgcls.models.builder import build_classifier

Shapes = dict[str, tuple[int, ...]]


def bn_keys(prefix: str, channels: int) -> Shapes:
    """The five entries of a BatchNorm's state dict."""
    keys = {f'{prefix}.{n}': (channels,) for n in ('weight', 'bias', 'running_mean', 'running_var')}
    keys[f'{prefix}.num_batches_tracked'] = ()
    return keys


def conv_keys(prefix: str, cin: int, cout: int, k: int | tuple[int, int], groups: int = 1,
              bias: bool = False) -> Shapes:
    """A conv's weight (and bias)."""
    kh, kw = (k, k) if isinstance(k, int) else k
    keys = {f'{prefix}.weight': (cout, cin // groups, kh, kw)}
    if bias:
        keys[f'{prefix}.bias'] = (cout,)
    return keys


def random_state(shapes: Shapes, seed: int = 0, scale: float = 0.1) -> dict[str, torch.Tensor]:
    """Random values for ``shapes``: positive variances, integer batch counters, small weights."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in shapes.items():
        if key.endswith('num_batches_tracked'):
            state[key] = torch.tensor(7)
        elif key.endswith('running_var'):
            state[key] = torch.rand(shape, generator=g) + 0.5
        elif key.endswith('.weight') and len(shape) == 1:  # norm scales around 1
            state[key] = torch.rand(shape, generator=g) + 0.5
        else:
            state[key] = torch.randn(shape, generator=g) * scale
    return state


def save_mmcls_checkpoint(path: Path, state_dict: dict[str, torch.Tensor]) -> Path:
    """Write ``state_dict`` the way mmcv's ``save_checkpoint`` does: meta, state_dict, optimizer."""
    meta = dict(mmcv_version='1.7.0', time='Fri Dec  4 12:00:00 2026', epoch=3, iter=30, seed=0,
                exp_name='model.py', config="model = dict(type='ImageClassifier')", hook_msgs={})
    optimizer = {'state': {0: {'momentum_buffer': torch.zeros(3)}},
                 'param_groups': [dict(lr=0.1, momentum=0.9, dampening=0, weight_decay=1e-4, nesterov=False,
                                       params=list(range(len(state_dict))))]}
    torch.save({'meta': meta, 'state_dict': state_dict, 'optimizer': optimizer}, path)
    return path


def write_config(path: Path, model: dict) -> Path:
    """A config file holding only ``model``."""
    path.write_text(f'model = {model!r}\n')
    return path


def logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.simple_test(x, softmax=False, post_process=False)


def check_mmcls_layout(tmp_path: Path, model_cfg: dict, shapes: Shapes, side: int, seed: int = 0,
                       channels: int = 3) -> None:
    """The model of ``model_cfg`` has exactly ``shapes`` (mmcls's keys); an mmcls checkpoint with them loads
    strictly through ``init_model`` and gives the logits of the plain model loaded with the same weights."""
    model = build_classifier(model_cfg).eval()
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    extra, missing = sorted(set(ours) - set(shapes)), sorted(set(shapes) - set(ours))
    assert not extra and not missing, f'keys mmcls does not have: {extra[:5]}; mmcls keys we lack: {missing[:5]}'
    wrong = {k: (s, shapes[k]) for k, s in ours.items() if shapes[k] != s}
    assert not wrong, f'(our shape, mmcls shape): {dict(list(wrong.items())[:5])}'
    state = random_state(shapes, seed)
    model.load_state_dict(state, strict=True)
    config = write_config(tmp_path / 'model.py', model_cfg)
    ckpt = save_mmcls_checkpoint(tmp_path / 'mmcls.pth', state)
    loaded = init_model(str(config), str(ckpt), cfg_options={'amp': 'fp32'})
    x = torch.randn(2, channels, side, side, generator=torch.Generator().manual_seed(seed))
    ref, got = logits(model, x), logits(loaded, x)
    diff = (got - ref).abs().max().item()
    assert diff <= 1e-5 * max(1.0, ref.abs().max().item()), f'init_model logits differ by {diff}'
