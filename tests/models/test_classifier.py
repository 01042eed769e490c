"""ImageClassifier, BaseClassifier steps and ClsDataPreprocessor, with tiny test-only backbones."""

import pytest
import torch
import torch.nn as nn

from imgcls.errors import ConfigError, DataError
from imgcls.models.builder import BACKBONES, CLASSIFIERS, NECKS, build_classifier
from imgcls.models.classifiers import BaseClassifier, ImageClassifier
from imgcls.models.data_preprocessor import ClsDataPreprocessor, build_data_preprocessor


@BACKBONES.register_module(force=True)
class _TinyConvNet(nn.Module):
    """Test backbone: one conv, returns a tuple with one feature map."""

    def __init__(self, in_channels=3, out_channels=4):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.init_calls = []

    def forward(self, x):
        return (self.conv1(x),)

    def init_weights(self, pretrained=None):
        self.init_calls.append(pretrained)


@BACKBONES.register_module(force=True)
class _TinyVectorNet(nn.Module):
    """Test backbone that pools itself, so the classifier needs no neck."""

    def __init__(self, out_channels=4):
        super().__init__()
        self.conv1 = nn.Conv2d(3, out_channels, 1)

    def forward(self, x):
        return (self.conv1(x).mean(dim=(2, 3)),)


@NECKS.register_module(force=True)
class _TinyPool(nn.Module):
    def forward(self, inputs):
        return tuple(x.mean(dim=(2, 3)) for x in inputs)


MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def make_model(**kwargs):
    cfg = dict(type='ImageClassifier', backbone=dict(type='_TinyConvNet'), neck=dict(type='_TinyPool'),
               head=dict(type='LinearClsHead', num_classes=3, in_channels=4, topk=(1, 2), cal_acc=True),
               data_preprocessor=dict(mean=MEAN, std=STD))
    cfg.update(kwargs)
    torch.manual_seed(0)
    return build_classifier(cfg)


def batch(n=2):
    g = torch.Generator().manual_seed(1)
    return dict(img=torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8, generator=g),
                gt_label=torch.tensor([0, 2, 1, 1][:n]))


def normalized(n=2):
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    return (batch(n)['img'].float() - mean) / std


def test_build_and_parts():
    model = make_model()
    assert isinstance(model, ImageClassifier) and 'ImageClassifier' in CLASSIFIERS
    assert model.with_neck and model.with_head
    assert isinstance(model.data_preprocessor, ClsDataPreprocessor)
    keys = set(model.state_dict())
    assert keys == {'backbone.conv1.weight', 'backbone.conv1.bias', 'head.fc.weight', 'head.fc.bias'}
    neckless = make_model(neck=None, backbone=dict(type='_TinyVectorNet'))
    assert not neckless.with_neck and neckless.with_head
    assert not ImageClassifier(backbone=dict(type='_TinyConvNet')).with_head
    assert model.train() is model and model.eval() is model


def test_extract_feat_stages():
    model, img = make_model(), normalized()
    backbone = model.extract_feat(img, stage='backbone')
    assert isinstance(backbone, tuple) and backbone[0].shape == (2, 4, 8, 8)
    assert model.extract_feat(img)[0].shape == (2, 4)
    assert model.extract_feat(img, stage='pre_logits').shape == (2, 4)  # LinearClsHead takes the last one
    with pytest.raises(ValueError, match="'head'"):
        model.extract_feat(img, stage='head')
    feats = list(model.extract_feats([img, img[:1]], stage='backbone'))
    assert feats[1][0].shape == (1, 4, 8, 8)


@pytest.mark.parametrize('neck', [True, False])
def test_forward_train_and_simple_test(neck):
    model = make_model() if neck else make_model(neck=None, backbone=dict(type='_TinyVectorNet'))
    img, label = normalized(), batch()['gt_label']
    losses = model.forward_train(img, label)
    assert set(losses) == {'loss', 'accuracy'} and losses['loss'].dim() == 0
    assert set(model(img, gt_label=label)) == {'loss', 'accuracy'}
    out = model(img, return_loss=False)
    assert isinstance(out, list) and len(out) == 2 and out[0].shape == (3,)
    scores = model.simple_test(img, post_process=False)
    assert scores.shape == (2, 3) and torch.allclose(scores.sum(1), torch.ones(2))
    logits = model.forward_test([img], softmax=False, post_process=False)
    assert torch.allclose(logits.softmax(1), scores)
    with pytest.raises(NotImplementedError):
        model.forward_test([img, img])


