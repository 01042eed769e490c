"""``imgcls benchmark CONFIG``: inference and training images/s on this machine."""

from __future__ import annotations

import argparse
import json

from .analyze import SHAPE_HELP, input_shape
from .common import add_cfg_options, load_config


def add_parser(sub) -> None:
    p = sub.add_parser('benchmark', help="inference and train-step images/s of a config's model on this machine",
                       description='Times the config\'s model (random weights) on synthetic uint8 batches that go '
                                   'through the data preprocessor: warm-up, then the median of --repeats runs of '
                                   '--iters steps. Speed settings default to the config\'s (amp / channels_last '
                                   '/ compile, "auto" when unset).')
    p.add_argument('config')
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--shape', nargs='+', type=int, metavar='N', help=SHAPE_HELP)
    p.add_argument('--amp', action=argparse.BooleanOptionalAction, default=None,
                   help='low-precision autocast (bf16, or fp16 on GPUs without bf16); default: the config\'s')
    p.add_argument('--channels-last', action=argparse.BooleanOptionalAction, default=None,
                   help='channels_last memory format; default: the config\'s')
    p.add_argument('--compile', action=argparse.BooleanOptionalAction, default=None, help='torch.compile the steps')
    p.add_argument('--iters', type=int, default=20, help='steps per timed run (default 20)')
    p.add_argument('--warmup', type=int, default=5, help='untimed steps first (default 5)')
    p.add_argument('--repeats', type=int, default=5, help='timed runs; the median is reported (default 5)')
    p.add_argument('--modes', nargs='+', choices=('inference', 'train'), default=['inference', 'train'])
    p.add_argument('--device', help='cpu, cuda or cuda:N (default: cuda when available)')
    p.add_argument('--data', type=int, default=0, metavar='BATCHES',
                   help="also time BATCHES batches of the config's training loader (real files, the config's "
                        'workers) and report its headroom over the train step')
    p.add_argument('--json', action='store_true', help='print the result as one JSON object')
    add_cfg_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..analysis.speed import benchmark  # keeps imgcls --help fast
    cfg = load_config(args.config, args.cfg_options)
    amp = None if args.amp is None else ('auto' if args.amp else 'fp32')
    result = benchmark(cfg, batch_size=args.batch_size, shape=input_shape(cfg, args.shape), device=args.device,
                       amp=amp, channels_last=args.channels_last, compile=args.compile, iters=args.iters,
                       warmup=args.warmup, repeats=args.repeats, modes=tuple(args.modes), data_batches=args.data)
    print(json.dumps(result.as_dict()) if args.json else result.table())
    return 0
