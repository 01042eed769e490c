"""Write an ImageNet-style JPEG folder (``ROOT/<class>/<n>.jpg``, ~500x375) for the GPU loader benchmarks.

The images are smooth random colour fields with grain, so they compress and decode like photographs
(tens of kB each) rather than like noise or flat colour.
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image


def _write(job: tuple[str, int, int]) -> int:
    root, cls, count = job
    rng = np.random.default_rng(cls)
    folder = Path(root) / f'class_{cls:04d}'
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for i in range(count):
        w, h = (500, 375) if rng.random() < 0.7 else (375, 500)
        coarse = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((w, h), Image.BICUBIC)
        grain = rng.normal(0, 12, (h, w, 3))
        img = np.clip(np.asarray(coarse, dtype=np.float32) + grain, 0, 255).astype(np.uint8)
        path = folder / f'{i:05d}.jpg'
        Image.fromarray(img).save(path, quality=90)
        total += path.stat().st_size
    return total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('root')
    p.add_argument('--images', type=int, default=10240)
    p.add_argument('--classes', type=int, default=100)
    args = p.parse_args()
    per_class = -(-args.images // args.classes)
    jobs = [(args.root, c, per_class) for c in range(args.classes)]
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        size = sum(pool.map(_write, jobs))
    n = per_class * args.classes
    print(f'{n} JPEGs in {args.classes} classes under {args.root}, {size / n / 1024:.0f} kB each on average')


if __name__ == '__main__':
    main()
