"""Batch augments (mmcls 0.x ``train_cfg.augments``): Mixup, CutMix, ResizeMix, Identity and Augments."""

import pytest
import torch

from imgcls.errors import ConfigError, RegistryError
from imgcls.models.builder import build_classifier
from imgcls.models.utils.augment import AUGMENT, Augments, build_augment

C = 6


def constant_batch(n=4, size=8):
    """Image i is filled with the value i and has label i, so the mixing can be read off the pixels."""
    img = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, size, size).contiguous()
    return img, torch.arange(n)


def test_registered_names_and_aliases():
    assert {'BatchMixup', 'BatchCutMix', 'BatchResizeMix', 'Identity', 'Mixup', 'CutMix',
            'ResizeMix'} <= set(AUGMENT.keys())
    assert AUGMENT.get('Mixup') is AUGMENT.get('BatchMixup')
    assert AUGMENT.get('CutMix') is AUGMENT.get('BatchCutMix')


def test_mixup_blends_images_and_labels_alike():
    torch.manual_seed(0)
    mixup = build_augment(dict(type='BatchMixup', alpha=0.8, num_classes=C))
    img, label = constant_batch()
    before = img.clone()
    mixed, soft = mixup(img, label)
    assert torch.equal(img, before)  # the input batch is not changed
    assert mixed.shape == img.shape and soft.shape == (4, C) and soft.dtype == torch.float32
    assert torch.allclose(soft.sum(1), torch.ones(4))
    for i in range(4):
        # the pixel value is the label-weighted mean of the classes (image value == class index)
        expected = (soft[i] * torch.arange(C, dtype=torch.float32)).sum()
        assert torch.allclose(mixed[i], expected.expand_as(mixed[i]), atol=1e-5)
    assert torch.all(soft[:, 4:] == 0)


def test_mixup_is_reproducible_with_torch_seed():
    mixup = build_augment(dict(type='Mixup', alpha=1.0, num_classes=C))
    img, label = constant_batch()
    torch.manual_seed(3)
    first = mixup(img, label)
    torch.manual_seed(3)
    second = mixup(img, label)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


def _original_fraction(mixed, i):
    return ((mixed[i, 0] - i).abs() < 1e-4).float().mean().item()


@pytest.mark.parametrize('cfg', [dict(type='BatchCutMix', alpha=1.0),
                                 dict(type='BatchCutMix', alpha=1.0, cutmix_minmax=(0.25, 0.75)),
                                 dict(type='BatchResizeMix', alpha=1.0)])
def test_box_mixes_weigh_labels_by_area(cfg):
    aug = build_augment(dict(cfg, num_classes=C))
    for seed in range(5):
        torch.manual_seed(seed)
        img, label = constant_batch(n=4, size=16)
        mixed, soft = aug(img, label)
        assert torch.allclose(soft.sum(1), torch.ones(4))
        for i in range(4):
            own = soft[i, i].item()
            if own < 1:  # mixed with another image: its weight is the share of untouched pixels
                assert own == pytest.approx(_original_fraction(mixed, i), abs=1e-6)
            # every pixel comes from this image or its partner
            partner = soft[i].clone()
            partner[i] = 0
            values = set(mixed[i].round(decimals=4).unique().tolist())  # bilinear resizing is not exact
            assert values <= {float(i), float(partner.argmax())}


def test_cutmix_minmax_box_sides_stay_in_range():
    aug = build_augment(dict(type='CutMix', alpha=1.0, num_classes=C, cutmix_minmax=(0.25, 0.5)))
    torch.manual_seed(0)
    for _ in range(20):
        y1, y2, x1, x2 = aug.rand_bbox_minmax((2, 3, 16, 16))
        assert 4 <= y2 - y1 < 8 and 4 <= x2 - x1 < 8 and y2 <= 16 and x2 <= 16


def test_cutmix_without_lam_correction_keeps_the_beta_draw():
    aug = build_augment(dict(type='BatchCutMix', alpha=1.0, num_classes=C, correct_lam=False))
    box, lam = aug.cutmix_bbox_and_lam((1, 3, 10, 10), 0.3)
    assert lam == 0.3
    corrected = build_augment(dict(type='BatchCutMix', alpha=1.0, num_classes=C))
    (y1, y2, x1, x2), lam = corrected.cutmix_bbox_and_lam((1, 3, 10, 10), 0.3)
    assert lam == pytest.approx(1 - (y2 - y1) * (x2 - x1) / 100)


