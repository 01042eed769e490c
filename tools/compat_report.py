"""Write docs/compat.md: which MMClassification 0.25 configs load, build and train one step in imgcls.

Usage:
    python tools/compat_report.py [--configs DIR | --wheel PATH] [--cache DIR] [--out docs/compat.md]
                                  [--jobs N] [--batch N] [--max-step-gmacs G] [--no-step] [--only REGEX]
                                  [--timeout S] [--json FILE]

The configs come from the ``mmcls==0.25.0`` wheel: ``--configs`` names an unpacked ``configs`` folder,
``--wheel`` a ``.whl`` file (or a folder it was unpacked into); without either, the wheel is fetched with
``pip download --no-deps mmcls==0.25.0`` into ``--cache`` the first time. For every config not under
``_base_``, in a pool of ``--jobs`` processes:

- load: ``Config.fromfile``;
- build: the model (parameters counted on the meta device, compared with the ``Parameters`` of the family's
  ``metafile.yml``, which mmcls rounds to 10k), its train/val/test datasets with their pipelines on tiny
  generated data in the dataset's own format (image files and an annotation list for ImageNet-style
  datasets, CIFAR pickles, MNIST IDX files, a VOC2007 folder, CUB-200-2011's lists, Stanford Cars' devkit
  files), the optimizer, lr schedule, optimizer hook and custom hooks;
- step: one training step (forward, loss, backward, optimizer step) of a ``--batch`` sample batch from the
  train pipeline, with the weights as constructed (``init_cfg`` is not applied: it may name a download).
  Configs with the same model, train pipeline and optimizer share one step (and one MAC count).
  ``--max-step-gmacs 20`` skips the step of the models that cost more (a dozen large ones) on a busy machine.

It takes about 5 minutes on 2 shared CPU cores with ``--jobs 2``.
"""

from __future__ import annotations

import argparse
import copy
import gc
import hashlib
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from collections import Counter, defaultdict
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing imgcls
    sys.path.insert(0, str(ROOT))

MMCLS = 'mmcls==0.25.0'
OK, MISS, SKIP = '✓', '✗', '–'


# ----------------------------------------------------------------------------- finding the configs

def fetch_wheel(cache: Path) -> Path:
    """The mmcls 0.25 wheel in ``cache``, downloaded with pip the first time."""
    found = sorted(cache.glob('mmcls-0.25.0-*.whl'))
    if not found:
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps', '-d', str(cache), MMCLS], check=True)
        found = sorted(cache.glob('mmcls-0.25.0-*.whl'))
    if not found:
        sys.exit(f'pip download {MMCLS} left no wheel in {cache}')
    return found[0]


def configs_dir(args: argparse.Namespace) -> Path:
    """The ``configs`` folder of the wheel, unpacked into the cache if needed."""
    if args.configs:
        return Path(args.configs)
    wheel = Path(args.wheel) if args.wheel else fetch_wheel(Path(args.cache))
    if wheel.is_dir():
        return wheel / 'mmcls' / '.mim' / 'configs' if (wheel / 'mmcls').is_dir() else wheel / '.mim' / 'configs'
    target = Path(args.cache) / wheel.stem
    if not (target / 'mmcls' / '.mim' / 'configs').is_dir():
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(target, [n for n in zf.namelist() if n.startswith('mmcls/.mim/configs/')])
    return target / 'mmcls' / '.mim' / 'configs'


def expected_params(root: Path) -> dict[str, int]:
    """Config path (relative to ``root``) -> the ``Parameters`` its family's metafile gives."""
    import yaml
    out = {}
    for meta in root.glob('*/metafile.yml'):
        for model in (yaml.safe_load(meta.read_text()) or {}).get('Models') or []:
            params = (model.get('Metadata') or {}).get('Parameters')
            config = model.get('Config', '')
            if isinstance(params, (int, float)) and config.startswith('configs/'):
                out[config[len('configs/'):]] = int(params)
    return out


