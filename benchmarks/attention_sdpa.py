"""Fused ``torch.nn.functional.scaled_dot_product_attention`` against the explicit ``softmax(q @ k^T) @ v``.

Times the attention core alone (forward, and forward + backward) at the shapes imgcls's transformers run:
ViT-B/16 at 224 px (12 heads x 197 tokens x 64), Swin-T's first stage (7x7 windows, 3 heads x 49 x 32, with
the relative-position bias and shift mask as an additive bias) and Twins-PCPVT-S's first stage (1 head,
3136 queries against 49 sub-sampled keys). Prints the median milliseconds per call and the speed-up.

With ``--models`` it also times whole backbones (ViT-S/16, Swin-T, Twins-SVT-S at 224 px, inference) with
every attention call fused or explicit.

    .venv/bin/python benchmarks/attention_sdpa.py
    .venv/bin/python benchmarks/attention_sdpa.py --models --batch 8
    .venv/bin/python benchmarks/attention_sdpa.py --device cuda --dtype bf16 --reps 50
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from imgcls.models.utils.attention import scaled_dot_product_attention

# name: (batch, heads, queries, keys, head dims, with an additive bias)
SHAPES = {
    'ViT-B/16 global (8 images)': (8, 12, 197, 197, 64, False),
    'Swin-T stage 1 windows (8 images)': (8 * 64, 3, 49, 49, 32, True),
    'Twins-PCPVT-S stage 1 (8 images)': (8, 1, 3136, 49, 64, False),
}


def _time(fn, reps: int, device: torch.device) -> float:
    """Median milliseconds of ``fn()`` over ``reps`` runs after 3 warm-up runs."""
    times = []
    for i in range(reps + 3):
        if device.type == 'cuda':
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == 'cuda':
            torch.cuda.synchronize()
        if i >= 3:
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def bench(shape, fused: bool, backward: bool, reps: int, device: torch.device, dtype: torch.dtype) -> float:
    B, H, N, M, D, with_bias = shape
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(B, H, n, D, generator=gen).to(device, dtype).requires_grad_(backward)
               for n in (N, M, M))
    bias = torch.randn(1, H, N, M, generator=gen).to(device, dtype) if with_bias else None

    def step():
        out = scaled_dot_product_attention(q, k, v, bias, fused=fused)
        if backward:
            out.sum().backward()

    with torch.set_grad_enabled(backward):
        return _time(step, reps, device)


MODELS = {
    'ViT-S/16': dict(type='VisionTransformer', arch='deit-small'),
    'Swin-T': dict(type='SwinTransformer', arch='tiny'),
    'Twins-SVT-S': dict(type='SVT', arch='small', qkv_bias=True),
}


def bench_model(cfg: dict, fused: bool, batch: int, reps: int, device: torch.device, dtype: torch.dtype) -> float:
    """Median ms of one inference forward of the backbone ``cfg`` with the attention fused or explicit."""
    from imgcls.models.builder import build_backbone
    from imgcls.models.utils import attention
    plain = attention.scaled_dot_product_attention
    users = [m for name, m in sys.modules.items()
             if name.startswith('imgcls.') and getattr(m, 'scaled_dot_product_attention', None) is plain]
    model = build_backbone(cfg).to(device, dtype).eval()
    x = torch.randn(batch, 3, 224, 224).to(device, dtype)
    for module in users:
        module.scaled_dot_product_attention = lambda *a, **k: plain(*a, **{**k, 'fused': fused})
    try:
        with torch.no_grad():
            return _time(lambda: model(x), reps, device)
    finally:
        for module in users:
            module.scaled_dot_product_attention = plain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--dtype', default='fp32', choices=['fp32', 'bf16'])
    parser.add_argument('--reps', type=int, default=20)
    parser.add_argument('--threads', type=int, default=None, help='torch threads on the CPU (default: torch\'s)')
    parser.add_argument('--models', action='store_true', help='also time whole backbones')
    parser.add_argument('--batch', type=int, default=8, help='images per forward with --models')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device, dtype = torch.device(args.device), {'fp32': torch.float32, 'bf16': torch.bfloat16}[args.dtype]
    print(f'torch {torch.__version__}, {device}, {args.dtype}, {torch.get_num_threads()} threads, '
          f'median of {args.reps}')
    print(f'{"shape":36s} {"pass":>8s} {"explicit ms":>12s} {"SDPA ms":>9s} {"speed-up":>9s}')
    for name, shape in SHAPES.items():
        for backward in (False, True):
            explicit = bench(shape, False, backward, args.reps, device, dtype)
            fused = bench(shape, True, backward, args.reps, device, dtype)
            print(f'{name:36s} {"fwd+bwd" if backward else "fwd":>8s} {explicit:12.2f} {fused:9.2f} '
                  f'{explicit / fused:8.2f}x')
    if args.models:
        import imgcls.models  # noqa: F401  (registers the backbones)
        for name, cfg in MODELS.items():
            explicit = bench_model(cfg, False, args.batch, args.reps, device, dtype)
            fused = bench_model(cfg, True, args.batch, args.reps, device, dtype)
            label = f'{name} backbone ({args.batch} images)'
            print(f'{label:36s} {"fwd":>8s} {explicit:12.2f} {fused:9.2f} {explicit / fused:8.2f}x')


if __name__ == '__main__':
    main()
