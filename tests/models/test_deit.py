"""DeiT: DistilledVisionTransformer + DeiTClsHead sizes, mmcls checkpoints, distillation from a teacher."""

from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F
from zoo_checks import check_mmcls_fixture, meta_params, model_cfg

from imgcls.analysis.complexity import get_complexity
from imgcls.errors import ConfigError
from imgcls.models.builder import build_backbone, build_classifier

# exact totals of mmcls 0.25's models (its metafile rounds them: 5.72M, 22.05M, 86.57M, 86.86M)
SIZES = {
    'deit-tiny_pt-4xb256_in1k': 5_717_416,
    'deit-tiny-distilled_pt-4xb256_in1k': 5_910_800,
    'deit-small_pt-4xb256_in1k': 22_050_664,
    'deit-small-distilled_pt-4xb256_in1k': 22_436_432,
    'deit-base_pt-16xb64_in1k': 86_567_656,
    'deit-base-distilled_pt-16xb64_in1k': 87_338_192,
    'deit-base_ft-16xb32_in1k-384px': 86_859_496,
    'deit-base-distilled_ft-16xb32_in1k-384px': 87_630_032,
}
TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def _tiny(**head) -> dict:
    return dict(type='ImageClassifier',
                backbone=dict(type='DistilledVisionTransformer', arch=TINY, img_size=32, patch_size=8),
                head=dict(type='DeiTClsHead', num_classes=10, in_channels=32, **head))


@pytest.mark.parametrize('name', SIZES)
def test_parameter_counts_equal_mmcls(name):
    assert meta_params(model_cfg(f'configs/deit/{name}.py')) == SIZES[name]


# the metafile gives the distilled models the FLOPs of the plain ones, so the plain ones are checked
@pytest.mark.parametrize('name, side, gmacs', [('deit-tiny_pt-4xb256_in1k', 224, 1.08),
                                               ('deit-base_pt-16xb64_in1k', 224, 16.86),
                                               ('deit-base_ft-16xb32_in1k-384px', 384, 49.37)])
