"""Write docs/model_zoo.md: params and MACs of the model of every config in configs/<family>/*.py.

Usage: python tools/gen_model_zoo.py [--configs-dir configs] [--out docs/model_zoo.md] [--device meta|cpu]

Each model is built (without loading weights) and counted by imgcls.analysis.complexity.get_complexity
at its test input size: the test pipeline's crop size, else the backbone's img_size, else 32 for
CIFAR-style backbones and 224 otherwise. Models are built on torch's 'meta' device by default, which
counts shapes without allocating weights (seconds for the whole zoo); a model that cannot run there is
counted on the CPU instead.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing imgcls
    sys.path.insert(0, str(ROOT))

from imgcls import Config  # noqa: E402
from imgcls.analysis.complexity import get_complexity  # noqa: E402
from imgcls.apis.model import build_model  # noqa: E402
from imgcls.fileio import atomic_write_text  # noqa: E402

# How these counts relate to the FLOPs in mmcls 0.25's metafiles (checked family by family when each was added)
CONVENTIONS = '''## Against the figures mmcls publishes

The parameter counts equal mmcls 0.25's for every config of every family (the tests check each one). MACs
are counted another way than mmcls's metafiles count FLOPs (mmcv's counter), so they differ by family:

- mmcv's counter also counts norms, activations, pooling and bias additions, so convolutional models read a
  little lower here (HRNet 0.4-1.1%, VAN 1-2%, PoolFormer 2.3-3.4%, RepVGG, RepMLPNet and DenseNet within 2%).
- It leaves out the attention products (q k^T and attn v) and linear layers called as functions, so
  transformers read higher here: DeiT-T 1.25 against 1.08 G, Swin V2-T (window 8) 5.94 against 4.35 G,
  T2T-ViT-t-14 6.09 against 4.34 G. MViT v2's published figures count everything: tiny and small match.
- ConvMixer: mmcls's figures leave out the depth-wise convolutions with `padding='same'` (5-7% higher here).
- HorNet: neither count includes the FFTs of the global-filter layers.
- Configs that train with a teacher (`DistilledImageClassifier`) count the student, the model they train and
  save; the teacher is loaded only for training.
- Conformer: mmcls's figure is the backbone alone. EfficientFormer-L3: mmcls's figure is about one attention
  block (0.17 G) short.
- Slips in mmcls's metafiles: RepVGG A2 and larger swap Parameters and FLOPs; EfficientFormer-L1 is listed
  with 12,278,696 parameters where the architecture has 12,289,928 (timm's count agrees); RegNetX-3.2GF with
  3.21M (15.30M) and ResNet-34 with 2.18M (21.80M); the distilled DeiT models carry the plain models' FLOPs.'''

HEADER = ('| family | model | params (M) | MACs (G) | input | config |\n'
          '|---|---|---:|---:|---|---|')


@dataclass
class Row:
    family: str
    model: str
    config: str
    params: int | None = None
    macs: int | None = None
    input_shape: tuple[int, int, int] | None = None
    error: str | None = None

    def markdown(self) -> str:
        """This row of the Markdown table."""
        if self.error is not None:
            return f'| {self.family} | {self.model} | – | – | – | `{self.config}` (not built: {self.error}) |'
        shape = 'x'.join(str(s) for s in self.input_shape)
        return (f'| {self.family} | {self.model} | {self.params / 1e6:.2f} | {self.macs / 1e9:.2f} | {shape} '
                f'| `{self.config}` |')


def _side(size) -> int | None:
    """An int side from a pipeline size (int, or (h, w) with h == w); None when it is not one."""
    if isinstance(size, int) and size > 0:
        return size
    if isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(s, int) and s > 0 for s in size):
        return size[0] if size[0] == size[1] else None
    return None


def _test_pipeline(cfg) -> list:
    data = cfg.get('data') or {}
    test = data.get('test') if isinstance(data, dict) else None
    pipeline = test.get('pipeline') if isinstance(test, dict) else None
    return list(pipeline or cfg.get('test_pipeline') or [])


def input_shape(cfg) -> tuple[int, int, int]:
    """(C, H, W) of the images the config's model is tested on."""
    backbone = cfg.model.get('backbone') or {}
    channels = backbone.get('in_channels', 3)
    pipeline = _test_pipeline(cfg)
    for step in pipeline:  # a final crop decides the size
        if isinstance(step, dict) and step.get('type') in ('CenterCrop', 'RandomCrop', 'RandomResizedCrop'):
            side = _side(step.get('crop_size', step.get('size')))
            if side:
                return channels, side, side
    for step in pipeline:  # else a resize to a fixed square
        if isinstance(step, dict) and step.get('type') == 'Resize':
            side = _side(step.get('size'))
            if side:
                return channels, side, side
    side = _side(backbone.get('img_size')) or (32 if 'CIFAR' in str(backbone.get('type', '')) else 224)
    return channels, side, side


