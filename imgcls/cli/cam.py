"""``imgcls cam CONFIG CKPT IMAGE --out cam.png``: Grad-CAM of one image."""

from __future__ import annotations

import argparse
import copy

from .common import add_cfg_options, load_config


def add_parser(sub) -> None:
    p = sub.add_parser('cam', help='Grad-CAM: which image regions a class score comes from',
                       description='Runs IMAGE through the config\'s test pipeline and the model, and writes the '
                                   'image with its Grad-CAM heatmap overlaid. The default layer is the last '
                                   'backbone module with a 4-D output (backbone.layer4 for ResNets).')
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('image')
    p.add_argument('--out', required=True, help='PNG file to write')
    p.add_argument('--target-layer', help='module name, e.g. backbone.layer3 (see model.named_modules())')
    p.add_argument('--target-class', type=int, help='class index to explain (default: the predicted class)')
    p.add_argument('--device', help='cpu, cuda or cuda:N (default: cpu)')
    p.add_argument('--unsafe-load', action='store_true',
                   help='allow checkpoints that contain arbitrary pickled objects (only for trusted files)')
    add_cfg_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..analysis.cam import grad_cam, load_image_for_model, save_cam_figure  # keeps imgcls --help fast
    from ..apis import load_trained_model, prepare_config  # keeps imgcls --help fast
    from ..apis.export import model_in_channels  # keeps imgcls --help fast
    from ..apis.train import resolve_device  # keeps imgcls --help fast
    cfg = copy.deepcopy(load_config(args.config, args.cfg_options))
    prepare_config(cfg)
    model, meta = load_trained_model(cfg, args.checkpoint, resolve_device(args.device or 'cpu'), args.unsafe_load)
    raw = load_image_for_model(cfg, args.image, model_in_channels(model))
    img, _ = model.data_preprocessor(raw[None])
    result = grad_cam(model, img, args.target_layer, args.target_class)
    classes = meta.get('CLASSES') or []
    name = classes[result.target_class] if result.target_class < len(classes) else None
    save_cam_figure(raw.permute(1, 2, 0).cpu().numpy(), result, args.out, class_name=name)
    label = f'{result.target_class} ({name})' if name is not None else str(result.target_class)
    print(f'Grad-CAM of class {label}, p={result.score:.3f}, at {result.layer}: written to {args.out}')
    return 0
