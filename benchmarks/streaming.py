"""Training loader throughput: WebDataset shards vs the same JPEGs as a folder, and shards over HTTP vs local.

The JPEGs are those of ``benchmarks/pipeline.py`` (random crops of scikit-learn's sample photos, about
500x375, quality 90), in class folders; ``imgcls data pack`` writes them as tar shards. Three loaders
run the same train pipeline (decode, RandomResizedCrop 224, flip, collate, normalise the batch to float
in the main process) with the same workers and batch size:

* folder: ``CustomDataset`` + ``build_dataloader`` (persistent workers, imgcls's default);
* shards: ``WebDataset`` on the local shard folder (its workers are not persistent: they take the
  epoch and the resume position from a fresh copy each epoch);
* http: ``WebDataset`` on the same shards served by ``python -m http.server`` on localhost (a
  separate process), read through curl as webdataset does;
* parquet (for information, no target): ``HFDataset`` on the same images packed as Parquet files
  (map-style, so the same sampler as the folder).

All three are warm (one epoch first); then ``--reps`` epochs each, interleaved so that a busy moment
on a shared machine hits all of them. Wall-clock images/s (median) and CPU ms per image (main
process, workers and their children, e.g. curl, together).

Targets, fixed before the first run (issue "Data that outgrows one disk"): shards >= 1.0x folder;
http >= 0.9x shards from local files.

    .venv/bin/python benchmarks/streaming.py
    .venv/bin/python benchmarks/streaming.py --images 2048 --reps 9 --shard-size 128
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline import MEAN, STD, make_jpegs  # noqa: E402

PIPELINE = [dict(type='LoadImageFromFile'), dict(type='RandomResizedCrop', size=224),
            dict(type='RandomFlip', flip_prob=0.5), dict(type='ToTensor', keys=['gt_label']),
            dict(type='Collect', keys=['img', 'gt_label'])]


def _proc_cpu(pid: int) -> float:
    try:
        fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def epoch(loader, epoch_no: int) -> tuple[float, float]:
    """(images/s, CPU ms per image) of one epoch; workers that persist are read from /proc, workers that end
    with the epoch (and their curl children) from the finished children's usage."""
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    if hasattr(loader.dataset, 'set_epoch'):
        loader.dataset.set_epoch(epoch_no)
    elif hasattr(loader.sampler, 'set_epoch'):
        loader.sampler.set_epoch(epoch_no)
    start, cpu_self, cpu_children = time.perf_counter(), _proc_cpu(os.getpid()), _children_cpu()
    it = iter(loader)
    n, persistent = 0, []
    for b in it:
        if not persistent:
            persistent = [w.pid for w in getattr(getattr(loader, '_iterator', None), '_workers', [])]
            cpu_persistent = {pid: _proc_cpu(pid) for pid in persistent}
        b['img'].float().sub_(mean).div_(std)
        n += b['img'].shape[0]
    wall = time.perf_counter() - start
    cpu = _proc_cpu(os.getpid()) - cpu_self + _children_cpu() - cpu_children
    cpu += sum(_proc_cpu(pid) - c for pid, c in cpu_persistent.items()) if persistent else 0.0
    return n / wall, 1e3 * cpu / n


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--images', type=int, default=1024)
    p.add_argument('--shard-size', type=int, default=128)
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--reps', type=int, default=7, help='timed epochs per loader, after one warm-up epoch')
    args = p.parse_args(argv)

    from imgcls.data import build_dataset
    from imgcls.data.loader import build_dataloader
    from imgcls.data.pack import pack_dataset

    torch.set_num_threads(1)  # the main process only normalises; the workers hold the cores
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = make_jpegs(root / 'jpegs', args.images)
        folder = build_dataset(dict(type='CustomDataset', data_prefix=str(root / 'jpegs'), pipeline=[]))
        pack_dataset(folder, root / 'shards', 'wds', shard_size=args.shard_size)
        pack_dataset(folder, root / 'parquet', 'parquet', shard_size=args.shard_size)
        size = sum(p.stat().st_size for p in paths) / 2 ** 20
        shards = sorted((root / 'shards').glob('*.tar'))
        print(f'torch {torch.__version__}; {len(paths)} JPEGs ({size:.0f} MiB) in {len(shards)} shards of '
              f'{args.shard_size}; batch {args.batch}, {args.workers} workers, {os.cpu_count()} CPUs')
        port = _free_port()
        server = subprocess.Popen([sys.executable, '-m', 'http.server', str(port), '--bind', '127.0.0.1',
                                   '--directory', str(root / 'shards')],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):  # wait for the server
                try:
                    socket.create_connection(('127.0.0.1', port), timeout=0.1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            specs = {
                'folder': dict(type='CustomDataset', data_prefix=str(root / 'jpegs'), pipeline=PIPELINE),
                'shards': dict(type='WebDataset', urls=str(root / 'shards'), pipeline=PIPELINE),
                'http': dict(type='WebDataset', urls=f'http://127.0.0.1:{port}/', pipeline=PIPELINE),
                'parquet': dict(type='HFDataset', path=str(root / 'parquet'), pipeline=PIPELINE),
            }
            loaders = {name: build_dataloader(build_dataset(spec), args.batch, args.workers, seed=0)
                       for name, spec in specs.items()}
            for loader in loaders.values():  # warm-up: start workers, fill the page cache
                epoch(loader, 0)
            runs = {name: [] for name in loaders}
            server_ms = []  # the HTTP server's CPU per image it served (it shares this machine's cores)
            for rep in range(args.reps):
                for name, loader in loaders.items():
                    before = _proc_cpu(server.pid)
                    runs[name].append(epoch(loader, rep + 1))
                    if name == 'http':
                        server_ms.append(1e3 * (_proc_cpu(server.pid) - before) / len(paths))
        finally:
            server.terminate()
            server.wait()
    med = {name: (statistics.median(r for r, _ in rs), statistics.median(c for _, c in rs))
           for name, rs in runs.items()}
    print(f'\nmedian of {args.reps} epochs: images/s (wall clock), CPU ms per image (main + workers + children)')
    for name, (rate, cpu) in med.items():
        each = ', '.join(f'{r:.0f}' for r, _ in runs[name])
        print(f'  {name:<8} {rate:7.1f} img/s  {cpu:6.2f} CPU ms/img   (epochs: {each})')
    print(f'  (the HTTP server process: {statistics.median(server_ms):.2f} CPU ms per image served, on the same cores)')
    shards_vs_folder = med['shards'][0] / med['folder'][0]
    http_vs_local = med['http'][0] / med['shards'][0]
    verdict = {True: 'met', False: 'MISSED'}
    print(f'  shards / folder: {shards_vs_folder:.2f}x (target >= 1.0x: {verdict[shards_vs_folder >= 1.0]})')
    print(f'  http / local shards: {http_vs_local:.2f}x (target >= 0.9x: {verdict[http_vs_local >= 0.9]})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
