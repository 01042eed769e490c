"""imgcls's side of each workload, run by ``benchmarks/run.py`` in a child process of its own.

    digits      train a digits config through ``train_model``; marks per epoch, top-1 after each epoch
    train-step  ResNet-50 training steps on a synthetic uint8 batch (``imgcls.analysis.speed.benchmark``)
    infer       ResNet-50 inference on a synthetic uint8 batch (the same, ``modes=('inference',)``)
    ort         the exported ResNet-50 (``export_model``, uint8 input, preprocessing in the graph) in ONNX Runtime
    batching    ``inference_model`` on a list vs one call per image (``benchmarks/inference_batching.py``)
    pipeline    one epoch loop of a JPEG loader (``benchmarks/pipeline.py``): imgcls's or torchvision's
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
for path in (REPO, REPO / 'benchmarks', REPO / 'benchmarks' / 'peers'):
    sys.path.insert(0, str(path))

from _child import Marks, profile_table, summarize_rates, time_calls, torch_info, write_result  # noqa: E402

R50_CONFIG = 'configs/resnet/resnet50_8xb32_in1k.py'
DIGITS_MAIN = 'configs/resnet/resnet18_digits.py'


def train_digits(args) -> dict:
    """Train ``args.config`` with ``--cfg-options``-style overrides; the marks come from a hook."""
    from imgcls import Config
    from imgcls.apis import train_model
    from imgcls.engine.hooks import HOOKS, Hook

    marks = Marks(args.target)

    @HOOKS.register_module(force=True)
    class SuiteMarks(Hook):
        def before_train_epoch(self, runner):
            marks.epoch_start()

        def after_train_iter(self, runner):
            marks.iter_end(runner.outputs['num_samples'])

        def after_train_epoch(self, runner):  # LOWEST priority: after the evaluation and the checkpoint
            top1 = (getattr(runner, 'last_eval', None) or {}).get('accuracy_top-1')
            if top1 is not None and marks.eval_end(top1):
                raise _Reached()

    cfg = Config.fromfile(REPO / (args.config or DIGITS_MAIN))
    cfg.merge_from_dict(json.loads(args.overrides))
    cfg['custom_hooks'] = list(cfg.get('custom_hooks') or []) + [dict(type='SuiteMarks', priority='LOWEST')]
    with tempfile.TemporaryDirectory() as work_dir:
        try:
            train_model(cfg, work_dir=work_dir, seed=0)
        except _Reached:  # the target is reached: the rest of the schedule does not count
            pass
        speed = _settings(Path(work_dir))
    return {'marks': marks.as_dict(), 'top1': marks.epochs[-1]['top1'] if marks.epochs else None,
            'settings': speed}


class _Reached(Exception):
    pass


def _settings(work_dir: Path) -> str | None:
    """The speed settings imgcls logged at start (bf16 / channels_last and why)."""
    log = work_dir / 'train.log'
    lines = log.read_text().splitlines() if log.exists() else []
    return next((line.split('speed settings: ', 1)[1] for line in lines if 'speed settings: ' in line), None)


def r50_cfg(config: str | None = None):
    from imgcls import Config
    return Config.fromfile(REPO / (config or R50_CONFIG))


def speed_bench(args, mode: str) -> dict:
    """imgcls's own speed benchmark (the code behind ``imgcls benchmark CONFIG``) for one mode."""
    from imgcls.analysis.speed import benchmark
    amp = {'default': None, 'fp32': 'fp32', 'bf16': 'bf16'}[args.amp]
    cl = {'default': None, 'on': True, 'off': False}[args.channels_last]
    cfg = r50_cfg(args.config)
    shape = (1 if args.config == DIGITS_MAIN else 3, args.size, args.size)
    res = benchmark(cfg, args.batch, shape, 'cpu', amp, cl, iters=args.iters, warmup=args.warmup,
                    repeats=args.repeats, modes=(mode,))
    out = {'img_per_s': res.img_per_s[mode], 'spread': [round(v, 2) for v in res.spread[mode]],
           'settings': res.settings}
    if args.profile:  # the same step, built the same way, under torch.profiler
        from imgcls.analysis.speed import make_step, setup
        prepared, speed, model, batch = setup(cfg, args.batch, shape, 'cpu', amp, cl, train=mode == 'train')
        out['profile'] = profile_table(make_step(mode, prepared, speed, model, batch), args.profile)
    return out


