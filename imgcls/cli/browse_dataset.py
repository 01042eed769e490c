"""``imgcls browse-dataset CONFIG --out grid.png``."""

from __future__ import annotations

import argparse

from .common import add_cfg_options, load_config


def add_parser(sub) -> None:
    p = sub.add_parser('browse-dataset', help='save a grid of augmented training (or val/test) images with labels',
                       description='Run data.<split> through its pipeline (without Normalize) and save a grid '
                                   'of the images the model would see, titled with their class names.')
    p.add_argument('config', help='config file (.py, .json or .yaml)')
    p.add_argument('--out', required=True, help='image file to write (png, jpg, pdf, svg ...)')
    p.add_argument('--split', default='train', choices=('train', 'val', 'test'), help='dataset (default: train)')
    p.add_argument('--num', type=int, default=16, help='how many images (default 16)')
    p.add_argument('--seed', type=int, default=0, help='which images and augmentations (default 0)')
    add_cfg_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..analysis.browse import browse_dataset  # keeps imgcls --help fast
    cfg = load_config(args.config, args.cfg_options)
    shown = browse_dataset(cfg, args.out, split=args.split, num=args.num, seed=args.seed)
    print(f'wrote {args.out}: {len(shown)} images of data.{args.split}')
    return 0