def test_identity_gives_one_hot_labels():
    img, label = constant_batch()
    out, soft = build_augment(dict(type='Identity', num_classes=C))(img, label)
    assert out is img and torch.equal(soft, torch.eye(C)[:4])
    # labels that already are rows (e.g. from an earlier mix) pass through
    _, again = build_augment(dict(type='Identity', num_classes=C))(img, soft * 0.5)
    assert torch.equal(again, soft * 0.5)


def test_augments_fills_the_rest_with_identity_and_chooses_by_prob():
    augments = Augments(dict(type='BatchMixup', alpha=0.8, num_classes=C, prob=0.5))
    assert [type(a).__name__ for a in augments.augments] == ['BatchMixupLayer', 'Identity']
    assert augments.augment_probs == [0.5, 0.5]
    img, label = constant_batch()
    torch.manual_seed(0)
    mixed_batches = 0
    for _ in range(400):
        _, soft = augments(img, label)
        assert soft.shape == (4, C)
        mixed_batches += int(not torch.equal(soft, torch.eye(C)[:4]))
    assert 150 <= mixed_batches <= 250  # 200 expected; 5 standard deviations either side


def test_augments_list_with_probs_summing_to_one():
    augments = Augments([dict(type='BatchMixup', alpha=0.8, num_classes=C, prob=0.5),
                         dict(type='BatchCutMix', alpha=1.0, num_classes=C, prob=0.5)])
    assert len(augments.augments) == 2 and augments.num_classes == C
    img, label = constant_batch()
    torch.manual_seed(1)
    out, soft = augments(img, label)
    assert out.shape == img.shape and soft.shape == (4, C)


@pytest.mark.parametrize('cfg, match', [
    ([dict(type='BatchMixup', alpha=0.8, num_classes=C, prob=0.7),
      dict(type='BatchCutMix', alpha=1.0, num_classes=C, prob=0.6)], r'sum to 1\.3 > 1'),
    ([dict(type='BatchMixup', alpha=0.8, num_classes=C, prob=0.5), dict(type='Identity', num_classes=C, prob=0.2)],
     'must sum to 1'),
    ([dict(type='BatchMixup', alpha=0.8, num_classes=C, prob=0.5),
      dict(type='BatchCutMix', alpha=1.0, num_classes=5, prob=0.5)], 'different num_classes'),
    ([], 'non-empty list'),
    (dict(type='BatchMixup', alpha=0., num_classes=C), 'alpha'),
    (dict(type='BatchMixup', alpha=1., num_classes=C, prob=1.5), 'prob'),
    (dict(type='BatchMixup', alpha=1., num_classes=0), 'num_classes'),
    (dict(type='BatchCutMix', alpha=1., num_classes=C, cutmix_minmax=(0.8, 0.2)), 'cutmix_minmax'),
    (dict(type='BatchResizeMix', alpha=1., num_classes=C, interpolation='cubic'), 'interpolation'),
    (dict(type='BatchResizeMix', alpha=1., num_classes=C, lam_min=0.9, lam_max=0.1), 'lam_min'),
])
def test_augments_config_errors(cfg, match):
    with pytest.raises(ConfigError, match=match):
        Augments(cfg)


def test_unknown_augment_type_suggests_names():
    with pytest.raises(RegistryError, match='BatchMixup'):
        Augments(dict(type='BatchMixUp', alpha=1., num_classes=C))


def test_augment_input_errors():
    mixup = build_augment(dict(type='BatchMixup', alpha=1., num_classes=C))
    with pytest.raises(ValueError, match='float'):
        mixup(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match='labels'):
        mixup(torch.zeros(2, 3, 4, 4), None)


def test_classifier_train_cfg_augments_mix_only_in_training():
    model = build_classifier(dict(
        type='ImageClassifier', backbone=dict(type='ResNet_CIFAR', depth=18, base_channels=8),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=C, in_channels=64, cal_acc=True),
        train_cfg=dict(augments=[dict(type='BatchMixup', alpha=0.8, num_classes=C, prob=0.5),
                                 dict(type='BatchCutMix', alpha=1.0, num_classes=C, prob=0.5)])))
    assert isinstance(model.data_preprocessor.batch_augments, Augments)
    data = dict(img=torch.randint(0, 255, (2, 3, 16, 16), dtype=torch.uint8), gt_label=torch.tensor([0, 3]))
    img, soft = model.data_preprocessor(data['img'], data['gt_label'], training=True)
    assert soft.shape == (2, C) and torch.allclose(soft.sum(1), torch.ones(2))
    _, hard = model.data_preprocessor(data['img'], data['gt_label'], training=False)
    assert torch.equal(hard, data['gt_label'])
    out = model.train_step(data)
    assert torch.isfinite(out['loss']) and 'accuracy.top-1' in out['log_vars']
    out['loss'].backward()
