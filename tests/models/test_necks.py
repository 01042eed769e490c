"""GlobalAveragePooling neck."""

import pytest
import torch

from imgcls.errors import ConfigError, ImgclsError
from imgcls.models.builder import build_neck
from imgcls.models.necks import GlobalAveragePooling


def test_gap_tensor_and_tuple():
    neck = build_neck(dict(type='GlobalAveragePooling'))
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    out = neck(x)
    assert out.shape == (2, 3)
    assert torch.allclose(out, x.mean(dim=(2, 3)))
    outs = neck((x, torch.ones(2, 5, 2, 2)))
    assert isinstance(outs, tuple) and [o.shape for o in outs] == [(2, 3), (2, 5)]
    assert torch.all(outs[1] == 1)
    assert neck.init_weights() is None


@pytest.mark.parametrize('dim, shape', [(1, (2, 3, 7)), (2, (2, 3, 4, 5)), (3, (2, 3, 2, 3, 4))])
def test_gap_dims(dim, shape):
    x = torch.randn(shape)
    out = GlobalAveragePooling(dim=dim)(x)
    assert out.shape == (2, 3)
    assert torch.allclose(out, x.flatten(2).mean(-1), atol=1e-6)


def test_gap_errors():
    with pytest.raises(ImgclsError, match='dim'):
        build_neck(dict(type='GlobalAveragePooling', dim=4))
    with pytest.raises(ConfigError):
        GlobalAveragePooling(dim=0)
    with pytest.raises(TypeError, match='tensor or a tuple'):
        GlobalAveragePooling()(3)
    with pytest.raises(ValueError, match='4-d'):
        GlobalAveragePooling()(torch.randn(2, 3))
