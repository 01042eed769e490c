"""ConvNeXt, ViT and Swin: published sizes, weights converted from timm / torchvision, and their options.

Full-size models are built on the ``meta`` device (no memory, no init) for parameter and MAC counts and
for checking converted keys and shapes; only the tiny/small variants run a real 224x224 image.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from imgcls import Config
from imgcls.analysis.complexity import get_complexity
from imgcls.convert import convert_state_dict
from imgcls.errors import CheckpointError, ConfigError
from imgcls.models.builder import build_backbone, build_classifier, build_head
from imgcls.models.layers import LayerNorm2d, build_norm_layer
from imgcls.models.utils import resize_pos_embed
from imgcls.models.utils.attention import relative_position_index, scaled_dot_product_attention

timm = pytest.importorskip('timm')
torchvision = pytest.importorskip('torchvision')

CONVNEXT_T = 'configs/convnext/convnext-tiny_32xb128_in1k.py'
CONVNEXT_S = 'configs/convnext/convnext-small_32xb128_in1k.py'
CONVNEXT_B = 'configs/convnext/convnext-base_32xb128_in1k.py'
VIT_B16 = 'configs/vision_transformer/vit-base-p16_pt-64xb64_in1k-224.py'
VIT_B32 = 'configs/vision_transformer/vit-base-p32_pt-64xb64_in1k-224.py'
VIT_S16 = 'configs/vision_transformer/vit-small-p16_pt-64xb64_in1k-224.py'
SWIN_T = 'configs/swin_transformer/swin-tiny_16xb64_in1k.py'
SWIN_S = 'configs/swin_transformer/swin-small_16xb64_in1k.py'

# small architectures for behaviour tests
TINY_VIT = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
TINY_CONVNEXT = dict(depths=[1, 1, 2, 1], channels=[8, 16, 32, 64])
TINY_SWIN = dict(embed_dims=16, depths=[1, 1, 2, 1], num_heads=[1, 2, 2, 4])


def _model_cfg(path: str, meta: bool = False) -> dict:
    cfg = Config.fromfile(path).model.to_dict()
    if meta:
        cfg['train_cfg'] = None  # batch augments draw random numbers at build time, which meta tensors cannot
    return cfg


def _meta_model(path: str) -> nn.Module:
    with torch.device('meta'):
        return build_classifier(_model_cfg(path, meta=True))


def _randomise(model: nn.Module) -> nn.Module:
    """Weights far from their init (layer scale 1e-6 would hide the residual branches otherwise)."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.02, generator=gen)
            else:
                p.uniform_(0.5, 1.5, generator=gen)
    return model.eval()


def _reference(source: str, name: str, meta: bool = False) -> nn.Module:
    factory = (lambda: timm.create_model(name)) if source == 'timm' else getattr(torchvision.models, name)
    with torch.device('meta'):
        model = factory()
    if meta:
        return model
    if next(model.buffers(), None) is None:  # nothing computed at init: skip the (slow) random init
        return _randomise(model.to_empty(device='cpu'))
    return _randomise(factory())


# ----------------------------------------------------------------------------- sizes

# params: the published totals (timm / torchvision model cards). MACs: torchvision's ``_ops`` (GMACs to 3
# decimals) where torchvision has the model; ViT-S/16 (timm only) from our own count, see the next test.
SIZES = [
    (CONVNEXT_T, 28_589_128, 4.456, 4.46),
    (CONVNEXT_S, 50_223_688, 8.684, 8.68),
    (CONVNEXT_B, 88_591_464, 15.355, 15.36),  # 15.3547: 15.36 is 15.355 rounded again
    (VIT_B16, 86_567_656, 17.564, 17.56),
    (VIT_B32, 88_224_232, 4.409, 4.41),
    (VIT_S16, 22_050_664, 4.599, 4.61),  # 4.61 (timm) also counts LayerNorms: see below
    (SWIN_T, 28_288_354, 4.491, 4.49),
    (SWIN_S, 49_606_258, 8.741, 8.74),
]


@pytest.mark.parametrize('path, params, gmacs, published', SIZES, ids=[s[0].split('/')[-1] for s in SIZES])
def test_parameters_and_macs_match_the_published_ones(path, params, gmacs, published):
    result = get_complexity(_meta_model(path), (3, 224, 224))
    assert result.params == params
    assert round(result.macs / 1e9, 3) == gmacs
    if path not in (CONVNEXT_B, VIT_S16):
        assert round(result.macs / 1e9, 2) == published


