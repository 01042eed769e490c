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


SHAPE_HELP = ("input H W, or C H W (C defaults to the channels the model's first layer takes); default: the "
              "size every image has after the config's test pipeline (its last fixed-size Resize or crop), else "
              "the backbone's img_size, else 32 32 for CIFAR-style backbones and 224 224 for the rest")


def input_shape(cfg, shape: list[int] | None, model=None) -> tuple[int | None, int, int]:
    """(C, H, W) from ``--shape``, else from the config's test pipeline and backbone.

    C (unless ``--shape`` gives it): what the first convolution of ``model`` takes when a model is given,
    else ``model.backbone.in_channels`` or its class's default, else None when only the built model can
    tell (LeNet5 has no such argument)."""
    from ..apis.inference import pipeline_input_size  # keeps imgcls --help fast
    backbone = cfg.model.get('backbone', {}) or {}
    if model is not None:
        from ..apis.export import model_in_channels  # keeps imgcls --help fast
        channels = model_in_channels(model, backbone.get('in_channels', 3))
    else:
        import imgcls.models  # noqa: F401  (registers the backbones, whose in_channels defaults are read) keeps imgcls --help fast

        from ..data.channels import model_in_channels as config_in_channels  # keeps imgcls --help fast
        channels = config_in_channels(cfg)
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
    result = get_complexity(model, input_shape(cfg, args.shape, model))
    print(result.table(max_depth=args.depth))
    return 0
