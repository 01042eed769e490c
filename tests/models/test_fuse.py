"""fuse_conv_bn: BatchNorms folded into the convolutions the trace shows feeding them, and nothing else."""

import copy

import pytest
import torch
from torch import nn

from imgcls import Config
from imgcls.apis import build_model, init_model, prepare_config
from imgcls.errors import ConfigError
from imgcls.models.fuse import fuse_conv_bn


def _randomize_norms(model: nn.Module) -> None:
    """Non-trivial running statistics and affine parameters, so a wrong fold shows in the outputs."""
    gen = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=gen) * 2 - 1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(m.num_features, generator=gen) - 0.5)


def _norms(model: nn.Module) -> int:
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


@pytest.mark.parametrize('config, shape', [('configs/resnet/resnet18_digits.py', (1, 32, 32)),
                                           ('configs/mobilenet_v2/mobilenet-v2_8xb32_in1k.py', (3, 64, 64))])
def test_folded_model_gives_the_same_scores(config, shape):
    cfg = Config.fromfile(config)
    prepare_config(cfg)
    model = build_model(cfg).eval()
    with torch.no_grad():
        _randomize_norms(model)
    fused = copy.deepcopy(model)
    before = _norms(model)
    assert fuse_conv_bn(fused) == before  # every BatchNorm of these models follows a convolution
    assert model.fused_conv_bn == 0  # declared by BaseClassifier: nothing folded yet
    assert _norms(fused) == 0 and fused.fused_conv_bn == before
    img = torch.randint(0, 256, (2, *shape), dtype=torch.uint8)
    with torch.no_grad():
        torch.testing.assert_close(fused.test_step({'img': img}), model.test_step({'img': img}),
                                   atol=1e-5, rtol=1e-4)
    assert type(fused.backbone) is type(model.backbone)  # same classes and attribute names, not a GraphModule


class _Tricky(nn.Module):
    """Pairs that must not be folded next to one that must."""

    def __init__(self):
        super().__init__()
        self.conv_ok, self.bn_ok = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.pre_bn, self.conv_after = nn.BatchNorm2d(4), nn.Conv2d(4, 4, 1)  # pre-activation: norm, then conv
        self.conv_two_users, self.bn_two = nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)  # conv output also used raw
        self.shared, self.bn_shared = nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)  # one conv called twice

    def forward(self, x):
        x = self.bn_ok(self.conv_ok(x))
        x = self.conv_after(self.pre_bn(x))
        y = self.conv_two_users(x)
        x = self.bn_two(y) + y
        return self.bn_shared(self.shared(self.shared(x)))


@torch.no_grad()
def _fuse_and_compare(model: nn.Module) -> int:
    """Fold ``model`` (eval, random norm statistics); assert the outputs did not change; return the count."""
    model.eval()
    _randomize_norms(model)
    x = torch.randn(2, 3, 8, 8)
    expected = model(x)
    count = fuse_conv_bn(model)
    torch.testing.assert_close(model(x), expected)
    return count


def test_only_exact_conv_then_norm_pairs_are_folded():
    model = _Tricky()
    assert _fuse_and_compare(model) == 1
    assert isinstance(model.bn_ok, nn.Identity) and model.conv_ok.bias is not None
    for name in ('pre_bn', 'bn_two', 'bn_shared'):
        assert isinstance(getattr(model, name), nn.BatchNorm2d), name


class _Untraceable(nn.Module):
    """Data-dependent control flow at the top; a traceable conv+BN inside."""

    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())

    def forward(self, x):
        if x.sum() > 0:  # fx cannot trace this: the search goes one level down
            return self.block(x)
        return self.block(-x)


def test_untraceable_forward_is_searched_child_by_child():
    model = _Untraceable()
    assert _fuse_and_compare(model) == 1
    assert isinstance(model.block[1], nn.Identity)
    assert not hasattr(model, 'fused_conv_bn')  # only a classifier records the count: no attribute bolted on


def test_training_mode_is_refused():
    with pytest.raises(ValueError, match='model.eval'):
        fuse_conv_bn(nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4)))


@pytest.mark.slow
def test_init_model_folds_unless_the_config_says_not_to(trained_digits):
    config, ckpt, _ = trained_digits
    fused = init_model(str(config), str(ckpt), cfg_options={'amp': 'fp32'})
    kept = init_model(str(config), str(ckpt), cfg_options={'amp': 'fp32', 'fuse_conv_bn': False})
    assert _norms(fused) == 0 and _norms(kept) > 0
    img = torch.randint(0, 256, (3, 1, 8, 8), dtype=torch.uint8)
    batch = {'img': torch.nn.functional.interpolate(img.float(), size=32).to(torch.uint8)}
    with torch.no_grad():
        torch.testing.assert_close(fused.test_step(batch), kept.test_step(batch), atol=1e-5, rtol=1e-4)
    with pytest.raises(ConfigError, match='fuse_conv_bn must be True or False'):
        init_model(str(config), str(ckpt), cfg_options={'fuse_conv_bn': 'yes'})
