"""Training-time data pipeline speed: imgcls's loader vs torchvision ImageFolder + transforms.v2.

Both decode JPEGs, RandomResizedCrop to 224, flip, collate and normalize to float, with the
same number of workers and batch size, on the same temporary JPEG folder (generated from
scikit-learn's two sample photos: random crops resized to about 500x375, like ImageNet's).
Also compares JPEG decoders for this step, and measures the share of a ResNet-18 training
step (bf16 autocast + channels_last on CPU) spent waiting for data.

    .venv/bin/python benchmarks/pipeline.py            # all three parts
    .venv/bin/python benchmarks/pipeline.py --skip-train --reps 7
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


# -- the data ------------------------------------------------------------------------------------

def make_jpegs(root: Path, n: int, seed: int = 0, classes: int = 4) -> list[Path]:
    """``n`` JPEGs (quality 90) of random crops of the sklearn sample photos, about 500x375, in class folders."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images  # two 427x640 RGB photos
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        src = photos[i % len(photos)]
        h, w = src.shape[:2]
        ch, cw = int(rng.integers(200, h + 1)), int(rng.integers(260, w + 1))
        top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        size = (500, 375) if rng.random() < 0.7 else (375, 500)  # landscape and portrait
        size = tuple(int(s * rng.uniform(0.85, 1.15)) for s in size)
        img = Image.fromarray(src[top:top + ch, left:left + cw]).resize(size, Image.BILINEAR)
        path = root / f'class{i % classes}' / f'img{i:04d}.jpg'
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path, quality=90)
        paths.append(path)
    return paths


# -- decoders (one process) ----------------------------------------------------------------------

def decoder_costs(paths: list[Path], reps: int = 3) -> tuple[dict[str, float], float]:
    """CPU ms per image to read, decode and RandomResizedCrop(224) with each decoder (best of ``reps``),
    and the fraction of crops large enough for draft() to decode at a reduced scale."""
    from PIL import Image

    from imgcls.data.pipelines import RandomResizedCrop, decode_image_bytes, read_image_file
    from imgcls.data.pipelines.transforms import resize_img

    rrc = RandomResizedCrop(224)

    def crop(img: torch.Tensor) -> torch.Tensor:
        top, left, ch, cw = rrc.get_params(img.shape[-2], img.shape[-1])
        return resize_img(img[:, top:top + ch, left:left + cw], (224, 224), 'bilinear')

    def tv(path):  # imgcls's LoadImageFromFile: torchvision.io.decode_jpeg (libjpeg-turbo)
        return crop(decode_image_bytes(read_image_file(str(path))))

    def pil(path):
        with Image.open(path) as im:
            arr = np.array(im.convert('RGB'))
        return crop(torch.from_numpy(arr).permute(2, 0, 1))

    def pil_draft(path):  # decode at 1/2, 1/4 or 1/8 scale when the crop is that much larger than 224
        with Image.open(path) as im:
            w, h = im.size
            top, left, ch, cw = rrc.get_params(h, w)
            scale = next((s for s in (8, 4, 2) if ch / s >= 224 and cw / s >= 224), 1)
            reduced.append(scale > 1)
            if scale > 1:
                im.draft('RGB', (math.ceil(w / scale), math.ceil(h / scale)))
            f = w / im.size[0]
            arr = np.array(im.convert('RGB'))
        t = torch.from_numpy(arr).permute(2, 0, 1)
        t = t[:, round(top / f):round((top + ch) / f), round(left / f):round((left + cw) / f)]
        return resize_img(t, (224, 224), 'bilinear')

    out, reduced = {}, []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a loader worker
    for name, fn in (('torchvision.io.decode_jpeg', tv), ('PIL', pil), ('PIL + draft()', pil_draft)):
        best = math.inf
        for _ in range(reps):
            torch.manual_seed(0)
            start = time.process_time()  # CPU time: other load on the machine does not count
            for p in paths:
                fn(p)
            best = min(best, time.process_time() - start)
        out[name] = 1e3 * best / len(paths)
    torch.set_num_threads(threads)
    return out, sum(reduced) / max(len(reduced), 1)


# -- loaders -------------------------------------------------------------------------------------

def imgcls_loader(root: Path, batch: int, workers: int):
    from imgcls.data import CustomDataset, build_dataloader

    pipeline = [dict(type='LoadImageFromFile'), dict(type='RandomResizedCrop', size=224),
                dict(type='RandomFlip', flip_prob=0.5), dict(type='ToTensor', keys=['gt_label']),
                dict(type='Collect', keys=['img', 'gt_label'])]
    dataset = CustomDataset(str(root), pipeline=pipeline)
    loader = build_dataloader(dataset, batch, workers, seed=0)
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)

    def to_float(b):  # what the model's data preprocessor does (here on the CPU), without temporaries
        return b['img'].float().sub_(mean).div_(std), b['gt_label']
    return loader, to_float