# ----------------------------------------------------------------------------- tiny data

def _random_jpeg(path: Path, seed: int) -> None:
    import numpy as np
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (256, 320, 3), dtype=np.uint8)).save(path)


def _write_images(folder: Path) -> Path:
    """Four RGB JPEGs (two classes) and an mmcls annotation list ``path label``."""
    names = [f'n0000000{i % 2}/img_{i}.JPEG' for i in range(4)]
    for i, name in enumerate(names):
        _random_jpeg(folder / 'images' / name, i)
    (folder / 'ann.txt').write_text(''.join(f'{name} {i % 2}\n' for i, name in enumerate(names)))
    return folder


def _write_cifar(folder: Path, cls) -> Path:
    """``cls``'s batch and meta pickles, each batch of four 32x32 images."""
    import numpy as np
    base = folder / cls.base_folder
    base.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in cls.train_list + cls.test_list:
        batch = {'data': rng.integers(0, 256, (4, 3072), dtype=np.uint8), cls.labels_key: [0, 1, 0, 1]}
        (base / name).write_bytes(pickle.dumps(batch))
    (base / cls.meta_file).write_bytes(pickle.dumps({cls.names_key: [f'c{i}' for i in range(cls.num_classes)]}))
    return folder


def _write_mnist(folder: Path) -> Path:
    """MNIST's four IDX files, four 28x28 images each."""
    import numpy as np
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split in ('train', 't10k'):
        images = rng.integers(0, 256, (4, 28, 28), dtype=np.uint8)
        (folder / f'{split}-images-idx3-ubyte').write_bytes(bytes([0, 0, 8, 3]) + np.array(
            [4, 28, 28], dtype='>i4').tobytes() + images.tobytes())
        (folder / f'{split}-labels-idx1-ubyte').write_bytes(bytes([0, 0, 8, 1]) + np.array(
            [4], dtype='>i4').tobytes() + bytes([0, 1, 0, 1]))
    return folder


def _write_voc(folder: Path) -> Path:
    """A ``VOC2007`` folder: four JPEGs, their XML annotations and the ``trainval``/``test`` id lists."""
    voc = folder / 'VOCdevkit' / 'VOC2007'
    (voc / 'Annotations').mkdir(parents=True)
    objects = [['dog', 'person'], ['cat'], ['dog', 'car'], ['person']]
    for i, names in enumerate(objects):
        _random_jpeg(voc / 'JPEGImages' / f'{i:06d}.jpg', i)
        body = ''.join(f'<object><name>{n}</name><difficult>0</difficult></object>' for n in names)
        (voc / 'Annotations' / f'{i:06d}.xml').write_text(f'<annotation>{body}</annotation>')
    (voc / 'ImageSets' / 'Main').mkdir(parents=True)
    for split in ('trainval', 'test'):
        (voc / 'ImageSets' / 'Main' / f'{split}.txt').write_text(''.join(f'{i:06d}\n' for i in range(4)))
    return voc


def _write_cub(folder: Path) -> Path:
    """CUB-200-2011's lists: ``images.txt``, ``image_class_labels.txt``, ``train_test_split.txt`` and four JPEGs."""
    names = [f'00{c}.Bird_{c}/img_{i}.jpg' for i, c in enumerate((1, 1, 2, 2))]
    for i, name in enumerate(names):
        _random_jpeg(folder / 'images' / name, i)
    (folder / 'images.txt').write_text(''.join(f'{i + 1} {n}\n' for i, n in enumerate(names)))
    (folder / 'image_class_labels.txt').write_text('1 1\n2 1\n3 2\n4 2\n')
    (folder / 'train_test_split.txt').write_text('1 1\n2 0\n3 1\n4 0\n')
    return folder