def test_parse_losses_sums_loss_keys_into_detached_tensors():
    a = torch.tensor(1.0, requires_grad=True)
    losses = dict(loss_cls=a * 2, loss_aux=[torch.tensor([1.0, 3.0]), torch.tensor(0.5)],
                  accuracy={'top-1': torch.tensor([50.0]), 'top-5': torch.tensor([75.0])},
                  other=torch.tensor(7.0))
    loss, log_vars = BaseClassifier._parse_losses(losses)
    assert torch.allclose(loss, torch.tensor(2.0 + 2.0 + 0.5)) and loss.requires_grad
    assert list(log_vars) == ['loss_cls', 'loss_aux', 'accuracy.top-1', 'accuracy.top-5', 'other', 'loss']
    for v in log_vars.values():
        assert isinstance(v, torch.Tensor) and v.dim() == 0 and not v.requires_grad
    assert log_vars['loss_aux'].tolist() == 2.5 and log_vars['accuracy.top-5'].tolist() == 75.0
    assert log_vars['loss'].tolist() == 4.5
    with pytest.raises(TypeError, match="'bad'"):
        BaseClassifier._parse_losses(dict(loss=torch.tensor(1.0), bad='x'))


def test_train_val_test_steps():
    model, data = make_model(), batch()
    out = model.train_step(data, optimizer=None)
    assert set(out) == {'loss', 'log_vars', 'num_samples'} and out['num_samples'] == 2
    assert out['loss'].requires_grad
    assert set(out['log_vars']) == {'loss', 'accuracy.top-1', 'accuracy.top-2'}
    assert torch.allclose(out['loss'], model.forward_train(normalized(), data['gt_label'])['loss'])
    out['loss'].backward()
    assert model.head.fc.weight.grad is not None
    with torch.no_grad():
        val = model.val_step(data)
    assert not val['loss'].requires_grad and val['num_samples'] == 2
    assert model.val_step(data)['loss'].requires_grad  # the caller's grad mode decides
    scores = model.test_step(dict(img=data['img'], img_metas=[{}, {}]))
    assert scores.shape == (2, 3) and torch.allclose(scores.sum(1), torch.ones(2))
    with pytest.raises(DataError, match='gt_label'):
        model.train_step(dict(img=data['img']))
    with pytest.raises(DataError, match='img'):
        model.test_step(dict(image=data['img']))


def test_batch_augments_run_only_in_training():
    calls = []

    def flip_labels(img, gt_label):
        calls.append(img.dtype)
        return img, 2 - gt_label

    model = make_model(data_preprocessor=dict(mean=MEAN, std=STD, batch_augments=flip_labels))
    data = batch()
    model.val_step(data)
    assert calls == []
    model.train_step(data)
    assert calls == [torch.float32]  # augments see the normalised float batch
    img, label = model.data_preprocessor(data['img'], data['gt_label'], training=True)
    assert label.tolist() == [2, 0]


def test_init_weights_and_pretrained():
    model = make_model(pretrained='ckpt.pth')
    nn.init.constant_(model.head.fc.bias, 3.)
    model.init_weights()
    assert model.backbone.init_calls == ['ckpt.pth']
    assert torch.all(model.head.fc.bias == 0)
    plain = make_model()
    plain.init_weights()
    assert plain.backbone.init_calls == [None]


def test_train_cfg_is_checked():
    with pytest.raises(ConfigError, match='augmnets'):
        make_model(train_cfg=dict(augmnets=dict(type='BatchMixup')))
    assert make_model(train_cfg=dict()).data_preprocessor.batch_augments is None


# ---- data preprocessor ----

def test_preprocessor_normalises_uint8():
    pre = ClsDataPreprocessor(mean=[10., 20., 30.], std=[2., 4., 5.])
    img = torch.tensor([[[[10, 12]], [[20, 40]], [[30, 130]]]], dtype=torch.uint8)  # (1, 3, 1, 2)
    out, label = pre(img, torch.tensor([1]))
    assert out.dtype == torch.float32 and label.tolist() == [1]
    assert out.flatten().tolist() == [0., 1., 0., 5., 0., 20.]
    no_norm, none_label = ClsDataPreprocessor()(img)
    assert none_label is None and no_norm.dtype == torch.float32 and torch.equal(no_norm, img.float())


