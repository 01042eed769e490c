"""The plain PyTorch loops a user writes by hand (and the same loops around timm's models).

No imgcls, no torchvision: run with any Python that has torch (and timm for ``--arch timm``), e.g. the
suite's timm virtual environment. Tasks:

    digits      train ResNet-18 (CIFAR stem) on the prepared digits; marks per epoch, top-1 after each epoch
    train-step  ResNet-50 training steps on a synthetic in-memory uint8 batch; images/s
    infer       ResNet-50 forward passes (eval, softmax) on a synthetic uint8 batch; images/s

``--amp fp32`` is eager fp32, ``--amp bf16`` bf16 autocast; ``--channels-last`` puts the model and the
inputs in channels_last memory format. ``--amp native`` is what a person tuning by hand picks for the CPU at
hand: bf16 autocast where the CPU has bf16 instructions (oneDNN's check), fp32 where bf16 would only be
emulated. ``--amp native --channels-last`` is the "best hand-tuned" loop.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time

import torch
import torch.nn.functional as F
from _child import Marks, load_digits_npz, profile_table, summarize_rates, time_calls, torch_info, write_result

DIGITS_MEAN, DIGITS_STD = 77.8, 96.5
IMAGENET_MEAN, IMAGENET_STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def build(arch: str, model: str, in_channels: int, num_classes: int) -> torch.nn.Module:
    if arch == 'timm':
        import timm
        name = {'resnet50': 'resnet50'}[model]
        return timm.create_model(name, num_classes=num_classes, in_chans=in_channels)
    import plain_resnet
    if model == 'resnet18_cifar':
        return plain_resnet.resnet18_cifar(num_classes, in_channels)
    return plain_resnet.resnet50(num_classes)


def native_bf16() -> bool:
    """True when oneDNN has bf16 kernels in hardware on this CPU (AVX512-BF16 or AMX), as imgcls checks."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def precision(args):
    return torch.autocast('cpu', dtype=torch.bfloat16) if args.amp == 'bf16' else contextlib.nullcontext()


def random_crop(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Zero-pad by ``pad`` and crop back at a random offset per image (uint8 in, uint8 out)."""
    if pad == 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    top, left = torch.randint(0, 2 * pad + 1, (n, 1)), torch.randint(0, 2 * pad + 1, (n, 1))
    rows, cols = top + torch.arange(h), left + torch.arange(w)
    return padded[torch.arange(n)[:, None, None], :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def evaluate(model, x: torch.Tensor, y: torch.Tensor, args) -> float:
    model.eval()
    with torch.inference_mode(), precision(args):
        xf = (x.float() - DIGITS_MEAN) / DIGITS_STD
        if args.channels_last:
            xf = xf.contiguous(memory_format=torch.channels_last)
        correct = (model(xf).argmax(1) == y).sum()
    return 100.0 * int(correct) / len(y)


def train_digits(args) -> dict:
    torch.manual_seed(args.seed)
    data = load_digits_npz(args.data, args.train_limit)
    x, y = torch.from_numpy(data['train_x']), torch.from_numpy(data['train_y'])
    vx, vy = torch.from_numpy(data['val_x']), torch.from_numpy(data['val_y'])
    model = build(args.arch, 'resnet18_cifar', x.shape[1], 10)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=args.wd, nesterov=args.nesterov)
    steps = args.epochs * math.ceil(len(x) / args.batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if args.schedule == 'cosine' else None
    marks = Marks(args.target)
    for _ in range(args.epochs):
        marks.epoch_start()
        model.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), args.batch):
            idx = perm[i:i + args.batch]
            xb = (random_crop(x[idx], args.pad).float() - DIGITS_MEAN) / DIGITS_STD
            if args.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with precision(args):
                loss = F.cross_entropy(model(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            marks.iter_end(len(idx))
        top1 = evaluate(model, vx, vy, args)
        print(f'epoch {len(marks.epochs)}: top-1 {top1:.2f}', flush=True)
        if marks.eval_end(top1):
            break
    return {'marks': marks.as_dict(), 'top1': marks.epochs[-1]['top1']}


def synthetic_step(args, train: bool):
    """A function running one training step (or one inference batch) of ``--model`` on a fixed uint8 batch."""
    torch.manual_seed(0)
    chans, classes = (1, 10) if args.model == 'resnet18_cifar' else (3, 1000)  # the digits model, or ImageNet's
    model = build(args.arch, args.model, chans, classes)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train(train)
    img = torch.randint(0, 256, (args.batch, chans, args.size, args.size), dtype=torch.uint8)
    labels = torch.randint(0, classes, (args.batch,))
    if chans == 1:
        mean, std = torch.tensor(DIGITS_MEAN), torch.tensor(DIGITS_STD)
    else:
        mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)

    def to_input():
        xb = (img.float() - mean) / std
        return xb.contiguous(memory_format=torch.channels_last) if args.channels_last else xb

    def train_step():
        with precision(args):
            loss = F.cross_entropy(model(to_input()), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def infer_step():
        with torch.inference_mode(), precision(args):
            model(to_input()).softmax(1)
    return train_step if train else infer_step


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('task', choices=['digits', 'train-step', 'infer'])
    p.add_argument('--result', required=True)
    p.add_argument('--arch', choices=['plain', 'timm'], default='plain')
    p.add_argument('--amp', choices=['fp32', 'bf16', 'native'], default='fp32')
    p.add_argument('--channels-last', action='store_true')
    p.add_argument('--data', help='digits .npz (digits)')
    p.add_argument('--epochs', type=int, default=5)
    p.add_argument('--batch', type=int, default=128)
    p.add_argument('--lr', type=float, default=0.1)
    p.add_argument('--wd', type=float, default=5e-4)
    p.add_argument('--nesterov', action='store_true')
    p.add_argument('--schedule', choices=['cosine', 'constant'], default='cosine')
    p.add_argument('--pad', type=int, default=2)
    p.add_argument('--target', type=float, help='stop once top-1 reaches this (percent)')
    p.add_argument('--train-limit', type=int, default=0)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--model', choices=['resnet50', 'resnet18_cifar'], default='resnet50',
                   help='train-step / infer model (resnet18_cifar: 1 channel, 10 classes, as the digits job)')
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--iters', type=int, default=2)
    p.add_argument('--profile', type=int, default=0, help='also profile this many steps (torch.profiler)')
    args = p.parse_args(argv)
    result = torch_info()
    if args.amp == 'native':
        args.amp = 'bf16' if native_bf16() else 'fp32'
        precision_text = ('bf16 autocast' if args.amp == 'bf16'
                          else 'fp32 (this CPU has no bf16 instructions: bf16 would be emulated)')
        result['settings'] = precision_text + (' + channels_last' if args.channels_last else ', NCHW')
    if args.task == 'digits':
        result.update(train_digits(args))
    else:
        step = synthetic_step(args, train=args.task == 'train-step')
        result.update(summarize_rates(time_calls(step, args.warmup, args.repeats, args.iters, args.batch)))
        if args.profile:
            result['profile'] = profile_table(step, args.profile)
    result['end'] = time.perf_counter()
    write_result(args.result, result)
    return 0


if __name__ == '__main__':
    sys.exit(main())
