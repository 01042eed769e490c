"""mmcv 1.x runtime keys of old configs: each is honoured, or said once (to train.log too) as not honoured, and why."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import torch

from imgcls import Config
from imgcls.apis import train_model
from imgcls.apis.train import dist_backend
from imgcls.engine.hooks import HOOKS
from imgcls.engine.hooks.evaluation import EvalHook, _rule_for
from imgcls.engine.warn import reset_warnings
from imgcls.errors import ConfigError


def _loader():
    def evaluate(results, metric='accuracy', metric_options=None, indices=None, logger=None):
        return {}
    return SimpleNamespace(dataset=SimpleNamespace(evaluate=evaluate))


def _said(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_unused_evaluation_keys_are_said_once(caplog):
    reset_warnings()
    keys = dict(gpu_collect=True, tmpdir='/tmp/x', out_dir='s3://bucket', file_client_args=dict(backend='petrel'),
                broadcast_bn_buffer=False)
    with caplog.at_level(logging.WARNING, logger='imgcls'):
        EvalHook(_loader(), **keys)
        EvalHook(_loader(), **keys)  # a second build says nothing new
    said = _said(caplog)
    assert len(said) == 5
    assert 'evaluation.gpu_collect=True is not used: under torchrun the scores are gathered' in said[0]
    assert said[-1].startswith('evaluation.broadcast_bn_buffer=False is not honoured: ')
    reset_warnings()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger='imgcls'):
        EvalHook(_loader(), broadcast_bn_buffer=True, interval=2, start=1, save_best='auto')  # all honoured
    assert _said(caplog) == []


def test_greater_and_less_keys_decide_the_best_checkpoint_rule():
    assert _rule_for('accuracy_top-1') == 'greater' and _rule_for('val_loss') == 'less'
    assert _rule_for('error_rate', greater_keys=['error_rate']) == 'greater'
    assert _rule_for('distance', less_keys=['dist']) == 'less'
    hook = EvalHook(_loader(), save_best='auto', less_keys=['dist'])
    assert (hook.greater_keys, hook.less_keys) == ((), ['dist'])
    with pytest.raises(ConfigError, match=r"evaluation.rule='max': use 'greater' or 'less'"):
        EvalHook(_loader(), rule='max')


def test_an_unknown_evaluation_key_is_still_an_error():
    with pytest.raises(ConfigError, match=r"evaluation has an unknown key 'gpu_colect'. Did you mean 'gpu_collect'"):
        EvalHook(_loader(), gpu_colect=True)


def test_checkpoint_and_logger_keys_that_cannot_be_honoured_are_said(caplog):
    reset_warnings()
    with caplog.at_level(logging.WARNING, logger='imgcls'):
        HOOKS.build(dict(type='CheckpointHook', create_symlink=True, sync_buffer=True,
                         file_client_args=dict(backend='disk')))  # what imgcls does anyway: nothing to say
        HOOKS.build(dict(type='TextLoggerHook', ignore_last=False))
        assert _said(caplog) == []
        HOOKS.build(dict(type='CheckpointHook', create_symlink=False, file_client_args=dict(backend='petrel')))
        HOOKS.build(dict(type='TextLoggerHook', ignore_last=True, reset_flag=True, interval_exp_name=1000,
                         out_dir='s3://logs', keep_local=False))
    said = _said(caplog)
    assert said[0].startswith('checkpoint_config.create_symlink=False is not honoured: latest.pth is always written')
    assert said[1].startswith("checkpoint_config.file_client_args={'backend': 'petrel'} is not used")
    assert said[2].startswith('log_config: TextLoggerHook ignore_last=True is not honoured')
    assert said[3].startswith('log_config: TextLoggerHook reset_flag=True is not used')
    assert [line.split(' is not used')[0] for line in said[4:]] == [
        'log_config: TextLoggerHook interval_exp_name=1000', "log_config: TextLoggerHook out_dir='s3://logs'",
        'log_config: TextLoggerHook keep_local=False']


def test_dist_params_backend_is_honoured_under_torchrun():
    assert dist_backend(None, 'cuda') == (None, [])
    assert dist_backend(dict(backend='nccl'), 'cuda') == ('nccl', [])
    assert dist_backend(dict(backend='gloo'), 'cuda') == ('gloo', [])
    backend, notes = dist_backend(dict(backend='nccl', port=29500), 'cpu')  # mmcls's default_runtime on a CPU
    assert backend is None  # gloo, the CPU default
    assert notes == [('dist_params.port', 'dist_params.port=29500 is not used: torchrun sets the rendezvous '
                                          '(--master-addr / --master-port, or --rdzv-endpoint)'),
                     ('dist_params.backend', "dist_params.backend='nccl' needs CUDA devices: this cpu run uses gloo")]
    with pytest.raises(ConfigError, match="dist_params must be a dict such as dict"):
        dist_backend('nccl', 'cuda')


@pytest.mark.slow
def test_an_mmcls_runtime_section_trains_and_says_what_it_cannot_honour(tiny_config, tmp_path):
    cfg = Config.fromfile(tiny_config)
    out = tmp_path / 'checkpoints'
    cfg.merge_from_dict({
        'runner.max_epochs': 2, 'runner.max_iters': 5,
        'log_config': dict(interval=4, hooks=[dict(type='TextLoggerHook', ignore_last=True)]),
        'checkpoint_config': dict(interval=1, by_epoch=True, max_keep_ckpts=1, save_optimizer=False,
                                  out_dir=str(out), save_last=True, create_symlink=False),
        'evaluation': dict(interval=1, metric='accuracy', metric_options=dict(topk=(1,)), save_best='auto',
                           rule='greater', start=2, gpu_collect=True),
        'optimizer_config': dict(grad_clip=dict(max_norm=5.0)),
        'dist_params': dict(backend='nccl'), 'log_level': 'INFO', 'opencv_num_threads': 0,
        'mp_start_method': 'fork', 'workflow': [('train', 1), ('val', 1)], 'resume_from': None, 'load_from': None,
    })
    reset_warnings()
    train_model(cfg, work_dir=tmp_path / 'work', seed=0)
    log = (tmp_path / 'work' / 'train.log').read_text()
    # honoured: checkpoints in out_dir (only the last kept, no optimizer state), evaluation from epoch 2 only
    assert sorted(p.name for p in out.glob('*.pth')) == ['epoch_2.pth', 'latest.pth']
    assert 'optimizer' not in torch.load(out / 'epoch_2.pth', weights_only=True)
    assert 'evaluation at epoch 1' not in log and 'INFO evaluation at epoch 2: accuracy_top-1 ' in log
    assert (tmp_path / 'work' / 'best_accuracy_top-1.pth').is_file()
    # not honoured: said once each, in train.log
    for start in ('log_config: TextLoggerHook ignore_last=True is not honoured',
                  'checkpoint_config.create_symlink=False is not honoured', 'evaluation.gpu_collect=True is not used',
                  "workflow=[('train', 1), ('val', 1)]: only the train phase"):
        assert log.count(f'WARNING {start}') == 1, start
    assert 'dist_params' not in log  # a single process has no process group: nothing to configure (as mmcls)
    assert 'mp_start_method' not in log  # honoured where there are loader workers (here none)
    # an EpochBasedRunner runs its epochs: a max_iters beside them is said, also in train.log (it is said
    # before train.log exists), and does not shorten the run or the schedule
    assert log.count('WARNING runner.max_iters=5 is not used: an EpochBasedRunner runs for max_epochs=2') == 1
    assert 'final evaluation at the end (2 epochs, 24 iterations)' in log
    # load_from in the config (not only --load-from) starts a run from those weights
    again = Config.fromfile(tiny_config)
    again.merge_from_dict({'runner.max_epochs': 1, 'load_from': str(out / 'epoch_2.pth')})
    train_model(again, work_dir=tmp_path / 'again', seed=0)
    assert f"INFO loaded weights from {out / 'epoch_2.pth'}" in (tmp_path / 'again' / 'train.log').read_text()


def test_log_level_opencv_threads_and_resume_from_are_honoured(tmp_path, monkeypatch):
    import sys

    from imgcls.apis.train import apply_runtime_keys, resolve_resume
    calls = []
    monkeypatch.setitem(sys.modules, 'cv2', SimpleNamespace(setNumThreads=calls.append))
    logger = logging.getLogger('imgcls.test.level')
    apply_runtime_keys(Config(dict(log_level='WARNING', opencv_num_threads=0)), logger, torch.device('cpu'), False)
    assert logger.level == logging.WARNING and calls == [0]
    ckpt = tmp_path / 'epoch_3.pth'
    assert resolve_resume(None, Config(dict(resume_from=str(ckpt))), tmp_path) == ckpt
    assert resolve_resume(str(tmp_path / 'other.pth'), Config(dict(resume_from=str(ckpt))), tmp_path) == \
        tmp_path / 'other.pth'  # --resume CKPT wins


def test_mp_start_method_is_the_loader_workers_context():
    from imgcls.apis.train import with_start_method
    cfg = Config(dict(mp_start_method='spawn'))
    assert with_start_method(cfg, {'prefetch_factor': 4}, 2) == {'multiprocessing_context': 'spawn',
                                                                'prefetch_factor': 4}
    assert with_start_method(cfg, {}, 0) == {}  # no workers: DataLoader refuses a context
    # the loader's own setting wins
    assert with_start_method(cfg, {'multiprocessing_context': 'fork'}, 2) == {'multiprocessing_context': 'fork'}
    assert with_start_method(Config(dict()), {}, 2) == {}
    with pytest.raises(ConfigError, match=r"mp_start_method='sporn' is not a start method of this platform; use "
                                          r'one of .*spawn'):
        with_start_method(Config(dict(mp_start_method='sporn')), {}, 2)


def test_optimizer_config_all_reduce_keys_other_than_mmcv_defaults_are_said(caplog):
    reset_warnings()
    with caplog.at_level(logging.WARNING, logger='imgcls'):
        HOOKS.build(dict(type='Fp16OptimizerHook', loss_scale=512., distributed=True, coalesce=True,
                         bucket_size_mb=-1))
        assert _said(caplog) == []
        HOOKS.build(dict(type='Fp16OptimizerHook', distributed=False, bucket_size_mb=32))
    assert _said(caplog) == [
        'optimizer_config.distributed=False is not used: under torchrun DDP all-reduces the gradients, in buckets '
        'of its own',
        'optimizer_config.bucket_size_mb=32 is not used: under torchrun DDP all-reduces the gradients, in buckets '
        'of its own']