def _macs_and_extras(model: nn.Module) -> tuple[int, int, int]:
    """(MACs, LayerNorm elements, conv bias additions) of one 224x224 image."""
    counts = {'ln': 0, 'bias': 0}

    def hook(module, inputs, output):
        if isinstance(module, nn.LayerNorm):
            counts['ln'] += inputs[0].numel()
        elif isinstance(module, nn.Conv2d) and module.bias is not None:
            counts['bias'] += output.numel()

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    macs = get_complexity(model, (3, 224, 224)).macs
    for h in handles:
        h.remove()
    return macs, counts['ln'], counts['bias']


def test_published_counts_that_use_other_conventions():
    # timm's 4.61 G for ViT-S/16 is fvcore's count, which adds 5 operations per LayerNorm element
    macs, ln_elements, _ = _macs_and_extras(_meta_model(VIT_S16))
    assert round(macs / 1e9, 2) == 4.60 and round((macs + 5 * ln_elements) / 1e9, 2) == 4.61
    # mmcls's ConvNeXt-T FLOPs (4457472768) leave out the head and add one operation per conv bias output
    macs, _, bias_adds = _macs_and_extras(_meta_model(CONVNEXT_T))
    assert macs - 768 * 1000 + bias_adds == 4_457_472_768


@pytest.mark.parametrize('path, arch, width', [
    (CONVNEXT_T, TINY_CONVNEXT, 64), (VIT_S16, TINY_VIT, 32), (SWIN_T, TINY_SWIN, 128)])
def test_configs_build_and_initialise(path, arch, width):
    cfg = _model_cfg(path)
    assert cfg['head']['loss']['type'] == 'LabelSmoothLoss' and cfg['train_cfg'] is not None
    cfg['backbone']['arch'] = arch  # the configs' own init rules, on a small model
    cfg['head']['in_channels'] = width
    torch.manual_seed(0)
    model = build_classifier(cfg)
    model.init_weights()
    norms = [m for m in model.modules() if isinstance(m, nn.LayerNorm)]
    assert norms and all(bool((m.weight == 1).all() and (m.bias == 0).all()) for m in norms)
    linears = [m for m in model.backbone.modules() if isinstance(m, nn.Linear)]
    assert all(0.005 < m.weight.std() < 0.5 for m in linears)
    for name in ('pos_embed', 'relative_position_bias_table'):
        params = [p for key, p in model.named_parameters() if key.endswith(name)]
        assert all(p.abs().sum() > 0 for p in params)  # truncated-normal, not the zeros they are built with


# ----------------------------------------------------------------------------- converted weights

CONVERSIONS = [
    ('timm', 'convnext_tiny', CONVNEXT_T),
    ('torchvision', 'convnext_tiny', CONVNEXT_T),
    ('timm', 'vit_small_patch16_224', VIT_S16),
    ('timm', 'swin_tiny_patch4_window7_224', SWIN_T),
    ('torchvision', 'swin_t', SWIN_T),
]


@pytest.mark.parametrize('source, name, path', CONVERSIONS, ids=[f'{s}-{n}' for s, n, _ in CONVERSIONS])
def test_converted_weights_give_the_reference_logits(source, name, path):
    reference = _reference(source, name)
    family, state = convert_state_dict(reference.state_dict(), source)
    assert family in path
    model = build_classifier(_model_cfg(path))
    model.load_state_dict(state, strict=True)
    model.eval()
    img = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = reference(img)
        logits = model.simple_test(img, softmax=False, post_process=False)
    assert logits.shape == (1, 1000)
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=0)


def test_torchvision_vit_conversion_gives_the_reference_logits():
    # torchvision only ships base-size ViTs: a small one of the same code checks the numerics
    from torchvision.models.vision_transformer import VisionTransformer as TorchvisionViT
    torch.manual_seed(0)
    reference = _randomise(TorchvisionViT(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32,
                                          mlp_dim=64, num_classes=10))
    _, state = convert_state_dict(reference.state_dict(), 'torchvision')
    model = build_classifier(dict(
        type='ImageClassifier',
        backbone=dict(type='VisionTransformer', arch=TINY_VIT, img_size=32, patch_size=8),
        head=dict(type='VisionTransformerClsHead', num_classes=10, in_channels=32))).eval()
    model.load_state_dict(state, strict=True)
    img = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model.head(model.extract_feat(img)), reference(img), atol=1e-5, rtol=0)


