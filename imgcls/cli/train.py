"""``imgcls train CONFIG``."""

from __future__ import annotations

import argparse

from .common import add_cfg_options, load_config


def add_parser(sub) -> None:
    p = sub.add_parser('train', help='train a model from a config, evaluating and checkpointing as it goes',
                       description='Train CONFIG. Writes config.py, log.jsonl, train.log and checkpoints to '
                                   'the work dir (default work_dirs/<config name>).')
    p.add_argument('config', help='config file (.py, .json or .yaml)')
    p.add_argument('--work-dir', help='where to write logs and checkpoints')
    p.add_argument('--resume', nargs='?', const=True, default=None, metavar='CKPT',
                   help='continue training: from CKPT, or from latest.pth in the work dir when no path is given')
    p.add_argument('--load-from', metavar='CKPT', help='start from these weights (fine-tuning)')
    p.add_argument('--seed', type=int, help='random seed (default: the config\'s, else a fresh one, logged)')
    p.add_argument('--deterministic', action='store_true', help='use deterministic algorithms only')
    p.add_argument('--device', help='cpu, cuda or cuda:N (default: cuda when available)')
    p.add_argument('--unsafe-load', action='store_true',
                   help='allow checkpoints that contain arbitrary pickled objects (only for trusted files)')
    add_cfg_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..apis import train_model  # keeps imgcls --help fast
    cfg = load_config(args.config, args.cfg_options)
    # the final evaluation is logged by train_model (console and train.log): not printed a second time here
    train_model(cfg, work_dir=args.work_dir, resume=args.resume, load_from=args.load_from, seed=args.seed,
                deterministic=args.deterministic, device=args.device, unsafe_load=args.unsafe_load)
    return 0
