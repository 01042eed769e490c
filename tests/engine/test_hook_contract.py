"""Every registered hook keeps the hook contract; hook states are keyed per hook in checkpoints."""

from __future__ import annotations

import inspect
import logging
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from torch.utils.data import DataLoader

import imgcls.discover  # noqa: F401  (registers every module's hooks)
from imgcls.engine.hooks import HOOKS, EMAHook, Hook, get_priority
from imgcls.engine.hooks.trackers import UnsupportedLoggerHook
from imgcls.engine.precision import SpeedSettings
from imgcls.engine.runner import EpochBasedRunner, TrainingInterrupted
from imgcls.errors import ConfigError, ImgclsError


class _Data(torch.utils.data.Dataset):
    CLASSES = ('a', 'b')

    def __len__(self):
        return 2

    def __getitem__(self, i):
        return {'img': torch.zeros(1, 2, 2, dtype=torch.uint8), 'gt_label': torch.tensor(i)}

    def evaluate(self, results, metric='accuracy', metric_options=None, logger=None):
        return {'accuracy': 50.0}


# the arguments a hook cannot do without
REQUIRED = {
    'EvalHook': dict(dataloader=DataLoader(_Data(), batch_size=2)),
    'StepLrUpdaterHook': dict(step=1), 'ExpLrUpdaterHook': dict(gamma=0.9),
    'CosineRestartLrUpdaterHook': dict(periods=[1]), 'StopAtTargetHook': dict(target=97.0),
}
# mmcv's loggers of services imgcls has no client for stand in without a contract: see test_trackers.py
HOOK_CLASSES = sorted({cls for cls in HOOKS.module_dict.values() if not issubclass(cls, UnsupportedLoggerHook)},
                      key=lambda c: c.__name__)
POINTS = ('before_run', 'after_run', 'before_train_epoch', 'after_train_epoch', 'before_train_iter',
          'after_train_iter', 'before_val_epoch', 'after_val_epoch')


@pytest.mark.parametrize('cls', HOOK_CLASSES, ids=lambda c: c.__name__)
def test_hook_contract(cls):
    assert issubclass(cls, Hook) and inspect.getdoc(cls)
    assert 0 <= get_priority(cls.priority) <= 100
    for point in POINTS:
        params = list(inspect.signature(getattr(cls, point)).parameters)
        assert params == ['self', 'runner'], f'{cls.__name__}.{point}{params}'
    hook = HOOKS.build(dict(type=cls.__name__, **REQUIRED.get(cls.__name__, {})))
    state = hook.state_dict()
    assert state is None or isinstance(state, dict)
    if state is not None:
        hook.load_state_dict(state)
    with pytest.raises(ImgclsError, match='not_an_option'):  # a misspelt key is named, not swallowed
        HOOKS.build(dict(type=cls.__name__, not_an_option=1, **REQUIRED.get(cls.__name__, {})))


class Counter(Hook):
    """Counts iterations; its count is saved in checkpoints."""

    def __init__(self, start: int = 0):
        self.count = start

    def after_train_iter(self, runner):
        self.count += 1

    def state_dict(self):
        return {'count': self.count}

    def load_state_dict(self, state):
        self.count = state['count']


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def train_step(self, data):
        loss = self.fc(data).sum()
        return {'loss': loss, 'log_vars': {'loss': loss.detach()}, 'num_samples': len(data)}


def make_runner(tmp_path) -> EpochBasedRunner:
    model = Model()
    speed = SpeedSettings(torch.device('cpu'), None, False, False, False, 'test')
    return EpochBasedRunner(model, torch.optim.SGD(model.parameters(), lr=0.1), tmp_path, speed,
                            logger=logging.getLogger('imgcls.test'), max_epochs=1)


def test_two_hooks_of_one_type_keep_their_own_state(tmp_path):
    runner = make_runner(tmp_path)
    runner.register_hook(Counter(3))
    runner.register_hook(Counter(7))
    runner.save_checkpoint(tmp_path / 'c.pth', epoch=1, iter=1)
    saved = torch.load(tmp_path / 'c.pth', weights_only=True)
    assert saved['hooks'] == {'Counter': {'count': 3}, 'Counter.2': {'count': 7}}
    again = make_runner(tmp_path)
    first, second = Counter(), Counter()
    again.register_hook(first)
    again.register_hook(second)
    again.resume(tmp_path / 'c.pth')
    assert (first.count, second.count) == (3, 7)