def torchvision_loader(root: Path, batch: int, workers: int):
    from torch.utils.data import DataLoader
    from torchvision import datasets
    from torchvision.transforms import v2

    transform = v2.Compose([v2.RandomResizedCrop(224, antialias=True), v2.RandomHorizontalFlip(),
                            v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True),
                            v2.Normalize([m / 255 for m in MEAN], [s / 255 for s in STD])])
    dataset = datasets.ImageFolder(str(root), transform=transform)
    loader = DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers, persistent_workers=workers > 0,
                        generator=torch.Generator().manual_seed(0))
    return loader, lambda b: b


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (Linux /proc; 0 elsewhere)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
        except OSError:
            return 0.0
        total += (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')  # utime, stime
    return total


def epoch_rate(loader, to_float) -> tuple[float, float]:
    """Images per second over one epoch (normalized float batches included), and CPU ms per image
    of the main process and the workers together (robust to other load on the machine)."""
    n, start = 0, time.perf_counter()
    it = iter(loader)
    workers = getattr(getattr(loader, '_iterator', None), '_workers', [])
    pids = [os.getpid()] + [w.pid for w in workers]
    cpu0 = _cpu_seconds(pids)
    for b in it:
        img, _ = to_float(b)
        n += img.shape[0]
    wall = time.perf_counter() - start
    return n / wall, 1e3 * (_cpu_seconds(pids) - cpu0) / n


def compare_loaders(root: Path, batch: int, workers: int, reps: int) -> dict:
    """Both loaders, warm, epochs interleaved; the main process normalizes imgcls's batches on one thread:
    the workers keep the machine's cores busy, and torchvision's main process has nothing to compute."""
    loaders = {'imgcls': imgcls_loader(root, batch, workers), 'torchvision': torchvision_loader(root, batch, workers)}
    for loader, to_float in loaders.values():  # warm-up: start workers, fill the page cache
        epoch_rate(loader, to_float)
    runs = {name: [] for name in loaders}
    for _ in range(reps):  # interleaved, so a busy moment on the machine hits both
        for name, (loader, to_float) in loaders.items():
            runs[name].append(epoch_rate(loader, to_float))
    return {name: (statistics.median(r for r, _ in rs), statistics.median(c for _, c in rs), rs)
            for name, rs in runs.items()}


# -- data wait in a training loop ----------------------------------------------------------------

def data_wait_share(root: Path, batch: int, workers: int, steps: int, warmup: int = 1) -> dict:
    """Time a ResNet-18 train step fed by the imgcls loader; the share spent in ``next(loader)``."""
    from imgcls.engine.precision import choose_speed_settings
    from imgcls.models.builder import build_classifier

    model = build_classifier(dict(
        type='ImageClassifier', backbone=dict(type='ResNet', depth=18), neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=4, in_channels=512),
        data_preprocessor=dict(mean=MEAN, std=STD, to_rgb=True, channels_last=True)))
    model = model.to(memory_format=torch.channels_last).train()
    speed = choose_speed_settings(torch.device('cpu'))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loader, _ = imgcls_loader(root, batch, workers)

    def batches():
        while True:
            yield from loader

    it = batches()
    waits, totals = [], []
    for i in range(warmup + steps):
        start = time.perf_counter()
        data = next(it)
        got = time.perf_counter()
        with speed.autocast():
            loss = model.train_step(data)['loss']
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i >= warmup:
            waits.append(got - start)
            totals.append(time.perf_counter() - start)
    # the same steps on one batch already in memory: what the workers' CPU use costs the step
    fixed = next(it)
    alone = []
    for _ in range(2):
        start = time.perf_counter()
        with speed.autocast():
            loss = model.train_step(fixed)['loss']
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        alone.append(time.perf_counter() - start)
    return dict(share=sum(waits) / sum(totals), step_s=statistics.median(totals), wait_s=statistics.median(waits),
                step_no_loader_s=statistics.median(alone), settings=speed.describe())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--images', type=int, default=512)
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--reps', type=int, default=5, help='timed epochs per loader, after one warm-up epoch')
    p.add_argument('--main-threads', type=int, default=1,
                   help='torch threads of the main process while comparing loaders (default 1)')
    p.add_argument('--train-steps', type=int, default=4, help='timed ResNet-18 steps (0 skips that part)')
    p.add_argument('--skip-train', action='store_true')
    args = p.parse_args(argv)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads; {args.images} JPEGs, batch {args.batch}, '
          f'{args.workers} workers')
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = make_jpegs(root, args.images)
        sizes = [p.stat().st_size for p in paths]
        print(f'dataset: {len(paths)} JPEGs, mean {np.mean(sizes) / 1024:.0f} KiB')

        costs, reduced = decoder_costs(paths[:128])
        print('\nread + decode + RandomResizedCrop(224), one process, CPU ms/image (best of 3):')
        for name, ms in costs.items():
            print(f'  {name:<28} {ms:6.2f}')
        print(f'  (draft() could decode at a reduced scale for {100 * reduced:.0f}% of the crops)')

        threads = torch.get_num_threads()
        torch.set_num_threads(args.main_threads)
        res = compare_loaders(root, args.batch, args.workers, args.reps)
        torch.set_num_threads(threads)
        print(f'\ntrain pipeline, median of {args.reps} epochs: images/s (wall clock) and CPU ms per image '
              f'(main process + workers; main process on {args.main_threads} thread(s)):')
        for name, (rate, cpu, runs) in res.items():
            each = ', '.join(f'{r:.0f}' for r, _ in runs)
            print(f'  {name:<12} {rate:7.1f} img/s  {cpu:6.2f} CPU ms/img   (epochs: {each})')
        (r1, c1, _), (r2, c2, _) = res['imgcls'], res['torchvision']
        print(f'  ratio imgcls / torchvision: {r1 / r2:.2f}x images/s, {c2 / c1:.2f}x less CPU per image')

        if args.train_steps and not args.skip_train:
            w = data_wait_share(root, args.batch, args.workers, args.train_steps)
            print(f'\nResNet-18 train step at 224 px, batch {args.batch} ({w["settings"]}):')
            print(f'  step {w["step_s"]:.2f} s (median), of which waiting for data {w["wait_s"] * 1e3:.1f} ms; '
                  f'data-wait share {100 * w["share"]:.1f}%')
            print(f'  the same step on a batch already in memory: {w["step_no_loader_s"]:.2f} s')
    return 0


if __name__ == '__main__':
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
