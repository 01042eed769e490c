"""``imgcls export CONFIG CKPT --out model.onnx``."""

from __future__ import annotations

import argparse
import copy
import warnings

from .analyze import SHAPE_HELP, input_shape
from .common import add_cfg_options, load_config


def add_parser(sub) -> None:
    p = sub.add_parser(
        'export', help='export a checkpoint to ONNX or TorchScript and verify it against PyTorch',
        description='Export CONFIG + CKPT. By default the graph takes float32, already-normalised (N, C, H, W) '
                    'images and returns class scores (softmax), like mmcls deployments; --include-preprocess '
                    'takes uint8 RGB images and normalises inside the graph. The exported model is run on '
                    'random batches and compared with PyTorch; the file is written only when they agree. '
                    "ONNX needs the optional packages: pip install 'imgcls[export]'.")
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--out', required=True, help='file to write (e.g. model.onnx or model.pt)')
    p.add_argument('--format', dest='fmt', choices=('onnx', 'torchscript'), default=None,
                   help='default: torchscript for a .pt/.ts/.torchscript --out, else onnx')
    p.add_argument('--shape', nargs='+', type=int, metavar='N', help=SHAPE_HELP)
    p.add_argument('--dynamic-batch', action='store_true', help='a free batch dimension (default: batch 1)')
    p.add_argument('--dynamic-hw', action='store_true',
                   help='free height and width (default: fixed to --shape); checked at a second size too')
    p.add_argument('--opset', type=int, help="ONNX opset version (default: torch's recommended one)")
    p.add_argument('--include-preprocess', action='store_true',
                   help='take uint8 RGB images and convert + normalise them inside the graph')
    p.add_argument('--logits', action='store_true', help='output raw logits instead of softmax scores')
    p.add_argument('--no-verify', dest='verify', action='store_false',
                   help='skip the comparison with PyTorch (not recommended)')
    p.add_argument('--atol', type=float, default=1e-4,
                   help='largest accepted |exported - PyTorch| difference (default 1e-4)')
    p.add_argument('--unsafe-load', action='store_true',
                   help='allow checkpoints that contain arbitrary pickled objects (only for trusted files)')
    add_cfg_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..apis import load_trained_model, prepare_config  # keeps imgcls --help fast
    from ..apis.export import export_model  # keeps imgcls --help fast
    fmt = args.fmt or ('torchscript' if args.out.lower().endswith(('.pt', '.ts', '.torchscript')) else 'onnx')
    if fmt == 'onnx':  # fail before loading anything when the optional packages are missing
        from ..apis.export import require_export_packages  # keeps imgcls --help fast
        require_export_packages(args.verify)
    cfg = copy.deepcopy(load_config(args.config, args.cfg_options))
    prepare_config(cfg)
    model, _ = load_trained_model(cfg, args.checkpoint, 'cpu', args.unsafe_load)
    shape = input_shape(cfg, args.shape, model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        result = export_model(model, args.out, fmt=fmt, shape=shape, dynamic_batch=args.dynamic_batch,
                              opset=args.opset, include_preprocess=args.include_preprocess, logits=args.logits,
                              verify=args.verify, atol=args.atol, dynamic_hw=args.dynamic_hw)
    for w in caught:  # e.g. the exporter fallback: say so, but once and without a stack of torch internals
        if 'falling back' in str(w.message):
            print(f'note: {w.message}')
    print(result.summary())
    return 0
