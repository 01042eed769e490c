"""What train_model decides before training: threads, runner, class count, --load-from report, runtime keys."""

from __future__ import annotations

import logging
import os
import warnings

import pytest
import torch
import torch.nn as nn

from imgcls import Config
from imgcls.apis.train import _check_num_classes, apply_runtime_keys, load_weights, runner_class
from imgcls.engine import EpochBasedRunner, IterBasedRunner, threads
from imgcls.engine.warn import reset_warnings
from imgcls.errors import ConfigError
from imgcls.models.builder import build_classifier

LOG = logging.getLogger('imgcls.test')


def test_cgroup_quota_v2_and_v1(tmp_path):
    (tmp_path / 'cpu.max').write_text('150000 100000\n')
    assert threads.cgroup_cpu_quota(tmp_path) == 1.5
    (tmp_path / 'cpu.max').write_text('max 100000\n')
    assert threads.cgroup_cpu_quota(tmp_path) is None
    v1 = tmp_path / 'v1'
    (v1 / 'cpu').mkdir(parents=True)
    (v1 / 'cpu' / 'cpu.cfs_quota_us').write_text('200000')
    (v1 / 'cpu' / 'cpu.cfs_period_us').write_text('100000')
    assert threads.cgroup_cpu_quota(v1) == 2.0
    (v1 / 'cpu' / 'cpu.cfs_quota_us').write_text('-1')
    assert threads.cgroup_cpu_quota(v1) is None


def test_threads_are_the_usable_cores_other_processes_leave_free(monkeypatch):
    monkeypatch.delenv('IMGCLS_NUM_THREADS', raising=False)
    monkeypatch.delenv('OMP_NUM_THREADS', raising=False)
    monkeypatch.setattr(threads, 'affinity_cpus', lambda: 16)
    monkeypatch.setattr(threads, 'cgroup_cpu_quota', lambda: 3.5)  # a 3.5-core container on a 16-core host
    monkeypatch.setattr(threads, 'busy_cpus', lambda usable: 0.6)  # a quiet machine, some load lingering
    assert threads.available_cpus() == 4
    assert threads.choose_num_threads(loader_workers=2)[0] == 4  # light workers keep no core to themselves
    monkeypatch.setattr(threads, 'busy_cpus', lambda usable: 0.8)  # most of a core taken by others
    assert threads.choose_num_threads(loader_workers=2)[0] == 3
    monkeypatch.setattr(threads, 'busy_cpus', lambda usable: 2.6)  # others keep 2 cores and a bit busy
    assert threads.choose_num_threads(loader_workers=2)[0] == 2
    monkeypatch.setattr(threads, 'busy_cpus', lambda usable: 9.0)  # busier than the cores: still one thread
    assert threads.choose_num_threads(loader_workers=2)[0] == 1
    monkeypatch.setattr(threads, 'cgroup_cpu_quota', lambda: None)
    monkeypatch.setattr(threads, 'busy_cpus', lambda usable: 4.0)
    assert threads.choose_num_threads(loader_workers=2, world_size=2)[0] == 6  # 12 free cores shared by 2 ranks
    monkeypatch.setenv('OMP_NUM_THREADS', '3')
    assert threads.choose_num_threads(loader_workers=2) == (3, 'OMP_NUM_THREADS=3')  # yours wins
    monkeypatch.setenv('IMGCLS_NUM_THREADS', '5')
    assert threads.choose_num_threads(loader_workers=2) == (5, 'IMGCLS_NUM_THREADS=5')


def test_runner_type_and_length():
    assert runner_class(dict(type='EpochBasedRunner', max_epochs=3)) is EpochBasedRunner
    assert runner_class(dict(type='IterBasedRunner', max_iters=100)) is IterBasedRunner
    with pytest.raises(ConfigError, match="runner.type='EpochRunner' is not a runner"):
        runner_class(dict(type='EpochRunner', max_epochs=3))
    with pytest.raises(ConfigError, match='IterBasedRunner needs max_iters as a positive int, got None'):
        runner_class(dict(type='IterBasedRunner', max_epochs=3))


def test_more_outputs_than_classes_is_said_before_training(caplog):
    cfg = {'model': {'head': {'num_classes': 5}}}
    with caplog.at_level(logging.WARNING, logger='imgcls.test'):
        _check_num_classes(cfg, ['a', 'b', 'c'], LOG)
    assert caplog.records[0].getMessage().startswith('model.head.num_classes=5 but the training dataset has 3 '
                                                     'classes (a, b, c): 2 outputs will never be a label')
    with caplog.at_level(logging.WARNING, logger='imgcls.test'):
        _check_num_classes({'model': {'head': {'num_classes': 4}}}, ['a', 'b', 'c'], LOG)
    assert caplog.records[1].getMessage().startswith('model.head.num_classes=4 but the training dataset has 3 '
                                                     'classes (a, b, c): 1 output will never be a label; ')
    with pytest.raises(ConfigError, match='set --cfg-options model.head.num_classes=3'):
        _check_num_classes({'model': {'head': {'num_classes': 2}}}, ['a', 'b', 'c'], LOG)