BASE_CONVERSIONS = [
    ('timm', 'convnext_small', CONVNEXT_S), ('timm', 'convnext_base', CONVNEXT_B),
    ('torchvision', 'convnext_small', CONVNEXT_S), ('torchvision', 'convnext_base', CONVNEXT_B),
    ('timm', 'vit_base_patch16_224', VIT_B16), ('timm', 'vit_base_patch32_224', VIT_B32),
    ('torchvision', 'vit_b_16', VIT_B16), ('torchvision', 'vit_b_32', VIT_B32),
    ('timm', 'swin_small_patch4_window7_224', SWIN_S), ('torchvision', 'swin_s', SWIN_S),
]


@pytest.mark.parametrize('source, name, path', BASE_CONVERSIONS, ids=[f'{s}-{n}' for s, n, _ in BASE_CONVERSIONS])
def test_converted_base_models_have_every_key_and_shape(source, name, path):
    family, state = convert_state_dict(_reference(source, name, meta=True).state_dict(), source)
    assert family in path
    own = _meta_model(path).state_dict()
    own = {k: v for k, v in own.items() if not k.startswith('data_preprocessor.')}
    assert sorted(state) == sorted(own)
    assert {k: tuple(v.shape) for k, v in state.items()} == {k: tuple(v.shape) for k, v in own.items()}


def test_converter_names_keys_it_cannot_place():
    with torch.device('meta'):
        state = timm.create_model('vit_small_patch16_224', global_pool='avg', fc_norm=True).state_dict()
    with pytest.raises(CheckpointError, match='fc_norm'):
        convert_state_dict(state, 'timm', 'vit')


def test_swin_merge_reordering_matches_the_interleaved_concatenation():
    # PatchMerging's unfold order vs Swin's cat(x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2])
    from imgcls.convert.swin import _unfold_order
    from imgcls.models.utils import PatchMerging
    merge = PatchMerging(3, 5, norm_cfg=None)
    x = torch.randn(2, 4, 6, 3)
    interleaved = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
    weight = torch.randn(5, 12)
    merge.reduction.weight.data = _unfold_order(weight)
    out, size = merge(x.reshape(2, 24, 3), (4, 6))
    assert size == (2, 3)
    torch.testing.assert_close(out, (interleaved @ weight.T).reshape(2, 6, 5))


# ----------------------------------------------------------------------------- ViT position embedding


def _tiny_vit(**kwargs):
    torch.manual_seed(0)
    return build_backbone(dict(type='VisionTransformer', arch=TINY_VIT, patch_size=16, **kwargs)).eval()


def test_vit_runs_on_other_input_sizes_with_an_interpolated_pos_embed():
    model = _tiny_vit(img_size=224, out_indices=(0, 1))
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 160, 160))
    assert len(outs) == 2
    for patch_tokens, cls_token in outs:
        assert patch_tokens.shape == (1, 32, 10, 10) and cls_token.shape == (1, 32)
    # the 14x14 grid is resized bicubically; a constant embedding stays constant
    flat = torch.ones(1, 1 + 14 * 14, 4)
    assert torch.allclose(resize_pos_embed(flat, (14, 14), (10, 10)), torch.ones(1, 101, 4))


def test_loading_a_224_checkpoint_into_a_384_vit_resizes_pos_embed():
    small, large = _tiny_vit(img_size=224), _tiny_vit(img_size=384)
    state = {f'backbone.{k}': v for k, v in small.state_dict().items()}
    classifier = build_classifier(dict(
        type='ImageClassifier', backbone=dict(type='VisionTransformer', arch=TINY_VIT, img_size=384),
        head=dict(type='VisionTransformerClsHead', num_classes=3, in_channels=32)))
    state.update({f'head.{k}': v for k, v in classifier.head.state_dict().items()})
    classifier.load_state_dict(state, strict=True)
    pos = classifier.backbone.pos_embed
    assert pos.shape == large.pos_embed.shape == (1, 1 + 24 * 24, 32)
    assert torch.equal(pos[:, :1], small.pos_embed[:, :1])  # the class token's row is kept
    grid = small.pos_embed[:, 1:].reshape(1, 14, 14, 32).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, size=(24, 24), mode='bicubic', align_corners=False).flatten(2).transpose(1, 2)
    torch.testing.assert_close(pos[:, 1:], expected)


