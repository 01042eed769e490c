"""``imgcls publish CKPT OUT.safetensors``: release the weights of a training checkpoint."""

from __future__ import annotations

import argparse
import os


def add_parser(sub) -> None:
    p = sub.add_parser('publish', help='write the model weights of a checkpoint to a .safetensors file for release',
                       description='Writes only the model weights of CKPT (no optimizer or training state) to '
                                   'OUT.safetensors, with the class names and the config in its header. '
                                   'The file holds no code: `imgcls test` / `imgcls infer` load it safely and '
                                   'read the class names from it. Written atomically.')
    p.add_argument('checkpoint', help='training checkpoint (e.g. work_dirs/x/latest.pth)')
    p.add_argument('out', help='file to write, ending in .safetensors')
    p.add_argument('--ema', action='store_true', help="publish the EMA weights (state_dict_ema) instead")
    p.add_argument('--unsafe-load', action='store_true',
                   help='allow a checkpoint that contains arbitrary pickled objects (only for trusted files)')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..apis.publish import publish_checkpoint  # keeps imgcls --help fast
    meta = publish_checkpoint(args.checkpoint, args.out, ema=args.ema, unsafe_load=args.unsafe_load)
    classes = meta.get('CLASSES') or []
    size = os.path.getsize(args.out) / 2 ** 20
    print(f'published the {meta.get("weights", "model")} weights of {args.checkpoint} to {args.out} '
          f'({size:.1f} MB, {len(classes)} class names, config {"included" if meta.get("config") else "absent"})')
    return 0
