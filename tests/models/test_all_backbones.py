"""Every backbone imgcls registers, built small: forward/backward, out_indices, frozen_stages, train/eval.

A backbone registered without an entry in SMALL is built with no arguments and fed 2x3x64x64 images,
so a new model is tested the moment it is registered; add an entry when it needs arguments or a
smaller size to stay fast.
"""

from __future__ import annotations

import inspect
import re

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

import imgcls.models  # noqa: F401  (registers every backbone)
from imgcls.errors import ConfigError
from imgcls.models.builder import BACKBONES, build_backbone

# type -> (kwargs, input side): the smallest settings that still exercise the architecture
SMALL_STEM = dict(stem_channels=16, base_channels=16)
SMALL: dict[str, tuple[dict, int]] = {
    'ResNet': (dict(depth=18, **SMALL_STEM), 32),
    'ResNetV1c': (dict(depth=18, **SMALL_STEM), 32),
    'ResNetV1d': (dict(depth=18, **SMALL_STEM), 32),
    'ResNet_CIFAR': (dict(depth=18, **SMALL_STEM), 16),
    'ResNeXt': (dict(depth=50, **SMALL_STEM), 32),
    'SEResNet': (dict(depth=50, **SMALL_STEM), 32),
    'SEResNeXt': (dict(depth=50, **SMALL_STEM), 32),
    'VGG': (dict(depth=11, norm_cfg=dict(type='BN')), 32),
    'RegNet': (dict(arch='regnetx_400mf'), 32),
    'MobileNetV2': (dict(widen_factor=0.5), 32),
    'MobileNetV3': (dict(arch='small'), 32),
    'ShuffleNetV2': (dict(widen_factor=0.5), 32),
    'EfficientNet': (dict(arch='b0'), 32),
    'ConvNeXt': (dict(arch=dict(depths=[1, 1, 2, 1], channels=[16, 32, 64, 128])), 32),
    'VisionTransformer': (dict(arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64),
                               img_size=32, patch_size=8), 32),
    # 64 px, patch 4, window 2: 16, 8, 4 and 2 tokens a side, shifted windows in the 2-block stage
    'SwinTransformer': (dict(arch=dict(embed_dims=16, depths=[1, 1, 2, 1], num_heads=[1, 2, 2, 4]),
                             img_size=64, window_size=2), 64),
    'RepVGG': (dict(arch=dict(num_blocks=[1, 2, 1, 1], width_factor=[0.25] * 4, group_layer_map={2: 2},
                              se_cfg=dict(ratio=4, divisor=1), stem_channels=16)), 32),
    'ResNeSt': (dict(depth=50, **SMALL_STEM), 32),
    'Res2Net': (dict(depth=50, scales=4, base_width=8, **SMALL_STEM), 32),
    'DenseNet': (dict(arch=dict(growth_rate=4, depths=[2, 3, 2, 1], init_channels=8)), 32),
    'RepMLPNet': (dict(arch=dict(channels=[8, 16, 16, 32], depths=[1, 2, 1, 1], sharesets_nums=[1, 2, 4, 8]),
                       img_size=32, reparam_conv_kernels=(1, 3)), 32),
    'CSPDarkNet': (dict(depth=53), 32),
    'CSPResNet': (dict(depth=50), 32),
    'CSPResNeXt': (dict(depth=50), 32),
    'ShuffleNetV1': (dict(groups=2, widen_factor=0.25), 32),
    'HRNet': (dict(extra=dict(
        stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(1,), num_channels=(8,)),
        stage2=dict(num_modules=1, num_branches=2, block='BASIC', num_blocks=(1, 1), num_channels=(4, 8)),
        stage3=dict(num_modules=1, num_branches=3, block='BASIC', num_blocks=(1, 1, 1), num_channels=(4, 8, 16)),
        stage4=dict(num_modules=1, num_branches=4, block='BASIC', num_blocks=(1, 1, 1, 1),
                    num_channels=(4, 8, 16, 32)))), 64),
    'VAN': (dict(arch=dict(embed_dims=[8, 16, 24, 32], depths=[1, 1, 2, 1], ffn_ratios=[2, 2, 2, 2])), 64),
    'PoolFormer': (dict(arch=dict(layers=[1, 1, 2, 1], embed_dims=[8, 16, 24, 32], mlp_ratios=[2, 2, 2, 2])), 64),
    'ConvMixer': (dict(arch=dict(embed_dims=8, depth=3, patch_size=4, kernel_size=3)), 32),
    'HorNet': (dict(arch=dict(base_dim=8, depths=[1, 1, 2, 1], orders=[2, 2, 3, 3],
                              dw_cfg=[dict(type='DW', kernel_size=5)] * 2 + [dict(type='GF', h=4, w=3)] * 2)), 64),
    # attention blocks with position biases for 7x7 tokens: 224 px
    'EfficientFormer': (dict(arch=dict(layers=[1, 1, 1, 2], embed_dims=[8, 16, 24, 32],
                                       downsamples=[False, True, True, True], vit_num=1)), 224),
    'DistilledVisionTransformer': (dict(arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64),
                                        img_size=32, patch_size=8), 32),
    # 32 px, patch 4: 8, 4, 2 and 1 tokens a side; windows of 4 then 2 (shifted in the 2-block stage)
    'SwinTransformerV2': (dict(arch=dict(embed_dims=8, depths=[1, 2, 1, 1], num_heads=[1, 2, 2, 4],
                                         extra_norm_every_n_blocks=2), img_size=32, window_size=[4, 2, 2, 1]), 32),
    'MlpMixer': (dict(arch=dict(embed_dims=16, num_layers=2, tokens_mlp_dims=8, channels_mlp_dims=32),
                      img_size=32, patch_size=8), 32),
    'PCPVT': (dict(arch=dict(embed_dims=[8, 16, 16, 32], depths=[2, 1, 1, 1], num_heads=[1, 2, 2, 4],
                             patch_sizes=[4, 2, 2, 2], strides=[4, 2, 2, 2], mlp_ratios=[2, 2, 2, 2],
                             sr_ratios=[4, 2, 2, 1])), 32),
    'SVT': (dict(arch=dict(embed_dims=[8, 16, 16, 32], depths=[2, 1, 1, 1], num_heads=[1, 2, 2, 4],
                           patch_sizes=[4, 2, 2, 2], strides=[4, 2, 2, 2], mlp_ratios=[2, 2, 2, 2],
                           sr_ratios=[4, 2, 2, 1], window_sizes=[3, 3, 3, 3])), 32),
    'T2T_ViT': (dict(img_size=32, embed_dims=16, num_layers=2, t2t_cfg=dict(token_dims=8),
                     layer_cfgs=dict(num_heads=2, feedforward_channels=32)), 32),
    'TNT': (dict(arch=dict(embed_dims_outer=16, embed_dims_inner=8, num_layers=2, num_heads_outer=2,
                           num_heads_inner=2), img_size=32, patch_size=8), 32),
    'Conformer': (dict(arch=dict(embed_dims=16, depths=3, num_heads=2, channel_ratio=1), base_channels=8), 32),
    'MViT': (dict(arch=dict(embed_dims=8, num_layers=4, num_heads=1, downscale_indices=[1, 3]), img_size=32), 32),
    # mmcls names other helpers may register later
    'LeNet5': (dict(num_classes=-1), 32),
    'AlexNet': (dict(num_classes=-1), 64),
}
DEFAULT = ({}, 64)
CHANNELS = {'LeNet5': 1}
BATCH = 2  # two samples: BatchNorm in training needs more than one value per channel

