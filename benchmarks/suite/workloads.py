"""The workloads of the comparative suite: for each, its contenders (one child process each) and settings.

A contender names the environment it runs in ('main': imgcls's own; 'timm' / 'mmpretrain': the peer's
virtual environment), the script and its arguments. Sizes come from ``params``: the full-run defaults,
the ``--quick`` ones, then any ``--param KEY=VALUE`` given on the command line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

IMGCLS, PLAIN, MMPRE = 'suite/imgcls_child.py', 'peers/plain_loop.py', 'peers/mmpretrain_train.py'
# a contender's settings text: AUTO, or a text holding {chosen}, is filled in with what the run reports it chose
AUTO = 'auto'
# the hand-tuned loops: bf16 autocast where the CPU has bf16 instructions, else fp32 (peers/plain_loop.py --amp native)
NATIVE = '{chosen}'
DIGITS_CONFIG = 'configs/resnet/resnet18_digits.py'


@dataclass
class Contender:
    name: str
    label: str
    env: str  # 'main', 'timm' or 'mmpretrain'
    script: str
    args: list[str]
    settings: str
    vs: str | None = None  # the contender this one's ratio is taken against (default: the workload's baseline)


@dataclass
class Workload:
    name: str
    title: str
    kind: str  # 'train' (images/s + top-1), 'rate' (images/s), 'tta' (seconds to a top-1), 'batching'
    baseline: str
    contenders: list[Contender] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    notes: str = ''


# full-run sizes, then the --quick ones (tiny: the whole suite in a few minutes on 2 cores). For the digits,
# val_fraction sets the training split (the rest of Digits(split='train', val_fraction=...)) and eval_fraction
# the evaluation split (Digits(split='val', val_fraction=...)): 1,437 / 360 images by default
DEFAULTS = {
    'train_digits': dict(epochs=15, batch=128, val_fraction=0.2, eval_fraction=0.2),
    'pipeline': dict(images=512, batch=32, workers=2, repeats=3, rounds=2),
    'train_r50': dict(batch=32, size=224, warmup=1, repeats=2, iters=1, rounds=2),
    'infer_r50': dict(batch=32, size=224, warmup=2, repeats=3, iters=2, onnx=1, rounds=2),
    'infer_batching': dict(n=32, models='digits,resnet50', repeats=3),
    'time_to_acc': dict(target=97.0, max_epochs=10, val_fraction=0.2, eval_fraction=0.2),
}
QUICK = {
    'train_digits': dict(epochs=1, batch=32, val_fraction=0.95, eval_fraction=0.05),
    'pipeline': dict(images=64, batch=16, repeats=2, rounds=1),
    'train_r50': dict(batch=4, size=64, warmup=1, repeats=2, rounds=1),
    'infer_r50': dict(batch=4, size=64, warmup=1, repeats=2, iters=1, onnx=0, rounds=1),
    'infer_batching': dict(n=16, models='digits', repeats=2),
    'time_to_acc': dict(max_epochs=1, val_fraction=0.95, eval_fraction=0.05),
}
ORDER = list(DEFAULTS)


def params_for(name: str, quick: bool, overrides: dict) -> dict:
    """The sizes of workload ``name``: defaults, quick values, then the command line's overrides."""
    params = dict(DEFAULTS[name])
    if quick:
        params.update(QUICK[name])
    for key, value in overrides.items():
        if key in params:
            params[key] = type(params[key])(value)
    return params


def _splits(p: dict) -> dict:
    """imgcls config overrides giving the digits training and evaluation splits of ``p``."""
    return {'train': {'val_fraction': p['val_fraction']}, 'val': {'val_fraction': p['eval_fraction']},
            'test': {'val_fraction': p['eval_fraction']}}


