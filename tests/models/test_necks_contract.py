"""Every neck imgcls registers: a tuple of maps in, a tuple out, gradients through.

Pooling necks give one (N, C) vector per (N, C, H, W) map. A neck registered without an entry in SMALL or
FUSING is taken for a pooling neck built with no arguments; add an entry when it needs arguments, or when
it merges several maps into one (FUSING: its arguments, input shapes and output shapes).
"""

from __future__ import annotations

import pytest
import torch

import imgcls.models  # noqa: F401  (registers every neck)
from imgcls.errors import ConfigError
from imgcls.models.builder import NECKS, build_neck

SMALL: dict[str, dict] = {
    'GlobalAveragePooling': {},
    'GeneralizedMeanPooling': dict(p=3.0),
}
FUSING: dict[str, tuple[dict, list[tuple], list[tuple]]] = {
    'HRFuseScales': (dict(in_channels=(2, 4, 8, 16), out_channels=8),
                     [(2, 2, 16, 16), (2, 4, 8, 8), (2, 8, 4, 4), (2, 16, 2, 2)], [(2, 8, 2, 2)]),
}
NAMES = sorted(k for k in NECKS.keys() if getattr(NECKS.get(k), '__module__', '').startswith('imgcls.'))
POOLING = [name for name in NAMES if name not in FUSING]


def _build(name: str):
    torch.manual_seed(0)
    neck = build_neck(dict(type=name, **(FUSING[name][0] if name in FUSING else SMALL.get(name, {}))))
    neck.init_weights()
    return neck


def test_every_neck_is_covered():
    assert {'GlobalAveragePooling', 'GeneralizedMeanPooling'} <= set(NAMES)


def _project(out) -> torch.Tensor:
    """A fixed random projection of the outputs: a plain sum can be constant (a BatchNorm's output sums to a
    constant over the batch), and then the gradients checked would be rounding noise."""
    g = torch.Generator().manual_seed(0)
    return sum((o * torch.randn(o.shape, generator=g)).sum() for o in out)


@pytest.mark.parametrize('name', sorted(FUSING))
def test_fusing_neck_tuple_in_tuple_out(name):
    """A fusing neck turns the backbone's maps into its (fewer) maps, and every input map gets gradients."""
    _, shapes, out_shapes = FUSING[name]
    neck = _build(name)
    maps = tuple(torch.rand(shape, requires_grad=True) for shape in shapes)
    out = neck(maps)
    assert isinstance(out, tuple) and [tuple(o.shape) for o in out] == out_shapes
    _project(out).backward()
    assert all(m.grad is not None and m.grad.abs().sum() > 0 for m in maps)


@pytest.mark.parametrize('name', POOLING)
def test_tuple_in_tuple_out(name):
    """A backbone's tuple of maps gives a tuple of vectors, one per map, that backpropagates."""
    neck = _build(name)
    maps = (torch.rand(2, 3, 4, 4, requires_grad=True), torch.rand(2, 6, 2, 2, requires_grad=True))
    out = neck(maps)
    assert isinstance(out, tuple) and [tuple(o.shape) for o in out] == [(2, 3), (2, 6)]
    _project(out).backward()
    assert all(m.grad is not None and m.grad.abs().sum() > 0 for m in maps)
    # a plain tensor gives a plain tensor, the same as in a tuple
    with torch.no_grad():
        torch.testing.assert_close(neck(maps[0]), neck((maps[0],))[0])


@pytest.mark.parametrize('name', POOLING)
def test_pools_a_constant_map_to_its_value(name):
    """Pooling a map whose every value is v gives v: the neck pools, and weights nothing."""
    neck = _build(name)
    with torch.no_grad():
        out = neck(torch.full((2, 3, 5, 5), 0.5))
    torch.testing.assert_close(out, torch.full((2, 3), 0.5))


@pytest.mark.parametrize('name', POOLING)
def test_a_map_without_spatial_dims_is_reported(name):
    with pytest.raises(ValueError, match=rf'{name}.*got shape \(2, 3\)'):
        _build(name)(torch.rand(2, 3))


def test_a_list_of_necks_runs_in_turn_under_mmcls_keys():
    necks = build_neck([dict(type='GeneralizedMeanPooling', p=2.0), dict(type='GlobalAveragePooling', dim=1)],
                       path='model.neck')
    assert list(necks.state_dict()) == ['0.p']
    with pytest.raises(ValueError, match=r'GlobalAveragePooling\(dim=1\) expects 3-d inputs'):
        necks(torch.rand(2, 3, 4, 4))
    with pytest.raises(ConfigError, match='the neck list at model.neck is empty'):
        build_neck([], path='model.neck')
