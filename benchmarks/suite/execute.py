"""Running one contender in a child process of its own, and turning what it reports into numbers.

Each child is waited for with ``os.wait4``, whose resource usage is that child's alone: peak RSS
(``ru_maxrss``, the largest of the child and its loader workers) and CPU seconds. A child that fails or
runs past its time limit becomes a status line with the command and the last lines of its output; the
suite goes on with the next one.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import statistics
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def tail(path: Path, lines: int = 8) -> str:
    """The last ``lines`` non-empty lines of a log file, joined with ' | '."""
    try:
        text = path.read_text(errors='replace').splitlines()
    except OSError:
        return ''
    return ' | '.join(line.strip() for line in [t for t in text if t.strip()][-lines:])[-1500:]


def portable_command(cmd: list[str], workdir: Path) -> str:
    """``cmd`` as a shell line that says nothing about this machine's folders: paths inside the repository are
    relative to its root, the suite's temporary folder is ``WORK``, a Python outside the repository is ``python``."""
    words = []
    for i, word in enumerate(cmd):
        word = word.replace(str(workdir), 'WORK').replace(f'{REPO}{os.sep}', '')
        if i == 0 and os.path.isabs(word):  # the interpreter of a system or a virtual environment elsewhere
            word = 'python'
        words.append(shlex.quote(word))
    return ' '.join(words)


def run_child(python: str, script: str, args: list[str], workdir: Path, name: str, timeout: float) -> dict:
    """Run ``python script args --result FILE``; its JSON result plus wall, CPU, peak RSS and load average."""
    result_path, log_path = workdir / f'{name}.json', workdir / f'{name}.log'
    cmd = [python, str(REPO / 'benchmarks' / script), *args, '--result', str(result_path)]
    env = dict(os.environ, PYTHONNOUSERSITE='1', PYTHONUNBUFFERED='1')
    env.pop('PYTHONPATH', None)  # peers must not see imgcls's tree
    load_start = os.getloadavg()[0]
    start = time.perf_counter()
    with open(log_path, 'w') as log:
        # a session of its own, so a timed-out child is ended with its loader workers and nothing else
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env, start_new_session=True)
        status, usage, timed_out = _wait(proc, start + timeout)
    wall = time.perf_counter() - start
    info = {'command': portable_command(cmd, workdir), 'spawn': start, 'wall_s': round(wall, 1),
            'cpu_s': round(usage.ru_utime + usage.ru_stime, 1), 'peak_rss_mb': round(usage.ru_maxrss / 1024, 1),
            'load_avg_1min': [round(load_start, 2), round(os.getloadavg()[0], 2)], 'log': str(log_path)}
    code = os.waitstatus_to_exitcode(status)
    if timed_out:
        return dict(info, status=f'failed: timed out after {timeout:.0f} s: `{info["command"]}`; '
                                 f'last output: {tail(log_path)}')
    if code != 0 or not result_path.exists():
        return dict(info, status=f'failed: `{info["command"]}` exited with {code}; last output: {tail(log_path)}')
    return dict(json.loads(result_path.read_text()), **info, status='ok')


def _wait(proc: subprocess.Popen, deadline: float):
    """Wait for ``proc`` (polling), ending its process group at ``deadline``; (status, rusage, timed_out)."""
    timed_out = False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait for it again
            return status, usage, timed_out
        if not timed_out and time.perf_counter() > deadline:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
        time.sleep(0.2)


# -- numbers from a training child's marks -------------------------------------------------------------------


def _window_rate(iters: list, since: float) -> float:
    return sum(n for _, n in iters) / max(iters[-1][0] - since, 1e-9)


def train_rates(marks: dict) -> list[float]:
    """Timed repetitions of training images/s: every epoch after the first (the warm-up); with one epoch,
    up to three windows of its iterations after the first. Evaluation time is not counted."""
    epochs = [e for e in marks['epochs'] if e['iters']]
    if len(epochs) >= 2:
        return [_window_rate(e['iters'], e['start']) for e in epochs[1:]]
    if not epochs:
        return []
    iters = epochs[0]['iters']
    if len(iters) < 2:
        return [_window_rate(iters, epochs[0]['start'])]
    rest = iters[1:]
    size = max(1, -(-len(rest) // 3))
    windows = [rest[i:i + size] for i in range(0, len(rest), size)]
    starts = [iters[0][0]] + [w[-1][0] for w in windows[:-1]]
    return [_window_rate(w, s) for w, s in zip(windows, starts)]


def time_to_target(marks: dict, spawn: float) -> dict:
    """Seconds from the first epoch's start to the end of the first evaluation at or above the target."""
    epochs = marks['epochs']
    target = marks.get('target')
    out = {'epochs_run': len(epochs), 'best_top1': max((e['top1'] for e in epochs if e['top1'] is not None),
                                                      default=None),
           'startup_s': round(epochs[0]['start'] - spawn, 1) if epochs else None, 'seconds_to_target': None,
           'epochs_to_target': None}
    for i, e in enumerate(epochs):
        if target is not None and e['top1'] is not None and e['top1'] >= target:
            out.update(seconds_to_target=round(e['eval_end'] - epochs[0]['start'], 1), epochs_to_target=i + 1)
            break
    return out


def summarize(kind: str, res: dict) -> dict:
    """The headline numbers of one contender's result (``kind``: train, rate, tta or batching)."""
    if res.get('status') != 'ok':
        return res
    res = dict(res)
    if kind in ('train', 'tta'):
        rates = train_rates(res['marks'])
        res['runs'] = [round(r, 2) for r in rates]
        res['img_per_s'] = statistics.median(rates) if rates else None
        res.update(time_to_target(res['marks'], res['spawn']))
        res['top1_per_epoch'] = [e['top1'] for e in res['marks']['epochs']]
        res.pop('marks')
    return res


def merge_rounds(rounds: list[dict]) -> dict:
    """One contender's results over several rounds: the median of the rounds' images/s, the largest peak RSS,
    the summed CPU seconds; a failed round makes the whole a failure."""
    bad = next((r for r in rounds if r.get('status') != 'ok'), None)
    if bad is not None or len(rounds) == 1:
        return bad or rounds[0]
    merged = dict(rounds[0])
    rates = [r['img_per_s'] for r in rounds]
    merged.update(img_per_s=statistics.median(rates), runs=[round(v, 2) for v in rates], rounds=len(rounds),
                  peak_rss_mb=max(r['peak_rss_mb'] for r in rounds), cpu_s=round(sum(r['cpu_s'] for r in rounds), 1),
                  wall_s=round(sum(r['wall_s'] for r in rounds), 1),
                  runs_within_rounds=[r.get('runs') for r in rounds])
    return merged