def _write_cars(folder: Path) -> Path:
    """Stanford Cars: ``cars_train``/``cars_test`` JPEGs and the devkit's MATLAB annotation files."""
    import numpy as np
    import scipy.io
    (folder / 'devkit').mkdir(parents=True)
    fields = [(k, 'O') for k in ('bbox_x1', 'bbox_y1', 'bbox_x2', 'bbox_y2', 'class', 'fname')]
    for split, mat in (('cars_train', 'cars_train_annos.mat'), ('cars_test', 'cars_test_annos_withlabels.mat')):
        labels = (1, 2, 1, 196)
        records = np.zeros((1, len(labels)), dtype=fields)
        for i, label in enumerate(labels):
            _random_jpeg(folder / split / f'{i:05d}.jpg', i)
            box = [np.array([[v]]) for v in (0, 0, 319, 255)]
            records[0, i] = (*box, np.array([[label]], dtype=np.uint8), np.array([f'{i:05d}.jpg']))
        scipy.io.savemat(str(folder / 'devkit' / mat), {'annotations': records})
    return folder


def make_tiny_data(root: Path) -> dict[str, str]:
    """Generate the tiny datasets once; returns kind -> folder."""
    from imgcls.data.datasets.cifar import CIFAR10, CIFAR100
    return {'files': str(_write_images(root / 'files')), 'CIFAR10': str(_write_cifar(root / 'cifar10', CIFAR10)),
            'CIFAR100': str(_write_cifar(root / 'cifar100', CIFAR100)), 'MNIST': str(_write_mnist(root / 'mnist')),
            'VOC': str(_write_voc(root / 'voc')), 'CUB': str(_write_cub(root / 'cub')),
            'StanfordCars': str(_write_cars(root / 'cars'))}


def point_at_tiny(ds: dict, tiny: dict[str, str]) -> None:
    """Point a dataset config (through wrappers) at the tiny data of its own format, in place."""
    if isinstance(ds, list):
        for d in ds:
            point_at_tiny(d, tiny)
        return
    for inner in ('dataset', 'datasets'):
        if inner in ds:
            return point_at_tiny(ds[inner], tiny)
    kind = str(ds.get('type', '')).split('.')[-1]
    if kind in ('CIFAR10', 'CIFAR100'):
        ds['data_prefix'] = tiny[kind]
    elif kind in ('MNIST', 'FashionMNIST'):
        ds['data_prefix'] = tiny['MNIST']
    elif kind == 'VOC':  # the config's own id list (trainval.txt or test.txt)
        ds['data_prefix'] = tiny['VOC']
        ds['ann_file'] = str(Path(tiny['VOC']) / 'ImageSets' / 'Main' / Path(ds.get('ann_file', 'test.txt')).name)
    elif kind == 'CUB':
        ds['data_prefix'] = tiny['CUB'] + '/images'
        for key, name in (('ann_file', 'images.txt'), ('image_class_labels_file', 'image_class_labels.txt'),
                          ('train_test_split_file', 'train_test_split.txt')):
            ds[key] = f'{tiny["CUB"]}/{name}'
    elif kind == 'StanfordCars':
        ds['data_prefix'] = tiny['StanfordCars']
        ds.pop('ann_file', None)  # the devkit's file of the split
    else:  # image files listed in an annotation file, as ImageNet and CustomDataset read them
        ds['data_prefix'] = tiny['files'] + '/images'
        ds['ann_file'] = tiny['files'] + '/ann.txt'


# ----------------------------------------------------------------------------- checking one config

class _Timeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Timeout()


def _reason(err: BaseException) -> str:
    """One line, short enough for a table cell."""
    text = f'{type(err).__name__}: {err}' if not str(err).startswith(type(err).__name__) else str(err)
    if 'not found (listed in _base_' in text:
        text = 'broken in mmcls itself: ' + text
    text = re.sub(r'/\S*/configs/', '', text.replace('\n', ' '))
    text = re.sub(r'(A class of your own must be imported|Registered \w+s:).*', '', text).strip()
    return (text[:240] + '…' if len(text) > 240 else text).replace('|', '\\|')


