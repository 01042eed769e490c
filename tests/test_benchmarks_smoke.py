"""The comparative benchmark suite (benchmarks/run.py): one tiny imgcls-only run, and its timing arithmetic."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'benchmarks'))

from suite import execute, report  # noqa: E402


@pytest.mark.slow
def test_quick_run_writes_json_and_markdown(tmp_path):
    cmd = [sys.executable, str(REPO / 'benchmarks' / 'run.py'), '--quick', '--no-peers', '--only', 'infer_batching',
           '--param', 'n=4', '--param', 'repeats=1', '--param', 'models=digits', '--out', str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    [json_path] = tmp_path.glob('*-quick.json')
    res = json.loads(json_path.read_text())
    assert res['quick'] is True
    assert {'cpu', 'cores', 'torch', 'load_start', 'load_end'} <= set(res['machine'])
    [w] = res['workloads']
    assert (w['name'], w['kind'], w['params']['n']) == ('infer_batching', 'batching', 4)
    [c] = w['contenders']
    assert c['status'] == 'ok', c['status']
    assert c['img_per_s'] > 0 and c['single_img_per_s'] > 0 and c['peak_rss_mb'] > 0
    assert c['ratio'] == pytest.approx(c['img_per_s'] / c['single_img_per_s'], abs=0.01)
    [target] = res['targets']
    assert target['workload'] == 'infer_batching' and target['met'] in (True, False)
    md = json_path.with_suffix('.md').read_text()
    assert '### (4b)' in md and '### Targets (issue 8)' in md and 'batched / per-image' in md


def _marks(epochs, target=None):
    return {'target': target, 'epochs': [
        {'start': s, 'iters': iters, 'eval_end': end, 'top1': top1} for s, iters, end, top1 in epochs]}


def test_train_rates_skip_the_warmup_epoch_and_exclude_evaluation():
    marks = _marks([(0.0, [(5.0, 100)], 6.0, 50.0),             # warm-up epoch: not timed
                    (10.0, [(11.0, 100), (12.0, 100)], 20.0, 90.0),  # 200 images in 2 s; evaluation not counted
                    (30.0, [(34.0, 200)], 35.0, 97.5)], target=97.0)
    assert execute.train_rates(marks) == [100.0, 50.0]
    out = execute.time_to_target(marks, spawn=-2.0)
    assert (out['seconds_to_target'], out['epochs_to_target'], out['startup_s'], out['best_top1']) == (35.0, 3, 2.0,
                                                                                                         97.5)


def test_one_epoch_is_split_into_windows_after_the_first_iteration():
    marks = _marks([(0.0, [(1.0, 10), (2.0, 10), (3.0, 10), (5.0, 10)], 6.0, 10.0)])
    assert execute.train_rates(marks) == [10.0, 10.0, 5.0]


def test_a_failed_round_fails_the_contender_and_rounds_take_the_median():
    ok = {'status': 'ok', 'img_per_s': 10.0, 'peak_rss_mb': 100.0, 'cpu_s': 1.0, 'wall_s': 2.0}
    merged = execute.merge_rounds([ok, dict(ok, img_per_s=30.0, peak_rss_mb=200.0), dict(ok, img_per_s=20.0)])
    assert (merged['img_per_s'], merged['peak_rss_mb'], merged['cpu_s'], merged['runs']) == (20.0, 200.0, 3.0,
                                                                                          [10.0, 30.0, 20.0])
    assert execute.merge_rounds([ok, {'status': 'failed: boom'}])['status'] == 'failed: boom'


def test_targets_report_ratio_and_unavailable_peers():
    w = {'name': 'train_digits', 'kind': 'train', 'baseline': 'plain_fp32', 'contenders': [
        {'name': 'imgcls', 'status': 'ok', 'img_per_s': 30.0, 'top1': 98.0},
        {'name': 'plain_fp32', 'status': 'ok', 'img_per_s': 10.0, 'top1': 98.3},
        {'name': 'plain_best', 'status': 'ok', 'img_per_s': 40.0, 'top1': 98.0},
        {'name': 'mmpretrain', 'status': 'unavailable: `pip install mmpretrain` exited with 1'}]}
    report.add_ratios(w)
    assert w['contenders'][0]['ratio'] == 3.0
    rows = {t['target']: t for t in report.check_targets({'train_digits': w})}
    assert [r['met'] for r in rows.values()] == [True, False, None, True]
    assert 'unavailable' in rows['training (1): imgcls default >= 2x mmpretrain']['measured']


def test_top1_target_fails_only_when_imgcls_is_worse():
    def verdict(mine: float, plain: float):
        w = {'name': 'train_digits', 'kind': 'train', 'baseline': 'plain_fp32', 'contenders': [
            {'name': 'imgcls', 'status': 'ok', 'img_per_s': 30.0, 'top1': mine},
            {'name': 'plain_fp32', 'status': 'ok', 'img_per_s': 10.0, 'top1': plain}]}
        rows = report.check_targets({'train_digits': w})
        return next(r for r in rows if 'top-1' in r['target'])['met']

    assert verdict(97.4, 98.0) is False  # 0.6 points worse: the speed settings cost accuracy
    assert verdict(98.6, 98.0) is True  # better by more than 0.5 is not a failure
    assert verdict(50.0, 60.0) is None  # not converged: says nothing


def test_commands_are_recorded_relative_to_the_repository(tmp_path):
    work = tmp_path / 'imgcls-bench-x'
    cmd = [str(REPO / '.venv' / 'bin' / 'python'), str(REPO / 'benchmarks' / 'peers' / 'plain_loop.py'), 'digits',
           '--data', str(work / 'digits.npz'), '--overrides', '{"a": 1}', '--result', str(work / 'r.json')]
    assert execute.portable_command(cmd, work) == (".venv/bin/python benchmarks/peers/plain_loop.py digits --data "
                                                   "WORK/digits.npz --overrides '{\"a\": 1}' --result WORK/r.json")
    # a Python outside the repository says nothing about where it lives
    assert execute.portable_command(['/usr/local/bin/python3.11', 'x.py'], work) == 'python x.py'


def test_settings_are_what_the_run_reported():
    import run
    assert run.chosen_settings('auto', 'bf16 autocast, channels_last=on') == 'bf16 autocast, channels_last=on'
    assert run.chosen_settings('auto', None) == 'auto (the run did not report what it chose)'
    assert run.chosen_settings('batch 64; {chosen}', 'fp32') == 'batch 64; fp32'
    assert run.chosen_settings('fp32, NCHW', 'something else') == 'fp32, NCHW'  # a fixed recipe stays as declared


def test_time_to_accuracy_contenders_and_the_fitted_mmpretrain_schedule():
    sys.path.insert(0, str(REPO / 'benchmarks' / 'peers'))
    import mmpretrain_train
    from suite import workloads
    assert mmpretrain_train.milestones('default', 10) == [100, 150]
    assert mmpretrain_train.milestones('fitted', 10) == [5, 8]  # 1/2 and 3/4 of the epochs, as 100/150 of 200
    assert mmpretrain_train.milestones('fitted', 200) == [100, 150]
    w = workloads.time_to_acc(workloads.params_for('time_to_acc', False, {}), {'npz': lambda *a: 'd.npz'})
    by_name = {c.name: c for c in w.contenders}
    assert set(by_name) == {'imgcls', 'plain', 'plain_best', 'mmpretrain'}
    # hand-tuned for the CPU at hand: bf16 where it is native, fp32 where it would be emulated
    assert by_name['plain_best'].args[-3:] == ['--amp', 'native', '--channels-last']
    assert by_name['plain_best'].args[:-3] == by_name['plain'].args  # the same recipe, hand-tuned
    assert by_name['mmpretrain'].args[by_name['mmpretrain'].args.index('--recipe') + 1] == 'fitted'
    assert 'x0.1 at epochs 5 and 8' in by_name['mmpretrain'].settings


@pytest.mark.slow
def test_quick_time_to_accuracy_run_records_the_chosen_settings(tmp_path):
    cmd = [sys.executable, str(REPO / 'benchmarks' / 'run.py'), '--quick', '--no-peers', '--only', 'time_to_acc',
           '--out', str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    [json_path] = tmp_path.glob('*-quick.json')
    [w] = json.loads(json_path.read_text())['workloads']
    by_name = {c['name']: c for c in w['contenders']}
    assert [by_name[n]['status'] for n in ('imgcls', 'plain', 'plain_best')] == ['ok', 'ok', 'ok']
    assert by_name['mmpretrain']['status'] == 'skipped (--no-peers)'
    assert 'speed settings' not in by_name['imgcls']['settings'] and 'on cpu' in by_name['imgcls']['settings']
    assert '{chosen}' not in by_name['imgcls']['settings']
    sys.path.insert(0, str(REPO / 'benchmarks' / 'peers'))
    import plain_loop
    native = 'bf16 autocast' if plain_loop.native_bf16() else 'fp32 (this CPU has no bf16 instructions'
    assert by_name['plain_best']['settings'].startswith('the 50-line recipe'), by_name['plain_best']['settings']
    assert native in by_name['plain_best']['settings'] and 'channels_last' in by_name['plain_best']['settings']
    for c in (by_name['imgcls'], by_name['plain']):
        assert str(REPO) not in c['command'] and str(tmp_path) not in c['command']
        assert c['command'].split()[1].startswith('benchmarks/')
