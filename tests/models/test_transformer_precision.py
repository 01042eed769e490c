"""Every transformer family: fused and explicit attention agree, and bf16 autocast stays close to fp32."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from imgcls.models.builder import build_backbone
from imgcls.models.utils import attention
from imgcls.models.utils.attention import scaled_dot_product_attention

TINY_VIT = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
TWINS = dict(embed_dims=[8, 16, 16, 32], depths=[2, 1, 2, 1], num_heads=[1, 2, 2, 4], patch_sizes=[4, 2, 2, 2],
             strides=[4, 2, 2, 2], mlp_ratios=[2, 2, 2, 2], sr_ratios=[4, 2, 2, 1])
# type -> (kwargs, input side)
MODELS = {
    'VisionTransformer': (dict(arch=TINY_VIT, img_size=32, patch_size=8), 32),
    'DistilledVisionTransformer': (dict(arch=TINY_VIT, img_size=32, patch_size=8), 32),
    'SwinTransformer': (dict(arch=dict(embed_dims=16, depths=[1, 2, 1, 1], num_heads=[1, 2, 2, 4]), img_size=64,
                             window_size=2), 64),
    'SwinTransformerV2': (dict(arch=dict(embed_dims=8, depths=[2, 2, 1], num_heads=[1, 2, 2],
                                         extra_norm_every_n_blocks=0), img_size=32, window_size=[4, 2, 2],
                               out_indices=(2,)), 32),
    'MlpMixer': (dict(arch=dict(embed_dims=16, num_layers=2, tokens_mlp_dims=8, channels_mlp_dims=32), img_size=32,
                      patch_size=8), 32),
    'PCPVT': (dict(arch=TWINS), 32),
    'SVT': (dict(arch=dict(TWINS, window_sizes=[3, 3, 3, 3])), 40),  # 40 px: padded, masked windows
    'T2T_ViT': (dict(img_size=32, embed_dims=16, num_layers=2, t2t_cfg=dict(token_dims=8),
                     layer_cfgs=dict(num_heads=2, feedforward_channels=32)), 32),
    'TNT': (dict(arch=dict(embed_dims_outer=16, embed_dims_inner=8, num_layers=2, num_heads_outer=2,
                           num_heads_inner=2), img_size=32, patch_size=8), 32),
    'MViT': (dict(arch=dict(embed_dims=8, num_layers=4, num_heads=1, downscale_indices=[1, 3]), img_size=32), 32),
    'Conformer': (dict(arch=dict(embed_dims=16, depths=3, num_heads=2, channel_ratio=1), base_channels=8), 32),
}
# bf16 keeps 8 bits of mantissa (a relative step of 2^-8 = 0.4% per rounding); through a few layers the
# outputs stay within 5% of the fp32 ones in relative L2 norm
BF16_REL_TOL = 0.05


def _tensors(out) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    return [t for item in out for t in _tensors(item)]


def _model(name: str):
    kwargs, side = MODELS[name]
    torch.manual_seed(0)
    model = build_backbone(dict(type=name, **kwargs))
    if hasattr(model, 'init_weights'):
        model.init_weights()
    with torch.no_grad():  # learnt tokens and tables start at zero: give them values so every path counts
        for p in model.parameters():
            if p.abs().sum() == 0:
                p.normal_(0, 0.02)
    return model.eval(), torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(1))


def test_fused_and_explicit_attention_agree_with_bias_and_scale():
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, n, 8, generator=gen) for n in (5, 7, 7))
    bias = torch.randn(1, 3, 5, 7, generator=gen)
    by_hand = torch.softmax(q @ k.transpose(-2, -1) * 0.3 + bias, dim=-1) @ v
    # fp32 through other kernels (the fused one sums and exponentiates in its own order): a few float32 steps
    # (~1e-7 each) apart; a wrong scale or a dropped bias moves the outputs by more than 1e-2
    for fused in (True, False):
        torch.testing.assert_close(scaled_dot_product_attention(q, k, v, bias, scale=0.3, fused=fused), by_hand,
                                   atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, fused=True),
                               F.softmax(q @ k.transpose(-2, -1) / 8 ** 0.5, dim=-1) @ v, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('name', MODELS)
def test_fused_attention_gives_the_explicit_forms_outputs(name, monkeypatch):
    model, x = _model(name)
    with torch.no_grad():
        fused = _tensors(model(x))
        explicit_call = attention.scaled_dot_product_attention
        for module in [m for key, m in __import__('sys').modules.items() if key.startswith('imgcls.')
                       and getattr(m, 'scaled_dot_product_attention', None) is explicit_call]:
            monkeypatch.setattr(module, 'scaled_dot_product_attention',
                                lambda *a, **k: explicit_call(*a, **{**k, 'fused': False}))
        explicit = _tensors(model(x))
    for a, b in zip(fused, explicit):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('name', MODELS)
def test_bf16_autocast_stays_close_to_fp32(name):
    model, x = _model(name)
    # bf16 did run: the linear layers hand back bf16 (the outputs' dtype does not tell, norm layers give fp32;
    # nor does a difference from fp32, which rounding alone could make or not)
    dtypes = set()
    hooks = [m.register_forward_hook(lambda mod, args, out: dtypes.add(out.dtype))
             for m in model.modules() if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        reference = _tensors(model(x))
        assert dtypes == {torch.float32}
        dtypes.clear()
        with torch.autocast('cpu', dtype=torch.bfloat16):
            low = _tensors(model(x))
    for hook in hooks:
        hook.remove()
    assert torch.bfloat16 in dtypes, f'{name}: no linear layer ran in bf16 under autocast'
    errors = [float((a - b.float()).norm() / a.norm()) for a, b in zip(reference, low)]
    assert max(errors) < BF16_REL_TOL, f'{name}: bf16 differs from fp32 by {max(errors):.3%}'
