"""Experiment trackers (W&B, MLflow, TensorBoard): what they are sent, and the error when their library is missing.

The libraries are optional extras and not installed for the tests: small stand-ins record the calls.
"""

from __future__ import annotations

import sys
from types import ModuleType, SimpleNamespace

import pytest
import torch

from imgcls.engine.hooks import HOOKS
from imgcls.engine.hooks.trackers import scalars
from imgcls.errors import ConfigError

TRAIN = {'mode': 'train', 'epoch': 1, 'iter': 20, 'lr': 0.1, 'loss': 0.5}
VAL = {'mode': 'val', 'epoch': 1, 'iter': 20, 'accuracy_top-1': 90.0}


class Calls(ModuleType):
    """A module that records every call made on it."""

    def __init__(self, name: str):
        super().__init__(name)
        self.calls: list[tuple] = []

    def __getattr__(self, attr):
        if attr.startswith('__'):
            raise AttributeError(attr)

        def record(*args, **kwargs):
            self.calls.append((attr, args, kwargs))
            return SimpleNamespace(add_file=lambda path: self.calls.append(('add_file', (path,), {})))
        return record


def drive(hook, work_dir) -> None:
    runner = SimpleNamespace(work_dir=work_dir, model=torch.nn.Linear(1, 1))
    hook.before_run(runner)
    hook.write(runner, TRAIN)
    hook.write(runner, VAL)
    hook.after_run(runner)


def test_scalars_are_named_by_mode():
    assert scalars(TRAIN) == {'train/lr': 0.1, 'train/loss': 0.5}
    assert scalars(VAL) == {'val/accuracy_top-1': 90.0}


def test_wandb_gets_init_kwargs_metrics_at_their_iteration_and_the_logs(tmp_path, monkeypatch):
    wandb = Calls('wandb')
    monkeypatch.setitem(sys.modules, 'wandb', wandb)
    (tmp_path / 'train.log').write_text('x')
    (tmp_path / 'epoch_1.pth').write_text('x')
    drive(HOOKS.build(dict(type='WandbLoggerHook', init_kwargs=dict(project='digits'))), tmp_path)
    names = [c[0] for c in wandb.calls]
    assert names == ['init', 'log', 'log', 'Artifact', 'add_file', 'log_artifact', 'finish']
    assert wandb.calls[0][2] == {'project': 'digits', 'dir': str(tmp_path)}
    assert wandb.calls[1][1] == ({'train/lr': 0.1, 'train/loss': 0.5},) and wandb.calls[1][2]['step'] == 20
    assert wandb.calls[4][1] == (str(tmp_path / 'train.log'),)  # checkpoints are not uploaded


def test_wandb_define_metric_cfg_sets_the_summaries(tmp_path, monkeypatch):
    wandb = Calls('wandb')
    monkeypatch.setitem(sys.modules, 'wandb', wandb)
    hook = HOOKS.build(dict(type='WandbLoggerHook', log_artifact=False,
                            define_metric_cfg={'val/accuracy_top-1': 'max', 'train/loss': 'min'}))
    drive(hook, tmp_path)
    assert wandb.calls[1:3] == [('define_metric', ('val/accuracy_top-1',), {'summary': 'max'}),
                                ('define_metric', ('train/loss',), {'summary': 'min'})]
    with pytest.raises(ConfigError, match='define_metric_cfg must be a dict'):
        HOOKS.build(dict(type='WandbLoggerHook', define_metric_cfg=['max']))


@pytest.mark.parametrize('name', ['PaviLoggerHook', 'NeptuneLoggerHook', 'DvcliveLoggerHook', 'ClearMLLoggerHook',
                                  'SegmindLoggerHook'])
def test_mmcv_loggers_without_an_imgcls_client_are_said_once_and_log_nothing(name, caplog):
    import logging

    from imgcls.engine.hooks import LoggerHook
    from imgcls.engine.warn import reset_warnings
    reset_warnings()
    with caplog.at_level(logging.WARNING, logger='imgcls'):
        hook = HOOKS.build(dict(type=name, init_kwargs=dict(project='p'), add_graph=True),
                           default_args={'interval': 1, 'by_epoch': True})
        HOOKS.build(dict(type=name), default_args={'interval': 1, 'by_epoch': True})
    assert [r.getMessage() for r in caplog.records] == [
        f'log_config.hooks: {name} (with add_graph, init_kwargs) is not used: imgcls has no client for that service '
        '(train.log and log.jsonl are written; TensorboardLoggerHook, WandbLoggerHook and MlflowLoggerHook send the '
        'metrics to a tracker)']
    assert not isinstance(hook, LoggerHook)  # its interval does not change how often the others write


def test_mlflow_gets_experiment_tags_params_metrics_and_the_model(tmp_path, monkeypatch):
    mlflow, mlflow_pytorch = Calls('mlflow'), Calls('mlflow.pytorch')
    monkeypatch.setitem(sys.modules, 'mlflow', mlflow)
    monkeypatch.setitem(sys.modules, 'mlflow.pytorch', mlflow_pytorch)
    drive(HOOKS.build(dict(type='MlflowLoggerHook', exp_name='e', tags={'a': 'b'}, params={'lr': 0.1})), tmp_path)
    assert [c[0] for c in mlflow.calls] == ['set_experiment', 'start_run', 'set_tags', 'log_params', 'log_metrics',
                                            'log_metrics', 'end_run']
    assert mlflow.calls[5][1] == ({'val/accuracy_top-1': 90.0},) and mlflow.calls[5][2] == {'step': 20}
    assert [c[0] for c in mlflow_pytorch.calls] == ['log_model'] and mlflow_pytorch.calls[0][1][1] == 'models'


@pytest.mark.parametrize('hook, module, extra', [('WandbLoggerHook', 'wandb', 'wandb'),
                                                 ('MlflowLoggerHook', 'mlflow', 'mlflow'),
                                                 ('TensorboardLoggerHook', 'tensorboard', 'tensorboard')])
def test_a_missing_library_names_the_extra(tmp_path, monkeypatch, hook, module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(ConfigError) as e:
        HOOKS.build(dict(type=hook)).before_run(SimpleNamespace(work_dir=tmp_path))
    assert str(e.value) == (f'log_config.hooks has a {hook} but the {module} package is not installed: '
                            f"pip install 'imgcls[{extra}]' (or remove the hook)")
