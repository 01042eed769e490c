"""``imgcls analyze complexity|logs|lr``."""

from __future__ import annotations

import argparse

from ..errors import ConfigError
from .analyze_tools import TOOLS
from .common import add_cfg_options, load_config

# other analyses register here: name -> (add_arguments(parser), run(args)[, help])
ANALYSES: dict = dict(TOOLS)


def add_parser(sub) -> None:
    p = sub.add_parser('analyze', help='model complexity, training curves, lr schedules')
    asub = p.add_subparsers(dest='analysis', metavar='ANALYSIS', required=True)
    c = asub.add_parser('complexity', help='params and MACs per module and in total')
    c.add_argument('config')
    c.add_argument('--shape', nargs='+', type=int, default=None, metavar='N', help=SHAPE_HELP)
    c.add_argument('--depth', type=int, default=2, help='module levels to show (default 2)')
    add_cfg_options(c)
    c.set_defaults(func=run_complexity)
    for name, (add_arguments, run, *help_text) in ANALYSES.items():
        q = asub.add_parser(name, help=help_text[0] if help_text else None)
        add_arguments(q)
        q.set_defaults(func=run)


SHAPE_HELP = ("input H W (or C H W); default: the size the config's test pipeline gives every image, else 224 "
              '224 (32 32 for CIFAR-style backbones)')


def input_shape(cfg, shape: list[int] | None) -> tuple[int, int, int]:
    """(C, H, W) from ``--shape``, else from the config's test pipeline and backbone."""
    from ..apis.inference import pipeline_input_size  # keeps imgcls --help fast
    backbone = cfg.model.get('backbone', {}) or {}
    channels = backbone.get('in_channels', 3)
    if shape is None:
        fixed = pipeline_input_size(cfg)
        if fixed is not None:
            return (channels, *fixed)
        size = 32 if 'CIFAR' in str(backbone.get('type', '')) else backbone.get('img_size', 224)
        size = size if isinstance(size, int) else 224
        return (channels, size, size)
    if len(shape) == 1:
        return (channels, shape[0], shape[0])
    if len(shape) == 2:
        return (channels, *shape)
    if len(shape) == 3:
        return tuple(shape)
    raise ConfigError(f'--shape takes H W (or C H W), got {shape}')


def run_complexity(args: argparse.Namespace) -> int:
    from ..analysis.complexity import get_complexity  # keeps imgcls --help fast
    from ..apis import build_model, prepare_config  # keeps imgcls --help fast
    cfg = load_config(args.config, args.cfg_options)
    prepare_config(cfg)
    model = build_model(cfg, init=False)
    result = get_complexity(model, input_shape(cfg, args.shape))
    print(result.table(max_depth=args.depth))
    return 0
