"""Engine features seen through training runs: iteration-based runner, EMA, PreciseBN, divergence, grad clip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from imgcls import Config
from imgcls.apis import train_model
from imgcls.engine.runner import TrainingDiverged


def run(tiny_config: Path, tmp_path: Path, **options) -> tuple[dict, Path]:
    cfg = Config.fromfile(tiny_config)
    cfg.merge_from_dict({'runner.max_epochs': 1, **options})
    work = tmp_path / 'work'
    results = train_model(cfg, work_dir=work, seed=0)
    return results, work


def records(work: Path) -> list[dict]:
    return [json.loads(line) for line in (work / 'log.jsonl').read_text().splitlines()]


@pytest.mark.slow
def test_iter_based_runner_counts_iterations(tiny_config, tmp_path):
    _, work = run(tiny_config, tmp_path, runner=dict(_delete_=True, type='IterBasedRunner', max_iters=16),
                  checkpoint_config=dict(interval=8), evaluation=dict(interval=16),
                  lr_config=dict(by_epoch=False))
    assert (work / 'iter_8.pth').is_file() and (work / 'iter_16.pth').is_file()
    assert max(r['iter'] for r in records(work) if r['mode'] == 'train') == 16
    assert [r['iter'] for r in records(work) if r['mode'] == 'val'] == [16]
    assert torch.load(work / 'latest.pth', weights_only=True)['meta']['iter'] == 16


@pytest.mark.slow
def test_ema_is_evaluated_and_saved(tiny_config, tmp_path):
    results, work = run(tiny_config, tmp_path, custom_hooks=[dict(type='EMAHook', momentum=0.1, warm_up=2)])
    assert 'ema_accuracy_top-1' in results and 'accuracy_top-1' in results
    ckpt = torch.load(work / 'epoch_1.pth', weights_only=True)
    assert ckpt['state_dict_ema'].keys() == ckpt['state_dict'].keys()
    assert not torch.equal(ckpt['state_dict_ema']['head.fc.weight'], ckpt['state_dict']['head.fc.weight'])


@pytest.mark.slow
def test_precise_bn_recomputes_statistics(tiny_config, tmp_path):
    results, work = run(tiny_config, tmp_path, custom_hooks=[dict(type='PreciseBNHook', num_samples=256)])
    assert 'PreciseBN: recomputed' in (work / 'train.log').read_text()
    assert results['accuracy_top-1'] >= 0


@pytest.mark.slow
def test_nan_loss_stops_with_the_iteration_and_keeps_the_last_checkpoint(tiny_config, tmp_path, capsys):
    with pytest.raises(TrainingDiverged, match=r'iteration \d+') as e:
        run(tiny_config, tmp_path, **{'optimizer.lr': 1e30, 'lr_config': None, 'runner.max_epochs': 3})
    assert 'optimizer.lr' in str(e.value)
    assert f'ERROR {e.value}' in (tmp_path / 'work' / 'train.log').read_text()
    assert str(e.value) not in capsys.readouterr().out  # the CLI prints the error itself, once


@pytest.mark.slow
def test_grad_clip_logs_the_norm(tiny_config, tmp_path):
    _, work = run(tiny_config, tmp_path, optimizer_config=dict(grad_clip=dict(max_norm=1.0)))
    assert all('grad_norm' in r for r in records(work) if r['mode'] == 'train')


@pytest.mark.slow
def test_gradient_accumulation_steps_less_often(tiny_config, tmp_path):
    _, work = run(tiny_config, tmp_path, optimizer_config=dict(cumulative_iters=4))
    assert (work / 'epoch_1.pth').is_file()


@pytest.mark.slow
def test_custom_hook_with_priority_runs(tiny_config, tmp_path):
    from imgcls.engine.hooks import HOOKS, Hook

    @HOOKS.register_module(force=True)
    class CountingHook(Hook):
        calls = 0

        def after_train_iter(self, runner):
            CountingHook.calls += 1

    run(tiny_config, tmp_path, custom_hooks=[dict(type='CountingHook', priority='LOW')])
    assert CountingHook.calls == 12


@pytest.mark.slow
def test_train_log_has_every_evaluation_the_final_one_and_unused_fp16_keys(tiny_config, tmp_path):
    _, work = run(tiny_config, tmp_path, fp16=dict(loss_scale=512., velocity_accum_type='half'),
                  custom_hooks=[dict(type='EMAHook', momentum=4e-5, priority='ABOVE_NORMAL')])
    log = (work / 'train.log').read_text()
    assert 'INFO evaluation at epoch 1: accuracy_top-1 ' in log and ', ema_accuracy_top-1 ' in log
    assert 'INFO final evaluation at the end (1 epochs, 12 iterations): accuracy_top-1 ' in log
    # amp=None: training runs in fp32, where a loss scale has nothing to do
    assert 'WARNING fp16.loss_scale=512.0 is not used: this run trains in fp32 on cpu' in log
    assert "WARNING fp16.velocity_accum_type='half' is ignored" in log
