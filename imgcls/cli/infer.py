"""``imgcls infer CONFIG CKPT IMAGE_OR_DIR ...``: predict the classes of image files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import DataError
from .common import add_cfg_options, resolve_config

# the suffixes a folder is searched for (files named on the command line are read whatever their name)
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.gif', '.webp', '.tif', '.tiff', '.ppm', '.pgm', '.pbm')


def add_parser(sub) -> None:
    p = sub.add_parser('infer', help='predict the classes of image files (or all images under folders)',
                       description='Predict the class of each image; folders are searched recursively for '
                                   f'{", ".join(IMAGE_SUFFIXES)} files.')
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('inputs', nargs='+', metavar='IMAGE_OR_DIR')
    p.add_argument('--topk', type=int, default=1, help='also list the K best classes (default 1)')
    p.add_argument('--batch-size', type=int, default=32, help='images per forward pass (default 32)')
    p.add_argument('--json', action='store_true',
                   help='print a JSON list of {path, pred_label, pred_score, pred_class} objects')
    p.add_argument('--tta', action='store_true', help='average with the horizontally flipped image')
    p.add_argument('--device', help='cpu, cuda or cuda:N (default: cuda when available)')
    p.add_argument('--unsafe-load', action='store_true',
                   help='allow checkpoints that contain arbitrary pickled objects (only for trusted files)')
    add_cfg_options(p)
    p.set_defaults(func=run)


def expand_inputs(inputs: list[str]) -> list[str]:
    """Files as given, folders replaced by their image files (recursively, sorted)."""
    paths: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(str(p) for p in path.rglob('*') if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise DataError(f'folder {item} holds no image files ({", ".join(IMAGE_SUFFIXES)})')
            paths.extend(found)
        elif path.is_file():
            paths.append(item)
        else:
            raise DataError(f'{item}: no such file or folder')
    return paths


def _table(paths: list[str], results: list[dict], topk: int) -> str:
    width = max(len('image'), *(len(p) for p in paths))
    cls_width = max(len('class'), *(len(r['pred_class']) for r in results))
    lines = [f'{"image":<{width}}  {"class":<{cls_width}}  score' + ('  top-k' if topk > 1 else ''),
             f'{"-" * width}  {"-" * cls_width}  ------' + ('  -----' if topk > 1 else '')]
    for path, r in zip(paths, results):
        line = f'{path:<{width}}  {r["pred_class"]:<{cls_width}}  {r["pred_score"]:.4f}'
        if topk > 1:
            line += '  ' + ', '.join(f'{t["pred_class"]} {t["pred_score"]:.3f}' for t in r['topk'])
        lines.append(line)
    return '\n'.join(lines)


def run(args: argparse.Namespace) -> int:
    """Predict every readable image; unreadable ones are reported on stderr and make the exit status 1."""
    from ..apis import inference_model, init_model  # keeps imgcls --help fast
    paths = expand_inputs(args.inputs)
    model = init_model(resolve_config(args.config), args.checkpoint, device=args.device,
                       cfg_options=args.cfg_options or None, unsafe_load=args.unsafe_load)
    skipped: list[str] = []

    def report(index: int, error: DataError) -> None:
        skipped.append(paths[index])
        print(f'skipped {paths[index]}: {error}', file=sys.stderr)

    results = inference_model(model, paths, topk=args.topk, batch_size=args.batch_size, tta=args.tta,
                              on_error=report)
    done = [(p, r) for p, r in zip(paths, results) if r is not None]
    if args.json:
        print(json.dumps([{'path': p, **r} for p, r in done], indent=1))
    elif done:
        print(_table([p for p, _ in done], [r for _, r in done], args.topk))
    if skipped:
        rest = 'the others were predicted' if done else 'nothing was predicted'
        raise DataError(f'{len(skipped)} of {len(paths)} image(s) could not be read and were skipped (listed '
                        f'above); {rest}')
    return 0
