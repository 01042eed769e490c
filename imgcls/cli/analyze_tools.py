"""``imgcls analyze logs`` and ``imgcls analyze lr`` (registered in :data:`imgcls.cli.analyze.ANALYSES`)."""

from __future__ import annotations

import argparse

from .common import add_cfg_options, load_config


def add_logs_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument('logs', nargs='+', metavar='LOG', help='log.jsonl files of one or more runs')
    p.add_argument('--keys', nargs='+', default=['loss'],
                   help='values to plot, e.g. loss accuracy_top-1 lr (train keys per iteration, val keys '
                        'per epoch; default: loss)')
    p.add_argument('--out', required=True, help='PNG file to write')
    p.add_argument('--legend', nargs='+', help='one name per log (default: the work-dir names)')
    p.add_argument('--title')


def run_logs(args: argparse.Namespace) -> int:
    from ..analysis.log_curves import plot_curves  # keeps imgcls --help fast
    panels = plot_curves(args.logs, args.keys, args.out, legends=args.legend, title=args.title)
    print(f'plotted {", ".join(f"{k} ({m})" for k, m in panels)} of {len(args.logs)} run(s) to {args.out}')
    return 0


def add_lr_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument('config')
    p.add_argument('--out', required=True, help='PNG file to write')
    p.add_argument('--iters-per-epoch', type=int,
                   help='training iterations per epoch (default: train dataset size / data.samples_per_gpu)')
    p.add_argument('--title')
    add_cfg_options(p)


def run_lr(args: argparse.Namespace) -> int:
    from ..analysis.lr_schedule import plot_lr, simulate_lr  # keeps imgcls --help fast
    cfg = load_config(args.config, args.cfg_options)
    schedule = simulate_lr(cfg, args.iters_per_epoch)
    plot_lr(schedule, args.out, title=args.title)
    lrs = schedule.lrs
    print(f'{schedule.policy} schedule over {schedule.max_iters} iterations ({schedule.iters_per_epoch} per '
          f'epoch): first lr {lrs[0]:.4g}, max {lrs.max():.4g}, last {lrs[-1]:.4g}; plotted to {args.out}')
    return 0


# name -> (add_arguments, run, help)
TOOLS = {
    'logs': (add_logs_arguments, run_logs, 'training curves of one or more log.jsonl files'),
    'lr': (add_lr_arguments, run_lr, 'the learning rate per iteration a config produces (no training)'),
}