def _meta_model(model_cfg: dict):
    """The model built on the meta device (no weights allocated), or None where it cannot be built there.

    The data preprocessor is left out: it holds no parameters, and it checks its std's values, which a
    meta tensor does not have.
    """
    import torch

    from imgcls.models.builder import build_classifier
    model_cfg = {k: v for k, v in copy.deepcopy(model_cfg).items() if k != 'data_preprocessor'}
    try:
        with torch.device('meta'):
            return build_classifier(model_cfg)
    except Exception:
        return None


def _gmacs(model, input_shape: tuple[int, ...]) -> float | None:
    """GMACs per image of ``input_shape`` (C, H, W), counted on the meta device; None if it cannot run there."""
    from imgcls.analysis.complexity import get_complexity
    try:
        return get_complexity(model, input_shape).macs / 1e9 if model is not None else None
    except Exception:
        return None


def _build_runtime(cfg) -> None:
    """The lr schedule, the optimizer hook and the custom hooks, as ``imgcls train`` builds them."""
    from imgcls.engine.hooks import HOOKS, build_lr_updater
    from imgcls.registry import build_from_cfg
    build_lr_updater(cfg.get('lr_config'))
    opt_hook = dict(cfg.get('optimizer_config') or {})
    opt_hook.setdefault('type', 'OptimizerHook')
    build_from_cfg(opt_hook, HOOKS, path='optimizer_config')
    for i, hook in enumerate(cfg.get('custom_hooks') or []):
        hook = {k: v for k, v in hook.items() if k != 'priority'}
        build_from_cfg(hook, HOOKS, path=f'custom_hooks.{i}')


def _build_data(cfg, tiny: dict[str, str]) -> dict:
    """The config's datasets on tiny data; returns split -> dataset."""
    from imgcls.data import build_dataset
    out = {}
    for split in ('train', 'val', 'test'):
        if split in cfg['data']:
            ds_cfg = copy.deepcopy(cfg['data'][split])
            point_at_tiny(ds_cfg, tiny)
            out[split] = build_dataset(ds_cfg, default_args=None if split == 'train' else {'test_mode': True})
    return out


def _train_step(cfg, train_set, batch: int) -> str:
    """One optimizer step on ``batch`` samples of ``train_set``; returns the loss as text."""
    import torch

    from imgcls.apis.model import build_model
    from imgcls.data.collate import collate
    from imgcls.engine import build_optimizer
    torch.manual_seed(0)
    model = build_model(cfg, init=False)
    model.train()
    optimizer = build_optimizer(model, copy.deepcopy(cfg['optimizer']))
    data = collate([train_set[i % len(train_set)] for i in range(batch)])
    try:
        loss = model.train_step(data)['loss']
    except Exception as e:
        if 'Expected more than 1 value per channel' not in str(e) or batch > 1:
            raise
        # a BatchNorm over a single value (a 1x1 map of one image): what a batch of 2 would not hit
        return _train_step(cfg, train_set, 2)
    if not torch.isfinite(loss):
        raise FloatingPointError(f'the loss is {loss.item()}')
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return f'{loss.item():.3g}'


def step_key(cfg) -> str:
    """What decides the training step: configs that agree on it share one."""
    train = cfg['data'].get('train', {})
    text = json.dumps([cfg.get('model'), train.get('pipeline'), cfg.get('optimizer')], sort_keys=True, default=repr)
    return hashlib.sha1(text.encode()).hexdigest()


def _claim(claims, key: str) -> bool:
    """Whether this worker is the first to step a config with ``key`` (the others share its step)."""
    with claims['lock']:
        if key in claims['keys']:
            return False
        claims['keys'][key] = True
        return True