def onnxruntime_infer(args) -> dict:
    """Export ResNet-50 with ``export_model`` (uint8 in, preprocessing in the graph) and time ONNX Runtime."""
    import onnxruntime as ort
    import torch

    from imgcls.apis import init_model
    from imgcls.apis.export import export_model
    model = init_model(str(REPO / R50_CONFIG), device='cpu')
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / 'resnet50.onnx'
        t0 = time.perf_counter()
        exported = export_model(model, path, shape=(3, args.size, args.size), dynamic_batch=True,
                                include_preprocess=True)
        export_s = time.perf_counter() - t0
        session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    img = torch.randint(0, 256, (args.batch, 3, args.size, args.size), dtype=torch.uint8).numpy()
    name = session.get_inputs()[0].name
    step = lambda: session.run(None, {name: img})
    out = summarize_rates(time_calls(step, args.warmup, args.repeats, args.iters, args.batch))
    out.update(export_s=round(export_s, 1), exporter=exported.exporter, onnxruntime=ort.__version__,
               settings=f'fp32, ONNX Runtime {ort.__version__} CPUExecutionProvider, default threads')
    if args.profile:
        out['profile'] = 'ONNX Runtime: not profiled with torch.profiler'
    return out


def batching(args) -> dict:
    """ms per image through ``inference_model`` batched vs one call per image (reuses inference_batching.py)."""
    import inference_batching as ib
    config = ib.CONFIGS['digits ResNet-18 (1x32x32)'] if args.model == 'digits' else R50_CONFIG
    images = ib.digits_images(args.n) if args.model == 'digits' else ib.photo_crops(args.n)
    batched, single, settings = ib.measure(config, images, args.repeats, 'cpu', args.batch)
    return {'img_per_s': 1000 / batched, 'single_img_per_s': 1000 / single, 'batched_ms_per_img': batched,
            'single_ms_per_img': single, 'settings': settings}


def pipeline(args) -> dict:
    """Epochs of one JPEG loader (reuses benchmarks/pipeline.py); median images/s after a warm-up epoch."""
    import pipeline as pl
    import torch
    torch.set_num_threads(1)  # the workers use the cores; as in pipeline.py's comparison
    make = pl.imgcls_loader if args.loader == 'imgcls' else pl.torchvision_loader
    loader, to_float = make(Path(args.root), args.batch, args.workers)
    pl.epoch_rate(loader, to_float)  # warm-up: start the workers, fill the page cache
    runs = [pl.epoch_rate(loader, to_float) for _ in range(args.repeats)]
    rates = [r for r, _ in runs]
    return {'img_per_s': statistics.median(rates), 'runs': [round(r, 2) for r in rates],
            'cpu_ms_per_img': statistics.median(c for _, c in runs),
            'settings': f'{args.workers} workers, batch {args.batch}, RandomResizedCrop 224 + flip + normalize'}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('task', choices=['digits', 'train-step', 'infer', 'ort', 'batching', 'pipeline'])
    p.add_argument('--result', required=True)
    p.add_argument('--config', help='digits: the config to train (default: the digits main job); train-step / '
                   f'infer: the model config (default {R50_CONFIG})')
    p.add_argument('--overrides', default='{}', help='JSON dict merged into the config')
    p.add_argument('--target', type=float)
    p.add_argument('--amp', choices=['default', 'fp32', 'bf16'], default='default')
    p.add_argument('--channels-last', choices=['default', 'on', 'off'], default='default')
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--iters', type=int, default=2)
    p.add_argument('--profile', type=int, default=0)
    p.add_argument('--model', choices=['digits', 'resnet50'], default='digits')
    p.add_argument('--n', type=int, default=64)
    p.add_argument('--loader', choices=['imgcls', 'torchvision'], default='imgcls')
    p.add_argument('--root')
    p.add_argument('--workers', type=int, default=2)
    args = p.parse_args(argv)
    import logging
    logging.getLogger('imgcls').setLevel(logging.WARNING)
    result = torch_info()
    task = {'digits': train_digits, 'train-step': lambda a: speed_bench(a, 'train'),
            'infer': lambda a: speed_bench(a, 'inference'), 'ort': onnxruntime_infer, 'batching': batching,
            'pipeline': pipeline}[args.task]
    result.update(task(args))
    result['end'] = time.perf_counter()
    write_result(args.result, result)
    return 0


if __name__ == '__main__':
    sys.exit(main())
