"""``imgcls convert SRC DST --from torchvision|timm|mmcls`` and ``imgcls convert CKPT OUT --reparam CONFIG``."""

from __future__ import annotations

import argparse

from ..errors import ConfigError
from .common import load_config

# the converter sources of imgcls.convert.SOURCES (a test keeps the two equal); written out here because importing
# imgcls.convert imports torch, which would make every `imgcls --help` pay about 2 s
SOURCES = ('torchvision', 'timm', 'mmcls')


def add_parser(sub) -> None:
    p = sub.add_parser('convert', help="map another library's checkpoint onto imgcls's key names")
    p.add_argument('src', help='checkpoint file of the other library (.pth/.pt/.bin/.safetensors)')
    p.add_argument('dst', help='imgcls checkpoint to write (.pth, or .safetensors for released weights)')
    p.add_argument('--from', dest='source', choices=SOURCES)
    p.add_argument('--reparam', metavar='CONFIG',
                   help='instead of --from: merge the branches of a trained RepVGG/RepMLPNet checkpoint of CONFIG '
                        'into its deploy form (load it with model.backbone.deploy=True)')
    p.add_argument('--family', help='model family, when it cannot be told from the keys (e.g. resnet, vgg)')
    p.add_argument('--unsafe-load', action='store_true',
                   help='allow a source checkpoint that contains arbitrary pickled objects (trusted files only)')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..convert import convert_checkpoint  # keeps imgcls --help fast
    if (args.reparam is None) == (args.source is None):
        raise ConfigError('imgcls convert needs exactly one of --from SOURCE (another library\'s checkpoint) '
                          'and --reparam CONFIG (a trained RepVGG/RepMLPNet checkpoint to re-parameterize)')
    if args.reparam is not None:
        from ..apis.reparam import reparameterize_checkpoint  # keeps imgcls --help fast
        diff = reparameterize_checkpoint(load_config(args.reparam), args.src, args.dst, unsafe_load=args.unsafe_load)
        print(f'wrote the deploy form of {args.src} to {args.dst} (largest logit difference {diff:.2g}); '
              'load it with model.backbone.deploy=True')
        return 0
    family = convert_checkpoint(args.src, args.dst, args.source, args.family, unsafe=args.unsafe_load)
    print(f'converted a {args.source} {family} checkpoint to {args.dst}')
    return 0