def check(task: tuple) -> dict:
    """Load, build and step one config; a dict of the outcomes with the first miss's reason."""
    from imgcls import Config
    from imgcls.apis.model import prepare_config
    from imgcls.apis.schema import check_for_training, with_defaults
    path, rel, tiny, opts = task
    row = {'config': rel, 'load': MISS, 'build': SKIP, 'step': SKIP, 'params': None, 'gmacs': None, 'loss': '',
           'reason': '', 'key': None}
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(opts['timeout'])
    stage = 'load'
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            cfg = Config.fromfile(path)
            row['load'], row['build'], stage = OK, MISS, 'build'
            cfg = copy.deepcopy(cfg)
            check_for_training(cfg)
            with_defaults(cfg)
            prepare_config(cfg)
            model = on_meta = _meta_model(cfg['model'])
            if model is None:  # built on the CPU instead, for the error or the count
                from imgcls.models.builder import build_classifier
                model = build_classifier(copy.deepcopy(cfg['model']))
            row['params'] = sum(p.numel() for p in model.parameters())
            datasets = _build_data(cfg, tiny)
            _build_runtime(cfg)
            row['build'], row['key'] = OK, step_key(cfg)
            first = _claim(_CLAIMS, row['key'])  # the others with this key share its MACs and step
            if first and on_meta is not None:  # on the CPU, counting would cost a real forward pass
                shape = tuple(datasets['train'][0]['img'].shape)
                row['gmacs'] = _gmacs(model, shape if len(shape) == 3 else (1, *shape))
            del model, on_meta
            cap = opts['max_step_gmacs']
            if not first or not opts['step']:
                pass
            elif cap and row['gmacs'] is not None and row['gmacs'] > cap:
                row['reason'] = f'step not run: {row["gmacs"]:.1f} GMACs per image > --max-step-gmacs {cap:g}'
            else:
                row['step'], stage = MISS, 'step'
                row['loss'] = _train_step(cfg, datasets['train'], opts['batch'])
                row['step'] = OK
            row['first'] = first
    except _Timeout:
        row['reason'] = f'{stage}: timed out after {opts["timeout"]} s'
    except Exception as e:  # every failure is a row of the report
        row['reason'] = f'{stage}: {_reason(e)}'
    finally:
        signal.alarm(0)
        gc.collect()
    return row


# ----------------------------------------------------------------------------- running and reporting

_CLAIMS: dict = {}


def _init_worker(threads: int, claims: dict) -> None:
    import torch
    torch.set_num_threads(threads)
    _CLAIMS.update(claims)
    import imgcls.data  # noqa: F401  (registers datasets and pipelines once per worker)
    import imgcls.engine  # noqa: F401
    import imgcls.models  # noqa: F401


def params_match(ours: int | None, mmcls: int | None) -> bool | None:
    """mmcls's metafiles round parameter counts to 10k (11170000 for 11,173,962): allow that rounding."""
    if ours is None or mmcls is None:
        return None
    return abs(ours - mmcls) <= max(5_000, 0.001 * mmcls)


def run_all(paths: list[Path], root: Path, tiny: dict[str, str], args: argparse.Namespace) -> list[dict]:
    """Check every config in a pool; configs that share a step (same model, pipeline, optimizer) run it once."""
    ctx = get_context('spawn')  # a fresh interpreter per worker: no OpenMP state inherited through fork
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    opts = {'step': not args.no_step, 'batch': args.batch, 'timeout': args.timeout,
            'max_step_gmacs': args.max_step_gmacs}
    tasks = [(str(p), str(p.relative_to(root)), tiny, opts) for p in paths]
    with ctx.Manager() as manager:  # with --no-step too: MACs are counted once per model and pipeline
        claims = {'lock': manager.Lock(), 'keys': manager.dict()}
        with ctx.Pool(args.jobs, _init_worker, (threads, claims), maxtasksperchild=100) as pool:
            rows = []
            for i, row in enumerate(pool.imap(check, tasks), 1):
                rows.append(row)
                print(f'[{i}/{len(tasks)}] {row["config"]}: {row["load"]}{row["build"]}{row["step"]} '
                      f'{row["reason"][:120]}', flush=True)
    firsts = {r['key']: r for r in rows if r.get('first')}
    for row in rows:
        first = firsts.get(row['key'])
        if first is not None and first is not row and not row['reason']:
            for key in ('gmacs', 'step', 'loss', 'reason'):
                row[key] = first[key]
            row['shared'] = first['config']
    return rows