def train_digits(p: dict, ctx: dict) -> Workload:
    e, b, data = p['epochs'], p['batch'], ctx['npz'](p['val_fraction'], p['eval_fraction'])
    overrides = {'data': dict(_splits(p), samples_per_gpu=b),
                 'runner': {'max_epochs': e},
                 'lr_config': {'policy': 'CosineAnnealing', 'min_lr': 0.0, 'by_epoch': False, 'warmup': None},
                 'checkpoint_config': {'interval': -1, 'save_last': False}, 'evaluation': {'save_best': None},
                 'custom_hooks': []}  # every epoch is run: the config's StopAtTargetHook would end it at 97%
    common = ['digits', '--data', data, '--epochs', str(e), '--batch', str(b)]
    plain = [*common, '--nesterov', '--pad', '2']
    recipe = 'SGD lr 0.1 (Nesterov momentum 0.9, wd 5e-4), cosine per iteration, RandomCrop(32, pad 2)'
    return Workload(
        'train_digits', f'(1) ResNet-18-CIFAR training on the digits (1x32x32), batch {b}, {e} epochs', 'train',
        'plain_fp32', [
            Contender('imgcls', 'imgcls, default settings, 1 loader worker', 'main', IMGCLS,
                      ['digits', '--config', DIGITS_CONFIG, '--overrides', json.dumps(overrides)], AUTO),
            Contender('plain_fp32', 'plain PyTorch loop, fp32 eager', 'main', PLAIN, [*plain, '--amp', 'fp32'],
                      'fp32, NCHW, in-memory tensors'),
            Contender('plain_best', 'plain PyTorch loop, hand-tuned', 'main', PLAIN,
                      [*plain, '--amp', 'native', '--channels-last'], f'{NATIVE}, in-memory'),
            Contender('mmpretrain', 'mmpretrain 1.2 (mmengine Runner)', 'mmpretrain', MMPRE,
                      ['--data', data, '--epochs', str(e), '--batch', str(b), '--recipe', 'bench', '--workers', '1'],
                      'fp32 (its default), 1 loader worker'),
        ], p, f'Same recipe for all: {recipe}; top-1 on the held-out digits (360 unless --quick) after the last epoch.')


def pipeline(p: dict, ctx: dict) -> Workload:
    args = ['pipeline', '--root', ctx['jpeg_root'], '--batch', str(p['batch']), '--workers', str(p['workers']),
            '--repeats', str(p['repeats'])]
    return Workload(
        'pipeline', f'(2) JPEG train pipeline at 224 px, {p["workers"]} workers, batch {p["batch"]} (no model)',
        'rate', 'torchvision', [
            Contender('imgcls', 'imgcls loader (LoadImageFromFile, RandomResizedCrop, RandomFlip)', 'main', IMGCLS,
                      [*args, '--loader', 'imgcls'], 'uint8 batches, normalized to float in the main process'),
            Contender('torchvision', 'torchvision ImageFolder + transforms.v2', 'main', IMGCLS,
                      [*args, '--loader', 'torchvision'], 'PIL decode, float normalize in the workers'),
        ], p, f'{p["images"]} JPEGs (about 500x375, from scikit-learn\'s sample photos); median of '
              f'{p["repeats"]} epochs after a warm-up epoch (benchmarks/pipeline.py).')


def _r50_args(task: str, p: dict) -> list[str]:
    return [task, '--batch', str(p['batch']), '--size', str(p['size']), '--warmup', str(p['warmup']),
            '--repeats', str(p['repeats']), '--iters', str(p['iters'])]


def train_r50(p: dict, ctx: dict) -> Workload:
    a = _r50_args('train-step', p)
    return Workload(
        'train_r50', f'(3) ResNet-50 training step at {p["size"]} px, batch {p["batch"]}, synthetic in-memory data',
        'rate', 'plain_fp32', [
            Contender('imgcls', 'imgcls, default settings (imgcls benchmark)', 'main', IMGCLS, a, 'auto'),
            Contender('plain_fp32', 'plain PyTorch loop, fp32 eager', 'main', PLAIN, [*a, '--amp', 'fp32'],
                      'fp32, NCHW'),
            Contender('plain_best', 'plain PyTorch loop, hand-tuned', 'main', PLAIN,
                      [*a, '--amp', 'native', '--channels-last'], NATIVE),
            Contender('timm_fp32', 'timm resnet50, plain loop', 'timm', PLAIN, [*a, '--arch', 'timm', '--amp', 'fp32'],
                      'fp32, NCHW'),
            Contender('timm_best', 'timm resnet50, plain loop, hand-tuned', 'timm', PLAIN,
                      [*a, '--arch', 'timm', '--amp', 'native', '--channels-last'], NATIVE),
        ], p, 'uint8 batch normalized in every step; SGD momentum 0.9; images/s median of the timed repetitions.')


