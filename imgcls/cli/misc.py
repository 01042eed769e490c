"""``imgcls config`` and ``imgcls list``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..hub.index import list_models
from ..registry import all_registries
from .common import add_cfg_options, configs_dir, load_config, shipped_configs

LISTABLE = ('backbones', 'necks', 'heads', 'losses', 'classifiers', 'datasets', 'pipelines', 'hooks',
            'optimizers', 'configs', 'models')


def add_parsers(sub) -> None:
    p = sub.add_parser('config', help='print the fully merged config (after _base_ and --cfg-options)')
    p.add_argument('config')
    add_cfg_options(p)
    p.set_defaults(func=run_config)
    p = sub.add_parser('list', help='list what is registered (backbones, heads, ...) or the shipped configs')
    p.add_argument('what', nargs='?', choices=LISTABLE + ('all',), default='all')
    p.add_argument('pattern', nargs='?', help="models only: a name pattern ('resnet50*') or a substring")
    p.set_defaults(func=run_list)


def run_config(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.cfg_options)
    print(cfg.pretty_text)
    return 0


def registered(what: str) -> list[str]:
    import imgcls.data  # noqa: F401  (registers datasets and pipelines; lazy: keeps imgcls --help fast)
    import imgcls.engine  # noqa: F401  (registers hooks and optimizers; lazy: keeps imgcls --help fast)
    import imgcls.models  # noqa: F401  (registers the model parts; lazy: keeps imgcls --help fast)

    name = {'backbones': 'backbone', 'necks': 'neck', 'heads': 'head', 'losses': 'loss',
            'classifiers': 'classifier', 'datasets': 'dataset', 'pipelines': 'pipeline', 'hooks': 'hook',
            'optimizers': 'optimizer'}[what]
    return all_registries()[name].keys()


def run_list(args: argparse.Namespace) -> int:
    kinds = LISTABLE if args.what == 'all' else (args.what,)
    for kind in kinds:
        if kind == 'configs':
            root = configs_dir()  # printed as a checkout names them; each works as a CONFIG argument anywhere
            items = [str(Path('configs') / p.relative_to(root)) for p in shipped_configs()]
        elif kind == 'models':  # published models; one line each with top-1, params, status when asked alone
            from ..hub.api import describe_models  # keeps imgcls --help fast
            items = describe_models(args.pattern) if len(kinds) == 1 else list_models()
        else:
            items = registered(kind)
        if len(kinds) > 1:
            print(f'{kind} ({len(items)}):')
            print('  ' + '\n  '.join(items) if items else '  (none)')
        else:
            print('\n'.join(items))
    return 0
