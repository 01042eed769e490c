"""imgcls against the field: every workload side by side, each contender in a child process of its own.

Workloads (issue 8): (1) ResNet-18-CIFAR training on the digits, (2) the JPEG train pipeline, (3) a
ResNet-50 training step, (4) ResNet-50 inference (+ ONNX Runtime, + batched vs per-image inference_model),
(5) time to 97% top-1 on the digits. Peers (timm, mmpretrain) run from their own virtual environments,
made under benchmarks/.venvs/ on first use; a peer that cannot run is recorded as unavailable, with why.

Writes benchmarks/results/<date>-<host>.json and .md (``-quick`` added with --quick) and prints the Markdown.

    .venv/bin/python benchmarks/run.py                     # everything (20-40 min on 2 cores)
    .venv/bin/python benchmarks/run.py --quick             # tiny sizes, peers only if already installed
    .venv/bin/python benchmarks/run.py --only train_digits,pipeline --param epochs=3
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import socket
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

from suite import execute, report, venvs, workloads  # noqa: E402

PEER_ENVS = ('timm', 'mmpretrain')


def cpu_model() -> str:
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown CPU'


def machine() -> dict:
    import torch

    from imgcls.engine.precision import cpu_supports_bf16
    return {'cpu': cpu_model(), 'cores': os.cpu_count(), 'torch': torch.__version__,
            'python': platform.python_version(), 'torch_threads': torch.get_num_threads(), 'bf16': cpu_supports_bf16(),
            'load_start': round(os.getloadavg()[0], 2),
            # the instruction set torch dispatches to, and caps a run may set to stand in for an older CPU
            'cpu_capability': torch.backends.cpu.get_cpu_capability(),
            'isa_caps': {k: os.environ[k] for k in ('ATEN_CPU_CAPABILITY', 'ONEDNN_MAX_CPU_ISA') if k in os.environ}}


class Context:
    """Data shared by the contenders, made once per run in a temporary folder."""

    def __init__(self, root: Path, jpeg_count: int):
        self.root, self.jpeg_count, self._npz = root, jpeg_count, {}

    def npz(self, val_fraction: float, eval_fraction: float) -> str:
        """The digits splits (imgcls's Digits, Resize to 32x32) as uint8 arrays, for the peers."""
        key = (val_fraction, eval_fraction)
        if key not in self._npz:
            import numpy as np
            import torch

            from imgcls.data import Digits
            arrays = {}
            for split, frac in (('train', val_fraction), ('val', eval_fraction)):
                ds = Digits(split=split, val_fraction=frac, pipeline=[dict(type='Resize', size=(32, 32))])
                items = [ds[i] for i in range(len(ds))]
                arrays[f'{split}_x'] = torch.stack([it['img'] for it in items]).numpy()
                arrays[f'{split}_y'] = np.array([int(it['gt_label']) for it in items], dtype=np.int64)
            path = self.root / f'digits_{val_fraction}_{eval_fraction}.npz'
            np.savez(path, **arrays)
            self._npz[key] = str(path)
        return self._npz[key]

    @property
    def jpeg_root(self) -> str:
        path = self.root / 'jpegs'
        if not path.exists():
            import pipeline as pl
            pl.make_jpegs(path, self.jpeg_count)
        return str(path)

    def __getitem__(self, key: str):
        return self.npz if key == 'npz' else self.jpeg_root


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], epilog=__doc__.split('\n\n', 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--quick', action='store_true', help='tiny sizes; peers run only if their venvs already exist')
    p.add_argument('--only', action='append', default=[],
                   help=f'workload(s), comma separated: {", ".join(workloads.ORDER)}')
    p.add_argument('--param', action='append', default=[], metavar='KEY=VALUE',
                   help='override a size, e.g. epochs=3, or for one workload: train_r50.batch=16')
    p.add_argument('--no-peers', action='store_true', help='skip the contenders that need a peer environment')
    p.add_argument('--out', default=str(HERE / 'results'), help='folder for the JSON and Markdown results')
    p.add_argument('--timeout', type=float, default=3600, help='seconds each child may run (default 3600)')
    p.add_argument('--render', metavar='RESULTS.json',
                   help='only re-check the targets of an earlier run and rewrite its JSON and Markdown')
    args = p.parse_args(argv)
    args.only = [w for item in args.only for w in item.split(',') if w]
    unknown = [w for w in args.only if w not in workloads.ORDER]
    if unknown:
        p.error(f'unknown workload(s) {unknown}; choose from {workloads.ORDER}')
    return args


def overrides_for(name: str, params: list[str]) -> dict:
    out = {}
    for item in params:
        key, _, value = item.partition('=')
        scope, _, key = key.rpartition('.')
        if not scope or scope == name:
            out[key] = value
    return out


def peer_python(env: str, args, cache: dict) -> tuple[str | None, str]:
    if env == 'main':
        return sys.executable, 'ok'
    if args.no_peers:
        return None, 'skipped (--no-peers)'
    if env not in cache:
        cache[env] = venvs.ensure(env, install=not args.quick)
    return cache[env]


def chosen_settings(declared: str, reported: str | None) -> str:
    """The settings text of a contender: what its run reported choosing where it declared AUTO or {chosen}."""
    if declared != workloads.AUTO and '{chosen}' not in declared:
        return declared
    chosen = reported or 'auto (the run did not report what it chose)'
    return chosen if declared == workloads.AUTO else declared.replace('{chosen}', chosen)


def run_workload(w: workloads.Workload, args, work: Path, envs: dict) -> dict:
    """Every contender of ``w``, each in its own child; rate workloads in interleaved rounds (see merge_rounds)."""
    out = {'name': w.name, 'title': w.title, 'kind': w.kind, 'baseline': w.baseline, 'params': w.params,
           'notes': w.notes, 'contenders': []}
    rounds = int(w.params.get('rounds', 1)) if w.kind == 'rate' else 1
    pythons = {c.name: peer_python(c.env, args, envs) for c in w.contenders}
    per_round: dict[str, list[dict]] = {c.name: [] for c in w.contenders}
    for r in range(rounds):  # round-robin, so a busy spell on a shared machine hits every contender alike
        for c in w.contenders:
            python, status = pythons[c.name]
            if python is None:
                per_round[c.name].append({'status': status})
                continue
            print(f'[suite] {w.name}: {c.name} (round {r + 1}/{rounds}) ...', flush=True)
            name = f'{w.name}-{c.name}-{r}'
            per_round[c.name].append(execute.summarize(
                w.kind, execute.run_child(python, c.script, c.args, work, name, args.timeout)))
    for c in w.contenders:
        res = execute.merge_rounds(per_round[c.name])
        res.pop('log', None)
        row = {'name': c.name, 'label': c.label, 'env': c.env, 'vs': c.vs, **res}
        row['settings'] = chosen_settings(c.settings, res.get('settings'))
        print(f'[suite]   {c.name}: {row["status"]}, img/s {row.get("img_per_s")}, top-1 {row.get("top1")}, '
              f'to target {row.get("seconds_to_target")} s, peak RSS {row.get("peak_rss_mb")} MiB', flush=True)
        out['contenders'].append(row)
    report.add_ratios(out)
    return out


def render(path: Path) -> int:
    """Re-check the targets of a results file and rewrite it and its Markdown (after a change to report.py)."""
    results = json.loads(path.read_text())
    for w in results['workloads']:
        report.add_ratios(w)
    results['targets'] = report.check_targets({w['name']: w for w in results['workloads']})
    text = report.markdown(results)
    path.write_text(json.dumps(results, indent=1) + '\n')
    path.with_suffix('.md').write_text(text + '\n')
    print(text)
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.render:
        return render(Path(args.render))
    started = time.perf_counter()
    now = datetime.datetime.now()
    host = socket.gethostname().split('.')[0] or 'host'
    results = {'suite': 'imgcls comparative benchmarks (benchmarks/run.py)', 'date': now.strftime('%Y-%m-%d %H:%M'),
               'host': host, 'quick': args.quick, 'machine': machine(), 'peers': {}, 'workloads': []}
    selected = args.only or workloads.ORDER
    envs: dict = {}
    with tempfile.TemporaryDirectory(prefix='imgcls-bench-') as tmp:
        work = Path(tmp)
        pipe_params = workloads.params_for('pipeline', args.quick, overrides_for('pipeline', args.param))
        ctx = Context(work, pipe_params['images'])
        for name in selected:
            params = workloads.params_for(name, args.quick, overrides_for(name, args.param))
            w = workloads.BUILDERS[name](params, ctx)
            results['workloads'].append(run_workload(w, args, work, envs))
    for env, (python, status) in envs.items():
        results['peers'][env] = f'{venvs.versions(python, env)} (benchmarks/.venvs/{env})' if python else status
    results['machine']['load_end'] = round(os.getloadavg()[0], 2)
    results['wall_s'] = round(time.perf_counter() - started, 1)
    results['targets'] = report.check_targets({w['name']: w for w in results['workloads']})
    text = report.markdown(results)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f'{now:%Y-%m-%d}-{host}' + ('-quick' if args.quick else '')
    (out / f'{stem}.json').write_text(json.dumps(results, indent=1) + '\n')
    (out / f'{stem}.md').write_text(text + '\n')
    print(text)
    print(f'[suite] wrote {out / stem}.json and .md', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
