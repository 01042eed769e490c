"""``imgcls convert SRC DST --from torchvision|timm|mmcls``."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    from ..convert import SOURCES
    p = sub.add_parser('convert', help="map another library's checkpoint onto imgcls's key names")
    p.add_argument('src', help='checkpoint file of the other library (.pth/.pt/.bin/.safetensors)')
    p.add_argument('dst', help='imgcls checkpoint to write (.pth, or .safetensors for released weights)')
    p.add_argument('--from', dest='source', required=True, choices=SOURCES)
    p.add_argument('--family', help='model family, when it cannot be told from the keys (e.g. resnet, vgg)')
    p.add_argument('--unsafe-load', action='store_true',
                   help='allow a source checkpoint that contains arbitrary pickled objects (trusted files only)')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..convert import convert_checkpoint
    family = convert_checkpoint(args.src, args.dst, args.source, args.family, unsafe=args.unsafe_load)
    print(f'converted a {args.source} {family} checkpoint to {args.dst}')
    return 0