def _with_model_channels(model: torch.nn.Module, shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """``shape`` with the channels the model's first convolution takes (LeNet5 has no in_channels key)."""
    first = next((m for m in model.modules() if isinstance(m, torch.nn.modules.conv._ConvNd)), None)
    return (first.in_channels, *shape[1:]) if first is not None else shape


def _count(cfg, shape: tuple[int, int, int], device: str):
    """The complexity of ``cfg``'s model and the input shape it was counted at."""
    if device == 'meta':
        try:
            with torch.device('meta'):
                model = build_model(cfg, device='meta', init=False)
            shape = _with_model_channels(model, shape)
            return get_complexity(model, shape), shape
        except Exception:  # noqa: BLE001 - some ops need real data: count on the CPU instead
            pass
    model = build_model(cfg, device='cpu', init=False)
    shape = _with_model_channels(model, shape)
    return get_complexity(model, shape), shape


def measure(path: Path, configs_dir: Path, device: str = 'meta') -> Row:
    """Build the model of one config and count it."""
    rel = path.relative_to(configs_dir.parent) if configs_dir.parent in path.parents else path
    row = Row(family=path.parent.name, model=path.stem, config=rel.as_posix())
    try:
        cfg = Config.fromfile(str(path))
        if cfg.model.get('type') == 'DistilledImageClassifier':  # the student is the model; the teacher only trains it
            cfg.model = {k: v for k, v in cfg.model.items() if k != 'teacher'} | {'type': 'ImageClassifier'}
        # no prepare_config: normalisation does not change the counts, and its checks cannot run on 'meta'
        row.input_shape = input_shape(cfg)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            result, row.input_shape = _count(cfg, row.input_shape, device)
        row.params, row.macs = result.params, result.macs
    except Exception as e:  # noqa: BLE001 - one broken config must not hide the rest of the zoo
        row.error = f'{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ""}'.replace('|', '/')
    return row


def find_configs(configs_dir: Path) -> list[Path]:
    """configs/<family>/*.py, without the _base_ folder."""
    return sorted(p for p in configs_dir.glob('*/*.py') if p.parent.name != '_base_')


def render(rows: list[Row]) -> str:
    """The whole model_zoo.md text."""
    lines = ['# Model zoo', '',
             'Parameters and multiply-accumulates (MACs of convolutions, linear layers and matrix products) of '
             'the model of each config, for one image of the listed input size (C x H x W). Generated by '
             '`python tools/gen_model_zoo.py`; do not edit by hand.', '', HEADER]
    lines += [row.markdown() for row in sorted(rows, key=lambda r: (r.family, r.model))]
    return '\n'.join(lines + ['', CONVENTIONS]) + '\n'


def main(argv: list[str] | None = None) -> int:
    """Generate the table; return 1 when some config could not be counted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--configs-dir', type=Path, default=ROOT / 'configs')
    parser.add_argument('--out', type=Path, default=ROOT / 'docs' / 'model_zoo.md')
    parser.add_argument('--device', choices=('meta', 'cpu'), default='meta',
                        help="'meta' counts without allocating weights; 'cpu' runs the model for real")
    args = parser.parse_args(argv)
    paths = find_configs(args.configs_dir)
    if not paths:
        print(f'no configs found under {args.configs_dir}/<family>/*.py', file=sys.stderr)
        return 1
    rows = []
    for path in paths:
        row = measure(path, args.configs_dir, args.device)
        rows.append(row)
        status = row.error or f'{row.params / 1e6:.2f} M params, {row.macs / 1e9:.2f} G MACs'
        print(f'{row.config}: {status}', file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, render(rows))
    failed = [r for r in rows if r.error]
    print(f'wrote {args.out} ({len(rows)} configs, {len(failed)} failed)', file=sys.stderr)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
