"""``imgcls test CONFIG CKPT``."""

from __future__ import annotations

import argparse

from .common import add_cfg_options, load_config


def add_parser(sub) -> None:
    p = sub.add_parser('test', help='evaluate a checkpoint on the test split and print the metrics')
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--metrics', nargs='+', help='metrics to compute (default: the config\'s evaluation.metric)')
    p.add_argument('--metric-options', nargs='+', default=[], metavar='KEY=VALUE',
                   help='e.g. topk=[1,5] average_mode=macro')
    p.add_argument('--out', help='write per-image predictions to this .json or .csv file')
    p.add_argument('--split', default='test', help='which data split to evaluate (default: test)')
    p.add_argument('--batch-size', type=int)
    p.add_argument('--device')
    p.add_argument('--unsafe-load', action='store_true',
                   help='allow checkpoints that contain arbitrary pickled objects (only for trusted files)')
    add_cfg_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..apis import test_model
    from ..config import parse_cfg_options
    cfg = load_config(args.config, args.cfg_options)
    options = parse_cfg_options(args.metric_options) if args.metric_options else None
    results, scores, dataset = test_model(cfg, args.checkpoint, metrics=args.metrics, metric_options=options,
                                          device=args.device, split=args.split, unsafe_load=args.unsafe_load,
                                          batch_size=args.batch_size)
    width = max((len(k) for k in results), default=6)
    print(f'{"metric":<{width}}  value')
    for key, value in results.items():
        text = f'{value:.2f}' if isinstance(value, (int, float)) else str(value)
        print(f'{key:<{width}}  {text}')
    if args.out:
        from ..apis.predictions import write_predictions
        write_predictions(args.out, dataset, scores)
        print(f'predictions written to {args.out}')
    return 0