def test_a_pos_embed_that_is_not_a_square_grid_is_a_checkpoint_error():
    model = _tiny_vit(img_size=224)
    state = model.state_dict()
    state['pos_embed'] = torch.zeros(1, 1 + 7 * 9, 32)
    with pytest.raises(CheckpointError, match='pos_embed'):
        model.load_state_dict(state)


# ----------------------------------------------------------------------------- options shared by the backbones

SMALL = {
    'ConvNeXt': (dict(arch=TINY_CONVNEXT), 32),
    'VisionTransformer': (dict(arch=TINY_VIT, img_size=32, patch_size=8), 32),
    'SwinTransformer': (dict(arch=TINY_SWIN, img_size=64, window_size=2), 64),
}


def _small(name: str, **kwargs):
    torch.manual_seed(0)
    cfg, side = SMALL[name]
    return build_backbone(dict(type=name, **cfg, **kwargs)), torch.randn(2, 3, side, side)


def _first(outs) -> torch.Tensor:
    out = outs[-1]
    return out[1] if isinstance(out, list) else out


@pytest.mark.parametrize('name', list(SMALL))
def test_drop_path_is_random_in_training_only(name):
    model, img = _small(name, drop_path_rate=0.5)
    with torch.no_grad():
        assert model.train() is model
        torch.manual_seed(1)
        a = _first(model(img))
        torch.manual_seed(2)
        b = _first(model(img))
        assert not torch.allclose(a, b)
        model.eval()
        torch.testing.assert_close(_first(model(img)), _first(model(img)))


@pytest.mark.parametrize('name, frozen, frozen_prefixes', [
    ('ConvNeXt', 2, ('downsample_layers.0.', 'downsample_layers.1.', 'stages.0.', 'stages.1.')),
    ('VisionTransformer', 1, ('cls_token', 'pos_embed', 'patch_embed.', 'layers.0.')),
    ('SwinTransformer', 1, ('patch_embed.', 'stages.0.', 'stages.1.')),
])
def test_frozen_stages_stop_gradients_and_stay_in_eval_mode(name, frozen, frozen_prefixes):
    model, _ = _small(name, frozen_stages=frozen)
    model.train()
    for key, param in model.named_parameters():
        assert param.requires_grad is not key.startswith(frozen_prefixes), key
    for key, module in model.named_modules():
        if key and key.startswith(frozen_prefixes):
            assert not module.training, key
    assert any(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize('name', list(SMALL))
def test_bad_arguments_are_config_errors(name):
    with pytest.raises(ConfigError, match='arch'):
        build_backbone(dict(type=name, arch='gigantic'))
    with pytest.raises(ConfigError, match='out_indices'):
        _small(name, out_indices=(7,))


def test_every_out_index_has_the_published_shape():
    convnext, img = _small('ConvNeXt', out_indices=(0, 1, 2, 3), gap_before_final_norm=False)
    assert [tuple(o.shape) for o in convnext(img)] == [(2, 8, 8, 8), (2, 16, 4, 4), (2, 32, 2, 2), (2, 64, 1, 1)]
    pooled, _ = _small('ConvNeXt', out_indices=-1)
    assert [tuple(o.shape) for o in pooled(img)] == [(2, 64)]
    # Swin (mmcls 0.x): each stage's output is taken after its PatchMerging
    swin, img = _small('SwinTransformer', out_indices=(0, 1, 2, 3))
    assert [tuple(o.shape) for o in swin(img)] == [(2, 32, 8, 8), (2, 64, 4, 4), (2, 128, 2, 2), (2, 128, 2, 2)]


def test_swin_refuses_maps_smaller_than_a_window_unless_padded():
    model = build_backbone(dict(type='SwinTransformer', arch=TINY_SWIN, img_size=64, window_size=7))
    with pytest.raises(ValueError, match='pad_small_map'):
        model(torch.randn(1, 3, 64, 64))
    padded = build_backbone(dict(type='SwinTransformer', arch=TINY_SWIN, img_size=64, window_size=7,
                                 pad_small_map=True))
    assert padded(torch.randn(1, 3, 64, 64))[0].shape == (1, 128, 2, 2)


def test_swin_checkpoint_of_another_window_size_is_resized_when_loaded():
    src = build_backbone(dict(type='SwinTransformer', arch=TINY_SWIN, window_size=2))
    dst = build_backbone(dict(type='SwinTransformer', arch=TINY_SWIN, window_size=3))
    dst.load_state_dict(src.state_dict(), strict=True)
    key = 'stages.0.blocks.0.attn.w_msa.relative_position_bias_table'
    assert dst.state_dict()[key].shape == (25, 1)
    assert torch.equal(dst.stages[0].blocks[0].attn.w_msa.relative_position_index, relative_position_index((3, 3)))


# ----------------------------------------------------------------------------- pieces


def test_ln2d_normalises_the_channels_of_each_pixel():
    name, layer = build_norm_layer(dict(type='LN2d', eps=1e-6), 8)
    assert name == 'ln' and isinstance(layer, LayerNorm2d) and layer.eps == 1e-6
    x = torch.randn(2, 8, 3, 5)
    expected = F.layer_norm(x.permute(0, 2, 3, 1), (8,), eps=1e-6).permute(0, 3, 1, 2)
    torch.testing.assert_close(layer(x), expected)


def test_fused_and_plain_attention_agree():
    q, k, v = torch.randn(3, 2, 4, 9, 8).unbind(0)
    bias = torch.randn(4, 9, 9)
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, bias, fused=True),
                               scaled_dot_product_attention(q, k, v, bias, fused=False), atol=1e-5, rtol=1e-5)