def test_load_from_tells_missing_wrong_shape_and_unused_apart(tmp_path, caplog):
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 4))
    state = {'0.weight': torch.ones(3, 2), '0.bias': torch.ones(3), '1.weight': torch.ones(5, 3),
             'extra.weight': torch.ones(1)}
    path = tmp_path / 'w.pth'
    torch.save({'state_dict': state}, path)
    with caplog.at_level(logging.INFO), warnings.catch_warnings():
        warnings.simplefilter('error')  # said as log lines, not UserWarnings
        report = load_weights(model, str(path), False, LOG)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [  # one line for what did not load, each kind told apart; then that the load is done
        f'loaded 2 weights from {path}; skipped 1 with another shape (the shapes differ; they keep their init): '
        '1.weight (5, 3)->(4, 3); 1 model weights are not in the checkpoint (they keep their init): 1.bias; '
        '1 checkpoint weights have no place in the model (ignored): extra.weight',
        f'loaded weights from {path}']
    assert torch.equal(model[0].weight, torch.ones(3, 2)) and report['unexpected'] == ['extra.weight']


def test_load_from_logs_other_loading_notes(tmp_path, caplog):
    def make(in_channels):
        return build_classifier(dict(type='ImageClassifier', backbone=dict(
            type='ResNet_CIFAR', depth=18, in_channels=in_channels, stem_channels=8, base_channels=8),
            neck=dict(type='GlobalAveragePooling'), head=dict(type='LinearClsHead', num_classes=2, in_channels=64)))
    torch.save({'state_dict': make(3).state_dict()}, tmp_path / 'rgb.pth')
    with caplog.at_level(logging.INFO), warnings.catch_warnings():
        warnings.simplefilter('error')
        load_weights(make(1), str(tmp_path / 'rgb.pth'), False, LOG)
    assert any('from 3 to 1 input channels' in r.getMessage() for r in caplog.records)


def test_runtime_keys_imgcls_cannot_honour_are_said_once(caplog):
    reset_warnings()
    cfg = Config(dict(momentum_config=dict(policy='cyclic'), workflow=[('train', 1), ('val', 1)]))
    with caplog.at_level(logging.WARNING, logger='imgcls.test'):
        apply_runtime_keys(cfg, LOG, torch.device('cpu'), distributed=False)
        apply_runtime_keys(cfg, LOG, torch.device('cpu'), distributed=False)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("momentum_config={'policy': 'cyclic'} is ignored")
    assert lines[1].startswith("workflow=[('train', 1), ('val', 1)]: only the train phase runs")


def test_ipu_runner_keys_of_mmcls_configs_are_ignored_with_a_warning(caplog):
    from imgcls.apis.schema import check_for_training
    cfg = Config(dict(model=dict(type='ImageClassifier'), data=dict(samples_per_gpu=2, train=dict()),
                      optimizer=dict(type='SGD', lr=0.1),
                      runner=dict(type='IterBasedRunner', max_iters=10, ipu_model_cfg=dict(), options_cfg=dict())))
    reset_warnings()
    with caplog.at_level(logging.WARNING):
        check_for_training(cfg)
    assert "runner keys ['ipu_model_cfg', 'options_cfg'] configure Graphcore IPUs" in caplog.text
    cfg.runner['max_iter'] = 5  # a misspelling is still an error
    with pytest.raises(ConfigError, match=r"runner has unknown keys \['max_iter'\]"):
        check_for_training(cfg)


def test_busy_cores_are_the_machines_use_less_this_process(monkeypatch):
    stats = iter([(100.0, 400.0), (160.0, 500.0)])  # 60 of 100 jiffies busy over the window: 0.6 of the machine
    monkeypatch.setattr(threads, '_cpu_times', lambda: next(stats))
    monkeypatch.setattr(threads.os, 'cpu_count', lambda: 4)
    monkeypatch.setattr(threads.time, 'sleep', lambda s: None)
    times = iter([os.times_result((1.0, 0.0, 0, 0, 0)), os.times_result((1.1, 0.0, 0, 0, 0))])
    monkeypatch.setattr(threads.os, 'times', lambda: next(times))
    # 0.6 x 4 cores = 2.4 busy, of which this process used 0.1 s in 0.25 s = 0.4: others 2.0 of 4, 1.0 of 2 usable
    assert threads.busy_cpus(2, window=0.25) == pytest.approx(1.0)


def test_without_proc_stat_the_load_average_is_used(monkeypatch):
    monkeypatch.setattr(threads, '_cpu_times', lambda: None)
    monkeypatch.setattr(threads.os, 'getloadavg', lambda: (3.0, 2.0, 1.0))
    monkeypatch.setattr(threads.os, 'cpu_count', lambda: 8)
    assert threads.busy_cpus(2) == 0.75  # a load of 3 spread over 8 cores: 0.75 of the 2 this process may use