def test_ema_weights_are_saved_as_a_state_dict(tmp_path):
    runner = make_runner(tmp_path)
    ema = EMAHook(momentum=0.5)
    runner.register_hook(ema)
    ema.before_run(runner)
    saved = runner.checkpoint_dict(1, 1)
    assert saved['state_dict_ema'].keys() == saved['state_dict'].keys() and 'EMAHook' not in saved.get('hooks', {})


def test_ema_momentum_follows_mmcv_warm_up_and_averages_parameters_only():
    ema = EMAHook(momentum=0.5, warm_up=3)
    # min(momentum, (1 + t) / (warm_up + t))
    assert [ema.momentum_at(t) for t in (0, 1, 5)] == [pytest.approx(1 / 3), 0.5, 0.5]
    assert EMAHook(momentum=0.1, interval=2).momentum == pytest.approx(0.01)  # momentum ** interval
    model = nn.Sequential(nn.Linear(1, 1, bias=False), nn.BatchNorm1d(1))
    runner = SimpleNamespace(model=model, iter=0)
    with torch.no_grad():
        model[0].weight.fill_(0.0)
    ema.before_run(runner)
    with torch.no_grad():
        model[0].weight.fill_(3.0)
        model[1].running_mean.fill_(2.0)
    ema.after_train_iter(runner)  # t = 0: m = 1/3
    assert ema.ema['0.weight'].item() == pytest.approx(1.0)
    assert ema.ema['1.running_mean'].item() == 2.0  # buffers are the model's own


def test_interrupt_message_goes_to_the_log(tmp_path, caplog):
    runner = make_runner(tmp_path)
    runner._stop_requested = 'SIGTERM'
    with caplog.at_level(logging.WARNING, logger='imgcls.test'), pytest.raises(TrainingInterrupted) as e:
        runner._stop_now()
    assert caplog.records[-1].getMessage() == str(e.value) and 'SIGTERM received' in str(e.value)


def test_precise_bn_rejects_a_bad_sample_count():
    with pytest.raises(ConfigError, match='PreciseBNHook num_samples must be a positive int, got 0'):
        HOOKS.build(dict(type='PreciseBNHook', num_samples=0))


def test_precise_bn_recomputes_trained_batchnorms_and_leaves_frozen_ones_alone():
    """Frozen stages (and ``norm_eval``) keep their BatchNorms in eval mode: PreciseBN must not reset them."""
    from imgcls.models import build_classifier
    model = build_classifier(dict(
        type='ImageClassifier', backbone=dict(type='ResNet_CIFAR', depth=18, in_channels=1, frozen_stages=1),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=2, in_channels=512, loss=dict(type='CrossEntropyLoss'))))
    frozen, trained = model.backbone.norm1, model.backbone.layer4[0].bn1
    with torch.no_grad():
        frozen.running_mean.fill_(0.5)
        frozen.running_var.fill_(2.0)
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (12, 1, 32, 32), generator=gen, dtype=torch.uint8)
    data = [{'img': img, 'gt_label': torch.tensor(i % 2)} for i, img in enumerate(images)]
    seen = []  # the inputs of a BatchNorm that trains, as PreciseBN runs the batches
    handle = trained.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    runner = SimpleNamespace(model=model, train_loader=DataLoader(data, batch_size=4), logger=logging.getLogger(
        'imgcls.test'), speed=SpeedSettings(torch.device('cpu'), None, False, False, False, 'test'))
    model.train()
    HOOKS.build(dict(type='PreciseBNHook', num_samples=12)).update_bn_stats(runner)
    handle.remove()
    assert torch.equal(frozen.running_mean, torch.full_like(frozen.running_mean, 0.5))
    assert torch.equal(frozen.running_var, torch.full_like(frozen.running_var, 2.0))
    assert len(seen) == 3  # 12 samples in batches of 4
    batch_means = torch.stack([x.mean(dim=(0, 2, 3)) for x in seen])
    torch.testing.assert_close(trained.running_mean, batch_means.mean(0))
    assert trained.momentum == 0.1 and model.training
