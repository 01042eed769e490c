"""Batched inference vs one call per image: ``inference_model(model, list_of_64)`` against 64 single calls.

Runs the digits main-job config (ResNet-18, CIFAR stem, 1x32x32) and a 224-px ImageNet ResNet-50 config,
both randomly initialised (speed does not depend on the weights), with the speed settings training would
use on the device (bf16 autocast / channels_last where supported). Inputs are in-memory uint8 arrays, so
the numbers are the pipeline + model, not JPEG decoding. Prints ms per image and the ratio.

    .venv/bin/python benchmarks/inference_batching.py
    .venv/bin/python benchmarks/inference_batching.py --n 64 --reps 3 --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    'digits ResNet-18 (1x32x32)': 'configs/resnet/resnet18_digits.py',
    'ImageNet ResNet-50 (3x224x224)': 'configs/resnet/resnet50_8xb32_in1k.py',
}


def digits_images(n: int) -> list[np.ndarray]:
    """``n`` of scikit-learn's 8x8 digits as (8, 8) uint8 arrays (the pipeline resizes them to 32x32)."""
    from sklearn.datasets import load_digits
    images = load_digits().images
    return [np.round(images[i % len(images)] * 255 / 16).astype(np.uint8) for i in range(n)]


def photo_crops(n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` random RGB crops (about 300x400) of scikit-learn's sample photos (resized to 256, cropped to 224)."""
    from sklearn.datasets import load_sample_images
    photos = load_sample_images().images
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        src = photos[i % len(photos)]
        top, left = int(rng.integers(0, src.shape[0] - 300)), int(rng.integers(0, src.shape[1] - 400))
        out.append(np.ascontiguousarray(src[top:top + 300, left:left + 400]))
    return out


def _time(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(config: str, images: list, reps: int, device: str, batch_size: int) -> tuple[float, float, str]:
    """(ms per image batched, ms per image one call each, speed settings) for ``images``."""
    import torch

    from imgcls.apis import inference_model, init_model
    model = init_model(str(ROOT / config), device=device)
    inference_model(model, images[:batch_size], batch_size=batch_size)  # warm-up: kernels, caches
    inference_model(model, images[0])
    sync = torch.cuda.synchronize if device.startswith('cuda') else (lambda: None)

    def batched():
        inference_model(model, images, batch_size=batch_size)
        sync()

    def single():
        for img in images:
            inference_model(model, img)
        sync()

    n = len(images)
    return (_time(batched, reps) / n * 1000, _time(single, reps) / n * 1000, model.speed_settings.describe())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--n', type=int, default=64, help='images per run (default 64)')
    parser.add_argument('--batch-size', type=int, default=64, help='inference_model batch_size (default 64)')
    parser.add_argument('--reps', type=int, default=3, help='timed repetitions, median reported (default 3)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--only', choices=['digits', 'resnet50'], help='run one of the two models')
    args = parser.parse_args(argv)
    import torch
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, '
          f'{args.n} images, batch_size {args.batch_size}, median of {args.reps}')
    for name, config in CONFIGS.items():
        if args.only and (args.only == 'digits') != name.startswith('digits'):
            continue
        images = digits_images(args.n) if name.startswith('digits') else photo_crops(args.n)
        per_batched, per_single, speed = measure(config, images, args.reps, args.device, args.batch_size)
        print(f'{name}: batched {per_batched:.2f} ms/img, single calls {per_single:.2f} ms/img, '
              f'ratio {per_single / per_batched:.1f}x  [{speed}]')
    return 0


if __name__ == '__main__':
    sys.exit(main())