def test_macs_match_the_metafile_in_mmcvs_convention(name, side, gmacs):
    with torch.device('meta'):
        model = build_classifier(model_cfg(f'configs/deit/{name}.py'))
    macs = get_complexity(model, (3, side, side)).macs
    # mmcv's counter leaves out q @ k^T and attn @ v (2 * tokens^2 * width a layer) and counts 2 operations
    # per element of each of the 25 LayerNorms
    width, tokens = model.backbone.embed_dims, (side // 16) ** 2 + 1
    mmcv_count = macs - 12 * 2 * tokens ** 2 * width + 25 * 2 * tokens * width
    assert round(mmcv_count / 1e9, 2) == gmacs


def test_mmcls_checkpoint_loads_strictly_with_the_same_logits(tmp_path):
    model = check_mmcls_fixture('deit', tmp_path)
    assert 'backbone.dist_token' in model.state_dict() and 'head.layers.head_dist.weight' in model.state_dict()


def test_inference_averages_both_heads():
    torch.manual_seed(0)
    model = build_classifier(_tiny())
    model.init_weights()
    model.eval()
    img = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        for p in model.head.parameters():  # the head starts at zero
            p.normal_(0, 0.5)
        _, cls_token, dist_token = model.extract_feat(img)[-1]
        expected = (model.head.layers.head(cls_token) + model.head.layers.head_dist(dist_token)) / 2
        torch.testing.assert_close(model.simple_test(img, softmax=False, post_process=False), expected)
    assert not torch.equal(cls_token, dist_token)


def test_outputs_per_index_and_without_tokens():
    model = build_backbone(dict(type='DistilledVisionTransformer', arch=TINY, img_size=32, patch_size=8,
                                out_indices=(0, 1), frozen_stages=1)).eval()
    outs = model(torch.randn(1, 3, 48, 32))  # another size: the position embedding is resized on the fly
    assert [[tuple(t.shape) for t in out] for out in outs] == [[(1, 32, 6, 4), (1, 32), (1, 32)]] * 2
    assert not model.dist_token.requires_grad and not model.cls_token.requires_grad
    plain = build_backbone(dict(type='DistilledVisionTransformer', arch=TINY, img_size=32, patch_size=8,
                                output_cls_token=False))
    assert plain(torch.randn(1, 3, 32, 32))[0].shape == (1, 32, 4, 4)


def test_errors_name_the_distilled_class_and_its_arguments():
    def build(**kwargs):
        return build_backbone(dict(type='DistilledVisionTransformer', arch=TINY, img_size=32, patch_size=8,
                                   **kwargs))

    with pytest.raises(ConfigError, match=r'DistilledVisionTransformer frozen_stages must be an int in -1\.\.2, '
                                          'got 3'):
        build(frozen_stages=3)
    with pytest.raises(ConfigError, match=r'DistilledVisionTransformer out_indices=\(2,\): 2 is not a stage'):
        build(out_indices=2)
    with pytest.raises(ConfigError, match="DistilledVisionTransformer arch='deit-huge' is unknown"):
        build_backbone(dict(type='DistilledVisionTransformer', arch='deit-huge'))
    # the VisionTransformer arguments it forwards are listed, norm_eval among them
    with pytest.raises(TypeError, match=r"'norm_evl'.*Did you mean 'norm_eval'.*Valid arguments: arch, img_size"):
        build(norm_evl=True)
    assert build(norm_eval=True, frozen_stages=1).train().norm_eval


def test_pos_embed_of_another_size_is_resized_on_load(caplog):
    small = build_backbone(dict(type='DistilledVisionTransformer', arch=TINY, img_size=32, patch_size=8))
    big = build_backbone(dict(type='DistilledVisionTransformer', arch=TINY, img_size=64, patch_size=8))
    with caplog.at_level(logging.INFO, logger='imgcls'):
        big.load_state_dict(small.state_dict(), strict=True)
    assert 'Resized pos_embed from a 4x4 patch grid (checkpoint) to 8x8 (model)' in caplog.text
    # both extra tokens keep their rows; a constant grid stays constant when interpolated
    torch.testing.assert_close(big.pos_embed[:, :2], small.pos_embed[:, :2])


def _teacher_cfg() -> dict:
    return dict(model=dict(type='ImageClassifier', backbone=dict(type='VisionTransformer', arch=TINY, img_size=32,
                                                                 patch_size=8),
                           head=dict(type='VisionTransformerClsHead', num_classes=10, in_channels=32)))


@pytest.mark.parametrize('mode', ['hard', 'soft'])
def test_training_with_a_teacher_follows_the_deit_loss(mode):
    torch.manual_seed(0)
    cfg = dict(_tiny(distill=dict(mode=mode, alpha=0.25, tau=2.0)), type='DistilledImageClassifier',
               teacher=_teacher_cfg())
    model = build_classifier(cfg)
    model.init_weights()
    with torch.no_grad():
        for p in model.head.parameters():
            p.normal_(0, 0.5)
    model.train()
    assert not model.teacher.training and not any(p.requires_grad for p in model.teacher.parameters())
    assert not any(k.startswith('teacher') for k in model.state_dict())
    img, label = torch.randn(4, 3, 32, 32), torch.tensor([1, 2, 3, 4])
    losses = model.forward_train(img, label)
    with torch.no_grad():
        _, cls_token, dist_token = model.extract_feat(img)[-1]
        cls_score, dist_score = model.head.layers.head(cls_token), model.head.layers.head_dist(dist_token)
        teacher = model.teacher.simple_test(img, softmax=False, post_process=False)
    assert torch.allclose(losses['loss'], 0.75 * F.cross_entropy(cls_score, label))
    if mode == 'hard':
        expected = F.cross_entropy(dist_score, teacher.argmax(1))
    else:  # KL(teacher || student) at temperature 2, per element, times 2^2
        p = F.softmax(teacher / 2, dim=1)
        expected = (p * (p.log() - F.log_softmax(dist_score / 2, dim=1))).sum() / dist_score.numel() * 4
    assert torch.allclose(losses['loss_distill'], 0.25 * expected)
    loss, _ = model._parse_losses(losses)
    loss.backward()
    assert model.head.layers.head_dist.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.teacher.parameters())
    model.double()  # the teacher follows the student's dtype and device
    assert next(model.teacher.parameters()).dtype == torch.float64


def test_without_a_teacher_the_averaged_logits_learn_the_labels(caplog):
    torch.manual_seed(0)
    model = build_classifier(_tiny()).train()
    img, label = torch.randn(2, 3, 32, 32), torch.tensor([0, 1])
    with caplog.at_level(logging.WARNING, logger='imgcls'):
        losses = model.forward_train(img, label)
    assert 'trained without a teacher' in caplog.text
    with torch.no_grad():
        expected = F.cross_entropy(model.head(model.extract_feat(img)), label)
    torch.testing.assert_close(losses['loss'].detach(), expected)


def test_teacher_config_errors_name_the_key():
    with pytest.raises(ConfigError, match='model.teacher must be dict'):
        build_classifier(dict(_tiny(), type='DistilledImageClassifier', teacher=dict(checkpoint='t.pth')))
    bad_head = dict(_tiny(), type='DistilledImageClassifier', teacher=_teacher_cfg())
    bad_head['head'] = dict(type='VisionTransformerClsHead', num_classes=10, in_channels=32)
    with pytest.raises(ConfigError, match='does not learn from a teacher'):
        build_classifier(bad_head)
    with pytest.raises(ConfigError, match=r"distill.mode='medium' must be 'hard' or 'soft'"):
        build_classifier(_tiny(distill=dict(mode='medium')))


def test_the_teacher_recipe_config_builds(tmp_path):
    teacher = tmp_path / 'teacher.py'
    teacher.write_text(f'model = {_teacher_cfg()["model"]!r}\n')
    cfg = model_cfg('configs/deit/deit-tiny-distilled_teacher_in1k.py')
    assert cfg['type'] == 'DistilledImageClassifier' and cfg['head']['distill'] == dict(mode='hard', alpha=0.5)
    cfg['teacher'] = dict(config=str(teacher), checkpoint=None)
    assert meta_params(cfg) == SIZES['deit-tiny-distilled_pt-4xb256_in1k']
