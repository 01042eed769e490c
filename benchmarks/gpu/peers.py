"""The contenders imgcls is measured against on a GPU: a hand-tuned plain PyTorch loop and timm.

No imgcls here. Each call runs one task and prints one JSON line (``RESULT {...}``). Tasks:

    synth   training steps on a synthetic uint8 batch in pinned host memory, copied to the GPU each step
            as a loader's batch would be; images/s
    jpeg    training from an ImageNet-style JPEG folder, each contender with its own loader; images/s,
            loader wait share, GPU utilisation
    infer   forward passes in eval mode (softmax) on a synthetic batch; images/s

``--lib plain`` is torchvision's model in a hand-written loop: bf16 autocast, channels_last, fused SGD
(AdamW for ViT), normalisation on the GPU, no host sync per step. ``--lib timm`` is timm's model and
optimizer factory with the settings of timm's ``train.py --amp --amp-dtype bfloat16 --channels-last``
(nesterov SGD, no weight decay on biases and norms) in the same loop, and for ``jpeg`` timm's own loader
(``create_dataset`` / ``create_loader`` with its GPU prefetcher). The loop has no per-step ``loss.item()``,
which timm's ``train.py`` does: this makes timm's row a little faster than its script would be.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import torch
import torch.nn.functional as F

# the GPU, or the CPU for a dry run of the script on a machine without one
DEV = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
MEAN = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
STD = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)


def build_model(lib: str, arch: str, num_classes: int) -> torch.nn.Module:
    if lib == 'timm':
        import timm
        return timm.create_model({'resnet50': 'resnet50', 'vit_b16': 'vit_base_patch16_224'}[arch],
                                 num_classes=num_classes)
    import torchvision
    return {'resnet50': torchvision.models.resnet50,
            'vit_b16': torchvision.models.vit_b_16}[arch](num_classes=num_classes)


def build_optimizer(lib: str, arch: str, model: torch.nn.Module) -> torch.optim.Optimizer:
    vit = arch.startswith('vit')
    if lib == 'timm':
        from timm.optim import create_optimizer_v2
        return create_optimizer_v2(model, 'adamw' if vit else 'sgd', lr=1e-3 if vit else 0.1,
                                   weight_decay=0.05 if vit else 1e-4, momentum=0.9)
    if vit:
        return torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05, fused=True)
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4, fused=True)


class GpuBusy:
    """Samples GPU utilisation (NVML) in a thread while a region runs; mean percent, or None without NVML."""

    def __init__(self):
        self.samples: list[int] = []
        self._stop = False
        try:
            import pynvml
            pynvml.nvmlInit()
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(torch.cuda.current_device())
            self._nvml = pynvml
        except Exception:  # noqa: BLE001 - utilisation is a nice-to-have
            self._nvml = None

    def __enter__(self):
        import threading
        if self._nvml is not None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self):
        while not self._stop:
            self.samples.append(self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu)
            time.sleep(0.1)

    def __exit__(self, *exc):
        self._stop = True

    @property
    def mean(self) -> float | None:
        return statistics.mean(self.samples) if self.samples else None


def make_train_step(model, optimizer, channels_last: bool):
    mean, std = MEAN.to(DEV), STD.to(DEV)

    def step(x_uint8: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = (x_uint8.float() - mean) / std
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(DEV.type, dtype=torch.bfloat16):
            loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss
    return step


def pinned(t: torch.Tensor) -> torch.Tensor:
    """Page-locked host memory, as a loader with ``pin_memory=True`` hands batches over."""
    return t.pin_memory() if DEV.type == 'cuda' else t


def sync() -> None:
    if DEV.type == 'cuda':
        torch.cuda.synchronize()


def timed(fn, iters: int, warmup: int, repeats: int) -> list[float]:
    """Seconds for ``iters`` calls of ``fn``, ``repeats`` times, after ``warmup`` calls (synchronised)."""
    for _ in range(warmup):
        fn()
    sync()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iters):
            fn()
        sync()
        out.append(time.perf_counter() - start)
    return out


def synth(args) -> dict:
    model = build_model(args.lib, args.arch, 1000).to(DEV).train()
    cl = args.arch == 'resnet50'
    if cl:
        model = model.to(memory_format=torch.channels_last)
    opt = build_optimizer(args.lib, args.arch, model)
    step = make_train_step(model, opt, cl)
    gen = torch.Generator().manual_seed(0)
    x_host = pinned(torch.randint(0, 256, (args.batch, 3, 224, 224), generator=gen, dtype=torch.uint8))
    y_host = pinned(torch.randint(0, 1000, (args.batch,), generator=gen))
    if DEV.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    times = timed(lambda: step(x_host.to(DEV, non_blocking=True), y_host.to(DEV, non_blocking=True)),
                  args.iters, args.warmup, args.repeats)
    rates = [args.batch * args.iters / t for t in times]
    return dict(img_per_s=statistics.median(rates), spread=[min(rates), max(rates)],
                peak_memory_gb=torch.cuda.max_memory_allocated() / 2 ** 30 if DEV.type == 'cuda' else None)


def infer(args) -> dict:
    model = build_model(args.lib, args.arch, 1000).to(DEV).eval().to(memory_format=torch.channels_last)
    mean, std = MEAN.to(DEV), STD.to(DEV)
    x_host = pinned(torch.randint(0, 256, (args.batch, 3, 224, 224), dtype=torch.uint8))

    def fwd():
        with torch.inference_mode(), torch.autocast(DEV.type, dtype=torch.bfloat16):
            x = ((x_host.to(DEV, non_blocking=True).float() - mean) / std).contiguous(memory_format=torch.channels_last)
            return model(x).softmax(1)
    rates = [args.batch * args.iters / t for t in timed(fwd, args.iters, args.warmup, args.repeats)]
    return dict(img_per_s=statistics.median(rates), spread=[min(rates), max(rates)])


def plain_loader(root: str, batch: int, workers: int):
    import torchvision
    from torchvision.transforms import v2
    tf = v2.Compose([v2.PILToTensor(), v2.RandomResizedCrop(224, antialias=True), v2.RandomHorizontalFlip()])
    ds = torchvision.datasets.ImageFolder(root, transform=tf)
    return torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers, pin_memory=True,
                                       drop_last=True, persistent_workers=True, prefetch_factor=4)


def timm_loader(root: str, batch: int, workers: int):
    from timm.data import create_dataset, create_loader
    ds = create_dataset('', root=root, is_training=True)
    # the prefetcher normalises on the GPU and hands over float batches already on the device
    cpu = {} if DEV.type == 'cuda' else dict(use_prefetcher=False, device=DEV)  # a dry run without a GPU
    return create_loader(ds, input_size=(3, 224, 224), batch_size=batch, is_training=True, **cpu,
                         num_workers=workers, pin_memory=DEV.type == 'cuda', persistent_workers=True, no_aug=False,
                         scale=(0.08, 1.0), hflip=0.5, vflip=0.0, color_jitter=None, re_prob=0.0)


def jpeg(args) -> dict:
    model = build_model(args.lib, 'resnet50', args.classes).to(DEV).train().to(memory_format=torch.channels_last)
    opt = build_optimizer(args.lib, 'resnet50', model)
    if args.lib == 'timm':
        loader = timm_loader(args.data, args.batch, args.workers)

        def step(x, y):  # the prefetcher's x is normalised float on the GPU already
            x, y = x.to(DEV), y.to(DEV)
            with torch.autocast(DEV.type, dtype=torch.bfloat16):
                loss = F.cross_entropy(model(x.contiguous(memory_format=torch.channels_last)), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    else:
        loader = plain_loader(args.data, args.batch, args.workers)
        train_step = make_train_step(model, opt, True)

        def step(x, y):
            train_step(x.to(DEV, non_blocking=True), y.to(DEV, non_blocking=True))
    wait, done, start = 0.0, 0, None
    with GpuBusy() as busy:
        epochs = math.ceil((args.warmup + args.iters) / len(loader))
        it = (batch for _ in range(epochs) for batch in loader)
        for i in range(args.warmup + args.iters):
            if i == args.warmup:
                sync()
                start, wait, busy.samples = time.perf_counter(), 0.0, []
            t0 = time.perf_counter()
            x, y = next(it)
            wait += time.perf_counter() - t0
            step(x, y)
            done += args.batch if start is not None else 0
        sync()
        elapsed = time.perf_counter() - start
    return dict(img_per_s=done / elapsed, loader_wait_share=wait / elapsed, gpu_util=busy.mean)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('task', choices=('synth', 'jpeg', 'infer'))
    p.add_argument('--lib', choices=('plain', 'timm'), required=True)
    p.add_argument('--arch', choices=('resnet50', 'vit_b16'), default='resnet50')
    p.add_argument('--batch', type=int, default=256)
    p.add_argument('--iters', type=int, default=20)
    p.add_argument('--warmup', type=int, default=10)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--data', help='ImageFolder root for the jpeg task')
    p.add_argument('--classes', type=int, default=100)
    p.add_argument('--workers', type=int, default=12)
    args = p.parse_args()
    torch.backends.cudnn.benchmark = True  # as timm's train.py and imgcls on CUDA do
    result = {'synth': synth, 'jpeg': jpeg, 'infer': infer}[args.task](args)
    print('RESULT ' + json.dumps(dict(lib=args.lib, task=args.task, arch=args.arch, batch=args.batch, **result)))


if __name__ == '__main__':
    main()
