"""``imgcls data pack CONFIG_OR_FOLDER OUT --format wds|parquet``: write a dataset as shards."""

from __future__ import annotations

import argparse
import os

from ..errors import ConfigError
from .common import add_cfg_options, load_config


def add_parser(sub) -> None:
    p = sub.add_parser('data', help='data tools: pack a dataset into WebDataset or Parquet shards',
                       description='Tools for datasets.')
    tools = p.add_subparsers(dest='data_command', metavar='TOOL')
    pack = tools.add_parser(
        'pack', help='write a dataset as WebDataset tar shards or Parquet files, with an index.json',
        description='Write the images of a dataset (data.<split> of a config, or a folder with one subfolder per '
                    'class) into OUT as shards of --shard-size samples, plus an index.json with the counts, '
                    'labels and classes that the WebDataset and HFDataset types read. Images are stored as they '
                    'are (in-memory datasets as PNG); no pipeline step runs. OUT must be new (or empty).')
    pack.add_argument('source', metavar='CONFIG_OR_FOLDER', help='a config file (or shipped config name) or an '
                      'image folder with one subfolder per class')
    pack.add_argument('out', metavar='OUT', help='the folder to create')
    pack.add_argument('--format', default='wds', choices=('wds', 'parquet'),
                      help='wds: WebDataset tar shards (default); parquet: Hugging Face datasets Parquet files')
    pack.add_argument('--shard-size', type=int, default=1000, help='samples per shard (default 1000)')
    pack.add_argument('--split', default='train', choices=('train', 'val', 'test'),
                      help='which dataset of the config (default train)')
    pack.add_argument('--prefix', default=None, help='shard file name prefix (default: the split)')
    add_cfg_options(pack)
    pack.set_defaults(func=run_pack)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def run_pack(args: argparse.Namespace) -> int:
    from ..data import build_dataset  # keeps imgcls --help fast
    from ..data.pack import pack_dataset  # keeps imgcls --help fast
    if os.path.isdir(args.source):
        dataset = build_dataset(dict(type='CustomDataset', data_prefix=args.source, pipeline=[]))
        what = f'the folder {args.source}'
    else:
        cfg = load_config(args.source, args.cfg_options)
        data = cfg.get('data') or {}
        if args.split not in data:
            raise ConfigError(f'{args.source} has no data.{args.split} dataset to pack')
        spec = dict(data[args.split])
        spec['pipeline'] = []  # samples are stored as they are; the pipeline runs when they are read
        dataset = build_dataset(spec)
        what = f'data.{args.split} of {args.source} ({type(dataset).__name__})'
    print(f'packing {len(dataset)} images of {what} into {args.out} ({args.format}, {args.shard_size} per shard)')
    index = pack_dataset(dataset, args.out, args.format, args.shard_size, prefix=args.prefix or args.split)
    print(f'wrote {index["count"]} images, {len(index["classes"])} classes, in {len(index["shards"])} shard(s) to '
          f'{args.out} (index: {os.path.join(args.out, "index.json")})')
    return 0