def infer_r50(p: dict, ctx: dict) -> Workload:
    a = _r50_args('infer', p)
    contenders = [
        Contender('imgcls_default', 'imgcls, default CPU inference', 'main', IMGCLS, a, 'auto', vs='timm_bf16_cl'),
        Contender('timm_bf16_cl', 'timm resnet50', 'timm', PLAIN,
                  [*a, '--arch', 'timm', '--amp', 'bf16', '--channels-last'], 'bf16 autocast + channels_last'),
        Contender('imgcls_fp32', 'imgcls, fp32', 'main', IMGCLS, [*a, '--amp', 'fp32'], 'fp32 + channels_last',
                  vs='timm_fp32_cl'),
        Contender('timm_fp32_cl', 'timm resnet50', 'timm', PLAIN, [*a, '--arch', 'timm', '--amp', 'fp32',
                                                                   '--channels-last'], 'fp32 + channels_last'),
    ]
    if p.get('onnx'):
        contenders.append(Contender('onnxruntime', 'ONNX Runtime, model from imgcls export_model', 'main', IMGCLS,
                                    ['ort', *a[1:]], 'fp32'))
    return Workload('infer_r50', f'(4) ResNet-50 inference at {p["size"]} px, batch {p["batch"]}', 'rate',
                    'timm_fp32_cl', contenders, p,
                    'uint8 batch in, class scores (softmax) out; ratios are against timm with the same precision '
                    'and memory format.')


def infer_batching(p: dict, ctx: dict) -> Workload:
    contenders = [Contender(m, {'digits': 'digits ResNet-18 (1x32x32)', 'resnet50': 'ImageNet ResNet-50 (224 px)'}[m],
                            'main', IMGCLS, ['batching', '--model', m, '--n', str(p['n']), '--batch', str(p['n']),
                                             '--repeats', str(p['repeats'])], 'auto')
                  for m in p['models'].split(',')]
    return Workload('infer_batching', f'(4b) inference_model on a list of {p["n"]} images vs one call per image',
                    'batching', contenders[0].name, contenders, p,
                    'In-memory uint8 arrays through the test pipeline (benchmarks/inference_batching.py).')


def time_to_acc(p: dict, ctx: dict) -> Workload:
    n, t, data = p['max_epochs'], p['target'], ctx['npz'](p['val_fraction'], p['eval_fraction'])
    ovr = {'runner': {'max_epochs': n}, 'data': _splits(p)}
    plain = ['digits', '--data', data, '--epochs', str(n), '--batch', '128', '--pad', '0', '--target', str(t)]
    plain_recipe = (f'the 50-line recipe: batch 128, SGD lr 0.1 momentum 0.9 wd 5e-4, cosine over {n} epochs, '
                    'no augmentation')
    steps = [max(1, round(n * 100 / 200)), max(1, round(n * 150 / 200))]  # as peers/mmpretrain_train.py fits them
    return Workload(
        'time_to_acc', f'(5) Time to {t:g}% top-1 on the digits, each tool\'s default recipe (cap {n} epochs)', 'tta',
        'plain', [
            Contender('imgcls', 'imgcls', 'main', IMGCLS, ['digits', '--config', DIGITS_CONFIG, '--target', str(t),
                                                           '--overrides', json.dumps(ovr)],
                      f'{DIGITS_CONFIG} unchanged: batch 64, SGD lr 0.1 Nesterov, cosine + 1-epoch warm-up, '
                      'checkpoint every epoch; {chosen}'),
            Contender('plain', 'plain PyTorch loop', 'main', PLAIN, plain,
                      f'{plain_recipe}, fp32'),
            Contender('plain_best', 'plain PyTorch loop, hand-tuned', 'main', PLAIN,
                      [*plain, '--amp', 'native', '--channels-last'], f'{plain_recipe}, {NATIVE}'),
            Contender('mmpretrain', 'mmpretrain 1.2', 'mmpretrain', MMPRE,
                      ['--data', data, '--epochs', str(n), '--batch', '128', '--recipe', 'fitted',
                       '--workers', '2', '--checkpoints', '--target', str(t)],
                      f'cifar10_bs128 recipe, its steps moved to fit {n} epochs: SGD lr 0.1 momentum 0.9 wd 1e-4, '
                      f'x0.1 at epochs {steps[0]} and {steps[1]} (200-epoch schedule: 100 and 150); RandomCrop pad 4; '
                      'checkpoint every epoch, fp32'),
        ], p, 'Wall seconds from the start of the first epoch to the end of the first evaluation at or above the '
              'target (evaluation after every epoch; evaluation and checkpoint time included).')


BUILDERS = {'train_digits': train_digits, 'pipeline': pipeline, 'train_r50': train_r50, 'infer_r50': infer_r50,
            'infer_batching': infer_batching, 'time_to_acc': time_to_acc}