def _mparams(n: int | None) -> str:
    return '' if n is None else f'{n / 1e6:.2f}'


def _summary(rows: list[dict], expected: dict[str, int]) -> tuple[str, int, int, int, int, int]:
    n = len(rows)
    load = sum(r['load'] == OK for r in rows)
    build = sum(r['build'] == OK for r in rows)
    step = sum(r['step'] == OK for r in rows)
    with_count = [r for r in rows if r['build'] == OK and r['config'] in expected]
    match = sum(bool(params_match(r['params'], expected[r['config']])) for r in with_count)
    return f'{match}/{len(with_count)}', n, load, build, step, match


def _short_reason(reason: str) -> str:
    """The reason without file names, values and numbers, to count misses of the same kind."""
    text = re.sub(r"\S+\.py\b", 'FILE', reason.replace("model (type='ImageClassifier'): ", ''))
    text = re.sub(r'\{[^{}]*(\}|$)', '{…}', text)
    text = re.sub(r'\b\d+(\.\d+)?\b', 'N', text)
    return re.split(r'(?<=[.?)]) ', text, maxsplit=1)[0][:140]


def render(rows: list[dict], expected: dict[str, int], meta: dict) -> str:
    """docs/compat.md."""
    match_text, n, load, build, step, _ = _summary(rows, expected)
    capped = sum(r['reason'].startswith('step not run') for r in rows)
    pct = (lambda k: f'{k} ({100 * k / n:.0f}%)') if n else str
    out = ['# Compatibility with MMClassification 0.25 configs', '',
           f'Measured by `{meta["command"]}` on {meta["date"]} (imgcls {meta["commit"]}, {meta["cpus"]} CPUs, '
           f'{meta["minutes"]:.1f} min). Re-run it after changing models, pipelines or the config language.', '',
           f'**Of {n} configs of the `{MMCLS}` wheel: {pct(load)} load, {pct(build)} build (model, datasets and '
           f'pipelines on tiny data, optimizer, hooks), {pct(step)} run a training step; {match_text} models with a '
           'parameter count in mmcls\'s metafiles have that count.**', '',
           'A step runs on a batch of tiny generated data in the dataset\'s own format, through the config\'s own '
           'train pipeline, with the weights as constructed (`init_cfg` is not applied). Parameter counts are '
           'compared with the metafiles\' `Parameters`, which mmcls rounds to 10k.', '',
           f'{capped} configs that build did not run a step because their model costs more than '
           f'`--max-step-gmacs {meta["cap"]:g}` GMACs per image at the train pipeline\'s output size (a cap that '
           'keeps the report short on a busy 2-core machine; one ViT-L step at 384 px takes a minute or more there). '
           '`--max-step-gmacs 0` (the default) steps every model.' if capped else
           'No step was skipped: every config that builds tried one.', '',
           '| family | configs | load | build | params = mmcls | step |', '|---|---:|---:|---:|---:|---:|']
    by_family: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_family[row['config'].split('/')[0]].append(row)
    for family, frows in sorted(by_family.items()):
        m, fn, fl, fb, fs, _ = _summary(frows, expected)
        out.append(f'| [{family}](#{family}) | {fn} | {fl} | {fb} | {m} | {fs} |')
    reasons = Counter(_short_reason(r['reason']) for r in rows if r['reason'])
    out += ['', '## Misses by reason', '', '| configs | first failure |', '|---:|---|']
    out += [f'| {k} | {reason} |' for reason, k in reasons.most_common()]
    for family, frows in sorted(by_family.items()):
        out += ['', f'## {family}', '', '| config | load | build | params imgcls / mmcls (M) | GMACs | step | reason |',
                '|---|:-:|:-:|---|---:|:-:|---|']
        for r in frows:
            exp = expected.get(r['config'])
            ok = params_match(r['params'], exp)
            params = _mparams(r['params']) + (f' / {_mparams(exp)} {OK if ok else MISS}' if ok is not None else '')
            reason = r['reason'] or (f'step shared with {r["shared"]}' if r.get('shared') and r['step'] == OK else '')
            if ok is False and not r['reason']:
                reason = 'parameter count differs from mmcls\'s' + (f'; {reason}' if reason else '')
            gmacs = '' if r['gmacs'] is None else f'{r["gmacs"]:.2f}'
            out.append(f'| {Path(r["config"]).name} | {r["load"]} | {r["build"]} | {params} | {gmacs} | {r["step"]} | '
                       f'{reason} |')
    return '\n'.join(out) + '\n'


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    src = p.add_mutually_exclusive_group()
    src.add_argument('--configs', help="an unpacked mmcls 'configs' folder")
    src.add_argument('--wheel', help='the mmcls 0.25 wheel, or a folder it was unpacked into')
    p.add_argument('--cache', default=str(Path.home() / '.cache' / 'imgcls' / 'compat'),
                   help='where the wheel is downloaded and unpacked (default: %(default)s)')
    p.add_argument('--out', default=str(ROOT / 'docs' / 'compat.md'))
    p.add_argument('--jobs', type=int, default=min(2, os.cpu_count() or 1), help='worker processes')
    p.add_argument('--batch', type=int, default=1, help='samples in the training step')
    p.add_argument('--max-step-gmacs', type=float, default=0.0,
                   help='skip the step of models costing more GMACs per image, e.g. 20 on a busy 2-core '
                        'machine (default 0: step every model)')
    p.add_argument('--timeout', type=int, default=300, help='seconds per config and stage before it is a miss')
    p.add_argument('--no-step', action='store_true', help='load and build only')
    p.add_argument('--only', help='check only configs whose path matches this regular expression')
    p.add_argument('--json', help='also write the rows as JSON here')
    args = p.parse_args(argv)
    if args.jobs < 1 or args.batch < 1 or args.timeout < 1 or args.max_step_gmacs < 0:
        p.error('--jobs, --batch and --timeout must be positive, --max-step-gmacs at least 0')
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.monotonic()
    root = configs_dir(args)
    paths = sorted(p for p in root.rglob('*.py') if '_base_' not in p.relative_to(root).parts)
    if args.only:
        paths = [p for p in paths if re.search(args.only, str(p.relative_to(root)))]
    if not paths:
        sys.exit(f'no configs found under {root}')
    print(f'checking {len(paths)} configs under {root} with {args.jobs} jobs', flush=True)
    with tempfile.TemporaryDirectory(prefix='imgcls_compat_') as tmp:
        rows = run_all(paths, root, make_tiny_data(Path(tmp)), args)
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT, capture_output=True, text=True)
    shown = [a if not os.path.isabs(a) else Path(a).name for a in (argv if argv is not None else sys.argv[1:])]
    meta = {'command': ' '.join(['python tools/compat_report.py', *shown]), 'date': time.strftime('%Y-%m-%d'),
            'commit': commit.stdout.strip() or 'unknown', 'cpus': os.cpu_count(),
            'minutes': (time.monotonic() - start) / 60, 'cap': args.max_step_gmacs}
    from imgcls.fileio import atomic_write_text
    atomic_write_text(args.out, render(rows, expected_params(root), meta))
    if args.json:
        atomic_write_text(args.json, json.dumps(rows, indent=1))
    _, n, load, build, step, match = _summary(rows, expected_params(root))
    print(f'{n} configs: {load} load, {build} build, {step} step, {match} param counts match; '
          f'{meta["minutes"]:.1f} min; wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
