"""The main job's training speed with imgcls's thread choice against torch's default, on a quiet and a busy machine.

    python benchmarks/threads.py [--load 3] [--epochs 1]

For each machine state (no extra load, then ``--load`` busy-looping processes beside the job) it trains
``configs/resnet/resnet18_digits.py`` for ``--epochs`` epochs twice: with imgcls's default (compute threads =
usable cores minus loader workers) and with ``IMGCLS_NUM_THREADS`` set to every core (torch's own default). The
speed is the mean img/s of the logged windows after the first; the table is printed last. The loaded case
starts its busy processes a minute before the runs, as on a machine that others share.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = 'configs/resnet/resnet18_digits.py'


def train(work: Path, epochs: int, threads: int | None) -> tuple[float, str]:
    """Train the digits job; the mean img/s of its logged windows after the first, and the threads it used."""
    env = {k: v for k, v in os.environ.items() if k not in ('OMP_NUM_THREADS', 'IMGCLS_NUM_THREADS')}
    if threads is not None:
        env['IMGCLS_NUM_THREADS'] = str(threads)
    env['PYTHONPATH'] = str(REPO) + os.pathsep + env.get('PYTHONPATH', '')
    subprocess.run([sys.executable, '-m', 'imgcls', 'train', CONFIG, '--work-dir', str(work), '--cfg-options',
                    f'runner.max_epochs={epochs}', 'custom_hooks=[]', 'evaluation.interval=1000'],
                   cwd=REPO, env=env, check=True, capture_output=True, timeout=1800)
    rows = [json.loads(x) for x in (work / 'log.jsonl').read_text().splitlines()]
    rates = [r['img_per_s'] for r in rows if r.get('mode') == 'train'][1:]
    # train.log: "threads: 1 compute thread(s) (2 usable core(s), 2.6 kept busy by other processes, ...)"
    chose = re.search(r'threads: (\d+) compute thread\(s\) \((.*)\)$', (work / 'train.log').read_text(), re.M)
    used = f'{chose[1]} ({chose[2]})' if chose else '?'
    return sum(rates) / len(rates), used


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--load', type=int, default=3, help='busy processes beside the job in the loaded case')
    p.add_argument('--epochs', type=int, default=1)
    args = p.parse_args()
    cores = len(os.sched_getaffinity(0))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for load in (0, args.load):
            busy = [subprocess.Popen([sys.executable, '-c', 'while True: pass']) for _ in range(load)]
            try:
                # the load average (what imgcls reads at start) follows the machine's state within a minute
                time.sleep(60 if load else 0)
                while not load and os.getloadavg()[0] > 0.5 and time.sleep(5) is None:
                    pass  # a quiet machine: wait for earlier work to leave the load average
                for label, threads in (('imgcls default', None), (f'{cores} threads (torch default)', cores)):
                    work = Path(tmp) / f'{load}-{threads}'
                    results.append((load, label, *train(work, args.epochs, threads)))
            finally:
                for proc in busy:
                    proc.kill()
    print(f'| extra busy processes | run | compute threads (reason, from train.log) | img/s | ({cores} cores) |')
    print('|---|---|---|---|---|')
    for load, label, ips, used in results:
        print(f'| {load} | {label} | {used} | {ips:.1f} | |')


if __name__ == '__main__':
    main()