# the package's own backbones (not the toy ones other test files register)
NAMES = sorted(k for k in BACKBONES.keys() if getattr(BACKBONES.get(k), '__module__', '').startswith('imgcls.'))


@pytest.fixture(autouse=True, scope='module')
def _one_thread():
    """Tiny batches run faster on one thread (no OpenMP hand-offs), most of all on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _accepts(cls, name: str) -> bool:
    params = inspect.signature(cls).parameters
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _build(name: str, **extra):
    """The backbone ``name`` with its small settings plus ``extra``, and a matching input batch."""
    kwargs, side = SMALL.get(name, DEFAULT)
    cls = BACKBONES.get(name)
    # keep only what the constructor takes, so a different signature does not break the test
    kwargs = {k: v for k, v in {**kwargs, **extra}.items() if _accepts(cls, k)}
    torch.manual_seed(0)
    model = build_backbone(dict(type=name, **kwargs))
    return model, torch.randn(BATCH, CHANNELS.get(name, 3), side, side)


def _tensors(out) -> list[torch.Tensor]:
    """All tensors in a (possibly nested) backbone output: ViT gives [patch_token, cls_token] pairs."""
    if isinstance(out, torch.Tensor):
        return [out]
    return [t for item in out for t in _tensors(item)]


def test_every_backbone_is_covered():
    assert {'ResNet', 'ResNet_CIFAR', 'ResNetV1c', 'ResNetV1d'} <= set(NAMES)


@pytest.mark.parametrize('name', NAMES)
def test_forward_backward_and_modes(name):
    model, x = _build(name)
    if hasattr(model, 'init_weights'):
        model.init_weights()
    assert model.train() is model and model.training
    x.requires_grad_(True)
    out = model(x)
    assert isinstance(out, tuple) and len(out) >= 1, f'{name} must return a tuple of feature maps'
    tensors = _tensors(out)
    assert all(t.shape[0] == BATCH and torch.isfinite(t).all() for t in tensors)
    # a fixed random projection of every output: a plain mean can be constant (the mean of a LayerNorm
    # output is 0 whatever the input), and then the gradient checked below would be rounding noise
    g = torch.Generator().manual_seed(1)
    sum((t.float() * torch.randn(t.shape, generator=g)).sum() for t in tensors).backward()
    # gradients reach the input, through every layer
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert any(g is not None for g in grads) and all(torch.isfinite(g).all() for g in grads if g is not None)
    assert model.eval() is model and not any(m.training for m in model.modules())
    assert model.train() is model and model.training


@pytest.mark.parametrize('name', NAMES)
def test_out_indices_and_frozen_stages(name):
    cls = BACKBONES.get(name)
    has_out, has_frozen = _accepts(cls, 'out_indices'), _accepts(cls, 'frozen_stages')
    if not (has_out or has_frozen):
        pytest.skip(f'{name} has neither out_indices nor frozen_stages')
    extra = dict(out_indices=(0, 1)) if has_out else {}
    if has_frozen:
        extra['frozen_stages'] = 1
    model, x = _build(name, **extra)
    assert model.train() is model
    frozen_norms = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.weight is not None
                    and not any(p.requires_grad for p in m.parameters())]
    before = [m.running_mean.clone() for m in frozen_norms]
    with torch.no_grad():
        out = model(x)  # in training mode
    if has_out:
        assert len(out) == 2, f'{name}(out_indices=(0, 1)) gave {len(out)} outputs'
        one, _ = _build(name, out_indices=(1,))
        with torch.no_grad():
            assert len(one.eval()(x)) == 1, f'{name}(out_indices=(1,)) did not give 1 output'
    if has_frozen:
        assert any(not p.requires_grad for p in model.parameters()), f'{name}(frozen_stages=1) froze nothing'
        assert any(p.requires_grad for p in model.parameters()), f'{name}(frozen_stages=1) froze everything'
        assert all(not m.training for m in frozen_norms), f'{name}: a frozen BatchNorm is in training mode'
        # the frozen norms' statistics do not move while the rest of the model trains
        assert all(torch.equal(b, m.running_mean) for b, m in zip(before, frozen_norms))


def _last_index(name: str) -> int:
    """The highest out_indices value ``name`` takes, read from the error an out-of-range index gives."""
    with pytest.raises(ConfigError) as error:
        _build(name, out_indices=(99,))
    message = str(error.value)
    found = re.search(rf'{name} out_indices=\(99,\): 99 is not a stage index; use 0\.\.(\d+) '
                         rf'\(or -(\d+)\.\.-1, counting from the end\)$', message)
    assert found, f'{name}: the out_indices error does not follow the shared wording: {message}'
    assert int(found[1]) + 1 == int(found[2])
    return int(found[1])


@pytest.mark.parametrize('name', NAMES)
def test_one_out_indices_rule(name):
    """Every backbone takes negative out_indices (counting from the end) and rejects the rest alike."""
    if not _accepts(BACKBONES.get(name), 'out_indices'):
        pytest.skip(f'{name} has no out_indices')
    last = _last_index(name)
    negative, x = _build(name, out_indices=(-1,))
    positive, _ = _build(name, out_indices=(last,))
    assert negative.out_indices == positive.out_indices == (last,)
    with torch.no_grad():
        got, want = negative.eval()(x), positive.eval()(x)
    assert len(got) == len(want) == 1 and all(torch.equal(a, b) for a, b in zip(_tensors(got), _tensors(want)))
    assert _build(name, out_indices=(-(last + 1),))[0].out_indices == (0,)
    with pytest.raises(ConfigError, match=rf'{name} out_indices=\({-(last + 2)},\): {-(last + 2)} is not'):
        _build(name, out_indices=(-(last + 2),))
    with pytest.raises(ConfigError, match=rf'{name} out_indices=\(0, -{last + 1}\) names stage 0 twice'):
        _build(name, out_indices=(0, -(last + 1)))
    with pytest.raises(ConfigError, match=rf"{name} out_indices must be a non-empty tuple.*got '1'"):
        _build(name, out_indices='1')


@pytest.mark.parametrize('name', NAMES)
def test_frozen_stages_out_of_range_is_reported(name):
    if not _accepts(BACKBONES.get(name), 'frozen_stages'):
        pytest.skip(f'{name} has no frozen_stages')
    with pytest.raises(ConfigError, match=rf'{name} frozen_stages must be an int in -?\d+\.\.\d+, got 99'):
        _build(name, frozen_stages=99)


@pytest.mark.parametrize('name', NAMES)
def test_norm_eval_keeps_batchnorm_statistics(name):
    """``norm_eval=True``: every BatchNorm stays in eval mode (statistics fixed) while the rest trains."""
    if not _accepts(BACKBONES.get(name), 'norm_eval'):
        pytest.skip(f'{name} has no norm_eval')
    model, x = _build(name, norm_eval=True)
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    if not norms:
        pytest.skip(f'{name} has no BatchNorm in its small settings')
    before = [m.running_mean.clone() for m in norms]
    assert model.train() is model and model.training
    assert not any(m.training for m in norms)
    with torch.no_grad():
        model(x)
    assert all(torch.equal(b, m.running_mean) for b, m in zip(before, norms))