def test_preprocessor_to_rgb_false_flips_to_bgr():
    img = torch.tensor([10, 20, 30], dtype=torch.uint8).view(1, 3, 1, 1)
    out, _ = ClsDataPreprocessor(to_rgb=False)(img)
    assert out.flatten().tolist() == [30., 20., 10.]
    out, _ = ClsDataPreprocessor(mean=[30., 0., 0.], std=[1., 1., 2.], to_rgb=False)(img)
    assert out.flatten().tolist() == [0., 20., 5.]  # mean/std are in the model's (BGR) order
    out, _ = ClsDataPreprocessor(to_rgb=True)(img)
    assert out.flatten().tolist() == [10., 20., 30.]


def test_preprocessor_float_input_is_only_moved():
    img = torch.randn(2, 3, 4, 4)
    out, _ = ClsDataPreprocessor(mean=MEAN, std=STD, to_rgb=False)(img)
    assert torch.equal(out, img)


def test_preprocessor_grayscale_and_channel_mismatch():
    pre = ClsDataPreprocessor(mean=[0., 10., 20.], std=[1., 2., 4.])
    gray = torch.full((2, 1, 2, 2), 40, dtype=torch.uint8)
    out, _ = pre(gray)
    assert out.shape == (2, 3, 2, 2)
    assert out[0, :, 0, 0].tolist() == [40., 15., 5.]
    with pytest.raises(DataError, match='4 channels.*3 values'):
        pre(torch.zeros(1, 4, 2, 2, dtype=torch.uint8))
    one = ClsDataPreprocessor(mean=[40.], std=[2.])  # one value applies to every channel
    assert one(torch.full((1, 3, 1, 1), 42, dtype=torch.uint8))[0].flatten().tolist() == [1., 1., 1.]


def test_preprocessor_channels_last():
    img = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    out, _ = ClsDataPreprocessor(mean=MEAN, std=STD, channels_last=True)(img)
    assert out.is_contiguous(memory_format=torch.channels_last)
    model = make_model(data_preprocessor=dict(mean=MEAN, std=STD, channels_last=True))
    assert model.test_step(batch()).shape == (2, 3)


def test_preprocessor_buffers_follow_the_model_but_stay_out_of_state_dict():
    pre = ClsDataPreprocessor(mean=MEAN, std=STD)
    assert pre.mean.shape == (3, 1, 1) and pre.std.shape == (3, 1, 1)
    assert len(pre.state_dict()) == 0
    assert not any('data_preprocessor' in k for k in make_model().state_dict())
    pre = pre.to(torch.float64)  # buffers move with the module
    assert pre.mean.dtype == torch.float64


def test_preprocessor_config_errors():
    with pytest.raises(ConfigError, match='mean and std together'):
        ClsDataPreprocessor(mean=MEAN)
    with pytest.raises(ConfigError, match='3 values but std has 2'):
        ClsDataPreprocessor(mean=MEAN, std=[1., 2.])
    with pytest.raises(ConfigError, match='must not contain 0'):
        ClsDataPreprocessor(mean=MEAN, std=[1., 0., 1.])
    with pytest.raises(ConfigError, match='bgr_to_rgb'):
        build_data_preprocessor(dict(mean=MEAN, std=STD, bgr_to_rgb=True))
    pre = build_data_preprocessor(dict(type='ClsDataPreprocessor', mean=MEAN, std=STD, to_rgb=False))
    assert pre.to_rgb is False
    with pytest.raises(ConfigError, match='batch_augments'):
        ClsDataPreprocessor(batch_augments=dict(type='Mixup'))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_preprocessor_moves_batch_to_the_model_device():
    model = make_model().cuda()
    data = batch()
    data['img'] = data['img'].pin_memory()
    img, label = model.data_preprocessor(data['img'], data['gt_label'])
    assert img.is_cuda and label.is_cuda and img.dtype == torch.float32
    assert torch.allclose(img.cpu(), normalized(), atol=1e-5)
    out = model.train_step(data)
    assert out['loss'].is_cuda and out['log_vars']['accuracy.top-1'].is_cuda
    assert model.test_step(data).is_cuda
    float_img, _ = ClsDataPreprocessor().cuda()(torch.randn(1, 3, 2, 2))
    assert float_img.is_cuda
