"""``imgcls test CONFIG CKPT``."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence

from ..config import parse_cfg_options
from .common import add_cfg_options, load_config


def add_parser(sub) -> None:
    p = sub.add_parser('test', help='evaluate a checkpoint on the test split and print the metrics',
                       description='Evaluate CHECKPOINT on the test split of CONFIG and print the metrics; '
                                   'optionally write per-image predictions and figures.')
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--metrics', nargs='+',
                   help="metrics to compute (default: the config's evaluation.metric): accuracy, precision, "
                        'recall, f1_score, support; multi-label: mAP, CP, CR, CF1, OP, OR, OF1')
    p.add_argument('--metric-options', nargs='+', default=[], metavar='KEY=VALUE',
                   help='e.g. topk=[1,5] thrs=0.5 average_mode=none (per class); multi-label: thr=0.5 or k=3')
    p.add_argument('--out', help='write per-image predictions (path, label, prediction, scores) to this .json '
                                 'or .csv file')
    p.add_argument('--show-dir', metavar='DIR',
                   help='write confusion_matrix.png and hardest.png (the most confident mistakes) to DIR')
    p.add_argument('--split', default='test', help='which data split to evaluate (default: test)')
    p.add_argument('--batch-size', type=int)
    p.add_argument('--device')
    p.add_argument('--unsafe-load', action='store_true',
                   help='allow checkpoints that contain arbitrary pickled objects (only for trusted files)')
    add_cfg_options(p)
    p.set_defaults(func=run)


def format_metrics(results: Mapping, class_names: Sequence[str] | None = None) -> str:
    """The metrics as a two-column table; per-class metrics (lists) as a table of classes x metrics."""
    scalars = {k: v for k, v in results.items() if not isinstance(v, (list, tuple))}
    per_class = {k: v for k, v in results.items() if isinstance(v, (list, tuple))}
    lines = []
    if scalars:
        width = max(len('metric'), *(len(k) for k in scalars))
        lines.append(f'{"metric":<{width}}  value')
        lines.append(f'{"-" * width}  -------')
        for key, value in scalars.items():
            text = f'{value:.2f}' if isinstance(value, float) else str(value)
            lines.append(f'{key:<{width}}  {text}')
    if per_class:
        n = max(len(v) for v in per_class.values())
        names = [str(c) for c in (class_names or [])][:n] + [str(i) for i in range(len(class_names or []), n)]
        width = max(len('class'), *(len(c) for c in names))
        cols = [max(len(k), 8) for k in per_class]
        if lines:
            lines.append('')
        lines.append(f'{"class":<{width}}  ' + '  '.join(f'{k:>{w}}' for k, w in zip(per_class, cols)))
        lines.append(f'{"-" * width}  ' + '  '.join('-' * w for w in cols))
        for i, name in enumerate(names):
            cells = []
            for values, w in zip(per_class.values(), cols):
                v = values[i] if i < len(values) else ''
                cells.append(f'{v:>{w}.2f}' if isinstance(v, float) else f'{v!s:>{w}}')
            lines.append(f'{name:<{width}}  ' + '  '.join(cells))
    return '\n'.join(lines)


def run(args: argparse.Namespace) -> int:
    from ..apis import test_model  # keeps imgcls --help fast
    from ..apis.predictions import check_predictions_path, write_predictions  # keeps imgcls --help fast
    if args.out:
        check_predictions_path(args.out)  # before the evaluation, which may take long
    cfg = load_config(args.config, args.cfg_options)
    options = parse_cfg_options(args.metric_options) if args.metric_options else None
    results, scores, dataset = test_model(cfg, args.checkpoint, metrics=args.metrics, metric_options=options,
                                          device=args.device, split=args.split, unsafe_load=args.unsafe_load,
                                          batch_size=args.batch_size)
    print(format_metrics(results, getattr(dataset, 'CLASSES', None)))
    if args.out:
        write_predictions(args.out, dataset, scores)
        print(f'predictions written to {args.out}')
    if args.show_dir:
        from ..analysis.plots import write_test_figures  # keeps imgcls --help fast
        for path in write_test_figures(args.show_dir, dataset, scores):
            print(f'figure written to {path}')
    return 0
