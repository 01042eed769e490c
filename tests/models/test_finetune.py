"""Fine-tuning from a checkpoint: mismatched heads are skipped with one log line, RGB stems are adapted."""

import pytest
import torch
import torch.nn.functional as F

from imgcls.engine.checkpoint import load_model_weights
from imgcls.errors import CheckpointError
from imgcls.models.builder import build_classifier
from imgcls.models.layers.pretrained import adapt_input_conv_weights


def make_model(in_channels=3, num_classes=10, init_cfg=None, backbone_init_cfg=None):
    backbone = dict(type='ResNet_CIFAR', depth=18, stem_channels=4, base_channels=4,
                    in_channels=in_channels)
    if backbone_init_cfg is not None:
        backbone['init_cfg'] = backbone_init_cfg
    return build_classifier(dict(type='ImageClassifier', backbone=backbone, neck=dict(type='GlobalAveragePooling'),
                                 head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=32),
                                 init_cfg=init_cfg))


@pytest.fixture(scope='module')
def rgb_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = make_model()
    path = tmp_path_factory.mktemp('ckpt') / 'rgb.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=3)), path)
    return path, model.state_dict()


def test_load_from_skips_the_head_and_sums_rgb_for_gray(rgb_checkpoint, imgcls_log):
    path, sd = rgb_checkpoint
    model = make_model(in_channels=1, num_classes=5)
    report = load_model_weights(model, sd, source=str(path))
    adapted, skipped = [r.getMessage() for r in imgcls_log.records]  # one line each, nothing else
    assert 'from 3 to 1 input channels' in adapted
    assert skipped == (f'loaded 120 weights from {path}; skipped 2 with another shape (the classification head, '
                       "num_classes differs from the checkpoint's; they keep their init): "
                       'head.fc.weight (10, 32)->(5, 32), head.fc.bias (10,)->(5,)')
    assert sorted(k.split(':')[0] for k in report['mismatched']) == ['head.fc.bias', 'head.fc.weight']
    conv = model.state_dict()['backbone.conv1.weight']
    assert conv.shape == (4, 1, 3, 3)
    assert torch.allclose(conv, sd['backbone.conv1.weight'].sum(1, keepdim=True))
    assert torch.equal(model.state_dict()['backbone.layer1.0.conv1.weight'], sd['backbone.layer1.0.conv1.weight'])


def test_more_channels_repeat_rgb_and_keep_the_response(rgb_checkpoint, imgcls_log):
    _, sd = rgb_checkpoint
    model = make_model(in_channels=6)
    load_model_weights(model, sd)
    assert 'from 3 to 6 input channels' in imgcls_log.text
    rgb = sd['backbone.conv1.weight']
    conv = model.backbone.conv1.weight.detach()
    assert torch.allclose(conv, torch.cat([rgb, rgb], 1) * 0.5)
    # a constant image gives the same first-layer response with 3 or 6 channels
    assert torch.allclose(F.conv2d(torch.ones(1, 6, 5, 5), conv), F.conv2d(torch.ones(1, 3, 5, 5), rgb), atol=1e-5)
    five = adapt_input_conv_weights({'conv1.weight': rgb}, make_model(in_channels=5).backbone)['conv1.weight']
    assert 'scaled by 3/5' in imgcls_log.text
    assert torch.allclose(five, torch.cat([rgb, rgb[:, :2]], 1) * 0.6)


def test_no_adaptation_when_channels_match(rgb_checkpoint, imgcls_log):
    _, sd = rgb_checkpoint
    model = make_model()
    assert adapt_input_conv_weights(sd, model) is sd
    report = load_model_weights(model, sd)
    assert report == {'missing': [], 'unexpected': [], 'mismatched': []}
    assert not imgcls_log.records  # a complete load says nothing


def test_exact_loading_still_refuses_other_shapes(rgb_checkpoint):
    # testing / resuming (skip_mismatched=False) must not silently reshape weights
    _, sd = rgb_checkpoint
    with pytest.raises(CheckpointError, match='conv1.weight'):
        load_model_weights(make_model(in_channels=1), sd, strict=True, skip_mismatched=False)


def test_init_cfg_pretrained_whole_classifier(rgb_checkpoint, imgcls_log):
    path, sd = rgb_checkpoint
    model = make_model(in_channels=1, num_classes=7, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    skipped = imgcls_log.records[-1].getMessage()
    assert skipped.startswith(f"loaded 120 weights from '{path}' into ImageClassifier; skipped 2 with another "
                              'shape (the classification head')
    assert skipped.endswith('head.fc.weight (10, 32)->(7, 32), head.fc.bias (10,)->(7,)')
    assert torch.allclose(model.backbone.conv1.weight, sd['backbone.conv1.weight'].sum(1, keepdim=True))
    assert model.head.fc.weight.shape == (7, 32)


def test_init_cfg_pretrained_backbone_with_prefix(rgb_checkpoint, imgcls_log):
    path, sd = rgb_checkpoint
    init_cfg = dict(type='Pretrained', checkpoint=str(path), prefix='backbone')
    model = make_model(in_channels=2, backbone_init_cfg=init_cfg)
    model.init_weights()
    assert 'from 3 to 2 input channels' in imgcls_log.text
    rgb = sd['backbone.conv1.weight']
    assert torch.allclose(model.backbone.conv1.weight, rgb[:, :2] * 1.5)
    assert torch.equal(model.backbone.layer4[1].conv2.weight, sd['backbone.layer4.1.conv2.weight'])


def test_fine_tuning_a_vit_at_another_image_size_resizes_pos_embed():
    from imgcls.models import build_backbone
    arch = dict(embed_dims=32, num_layers=1, num_heads=2, feedforward_channels=64)
    small = build_backbone(dict(type='VisionTransformer', arch=arch, img_size=32, patch_size=16))
    large = build_backbone(dict(type='VisionTransformer', arch=arch, img_size=64, patch_size=16))
    small.init_weights()
    large.init_weights()
    before = large.pos_embed.detach().clone()
    report = load_model_weights(large, small.state_dict(), source='vit-32px')
    assert not report['mismatched'] and not report['missing']
    assert large.pos_embed.shape == before.shape and not torch.equal(large.pos_embed, before)
    # the class token's position embedding is carried over unchanged
    assert torch.equal(large.pos_embed[:, 0], small.pos_embed[:, 0])
