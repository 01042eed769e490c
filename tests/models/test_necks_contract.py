"""Every neck imgcls registers: a tensor or a tuple of (N, C, H, W) maps in, one (N, C) vector per map out.

A neck registered without an entry in SMALL is built with no arguments; add one when it needs some.
"""

from __future__ import annotations

import pytest
import torch

import imgcls.models  # noqa: F401  (registers every neck)
from imgcls.models.builder import NECKS, build_neck

SMALL: dict[str, dict] = {
    'GlobalAveragePooling': {},
    'GeneralizedMeanPooling': dict(p=3.0),
}
NAMES = sorted(k for k in NECKS.keys() if getattr(NECKS.get(k), '__module__', '').startswith('imgcls.'))


def _build(name: str):
    torch.manual_seed(0)
    neck = build_neck(dict(type=name, **SMALL.get(name, {})))
    neck.init_weights()
    return neck


def test_every_neck_is_covered():
    assert {'GlobalAveragePooling', 'GeneralizedMeanPooling'} <= set(NAMES)


@pytest.mark.parametrize('name', NAMES)
def test_tuple_in_tuple_out(name):
    """A backbone's tuple of maps gives a tuple of vectors, one per map, that backpropagates."""
    neck = _build(name)
    maps = (torch.rand(2, 3, 4, 4, requires_grad=True), torch.rand(2, 6, 2, 2, requires_grad=True))
    out = neck(maps)
    assert isinstance(out, tuple) and [tuple(o.shape) for o in out] == [(2, 3), (2, 6)]
    sum(o.sum() for o in out).backward()
    assert all(m.grad is not None and m.grad.abs().sum() > 0 for m in maps)
    # a plain tensor gives a plain tensor, the same as in a tuple
    with torch.no_grad():
        torch.testing.assert_close(neck(maps[0]), neck((maps[0],))[0])


@pytest.mark.parametrize('name', NAMES)
def test_pools_a_constant_map_to_its_value(name):
    """Pooling a map whose every value is v gives v: the neck pools, and weights nothing."""
    neck = _build(name)
    with torch.no_grad():
        out = neck(torch.full((2, 3, 5, 5), 0.5))
    torch.testing.assert_close(out, torch.full((2, 3), 0.5))


@pytest.mark.parametrize('name', NAMES)
def test_a_map_without_spatial_dims_is_reported(name):
    with pytest.raises(ValueError, match=rf'{name}.*got shape \(2, 3\)'):
        _build(name)(torch.rand(2, 3))