def test_vit_head_with_a_pre_logits_layer():
    head = build_head(dict(type='VisionTransformerClsHead', num_classes=5, in_channels=8, hidden_dim=16,
                           topk=(1, 2), cal_acc=True))
    head.init_weights()
    assert sorted(head.state_dict()) == ['layers.head.bias', 'layers.head.weight', 'layers.pre_logits.bias',
                                         'layers.pre_logits.weight']
    assert torch.count_nonzero(head.layers.head.weight) == 0  # zero-initialised classifier
    feats = ([torch.randn(3, 8, 2, 2), torch.randn(3, 8)],)
    assert head.pre_logits(feats).shape == (3, 16)
    losses = head.forward_train(feats, torch.tensor([0, 1, 4]))
    assert set(losses) == {'loss', 'accuracy'}
    scores = head.simple_test(feats)
    assert len(scores) == 3 and scores[0].shape == (5,)
    with pytest.raises(ValueError, match='output_cls_token'):
        head.simple_test((torch.randn(3, 8, 2, 2),))


# ----------------------------------------------------------------------------- resizing on load, checkpointing


def test_vit_pos_embed_and_swin_tables_are_resized_on_load_with_a_log_line(caplog):
    import logging
    vit = dict(type='VisionTransformer', arch=TINY_VIT, patch_size=8)
    small, big = build_backbone(dict(vit, img_size=32)), build_backbone(dict(vit, img_size=48))
    swin = dict(type='SwinTransformer', arch=TINY_SWIN, img_size=64)
    win2, win4 = build_backbone(dict(swin, window_size=2)), build_backbone(dict(swin, window_size=4))
    with caplog.at_level(logging.INFO, logger='imgcls'):
        big.load_state_dict(small.state_dict(), strict=True)
        win4.load_state_dict(win2.state_dict(), strict=True)
    assert 'Resized pos_embed from a 4x4 patch grid (checkpoint) to 6x6 (model)' in caplog.text
    assert ('Resized stages.0.blocks.0.attn.w_msa.relative_position_bias_table from a 2x2 window (checkpoint) '
            'to 4x4 (model)') in caplog.text
    assert win4.stages[0].blocks[0].attn.w_msa.relative_position_bias_table.shape == (49, 1)


def test_swin_with_cp_gives_the_same_outputs_and_gradients():
    torch.manual_seed(0)
    cfg = dict(type='SwinTransformer', arch=TINY_SWIN, img_size=64, window_size=2, drop_path_rate=0.0)
    plain, checkpointed = build_backbone(cfg), build_backbone(dict(cfg, with_cp=True))
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 64)
    results = []
    for model in (plain, checkpointed):
        out = model.train()(x)[0]
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        results.append((out, model.stages[0].blocks[0].attn.w_msa.qkv.weight.grad))
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1])
