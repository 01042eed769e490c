"""Parameters and MACs of a model, per module and in total, counted by torch's FlopCounterMode.

Convention: MACs are multiply-accumulates of convolutions, linear layers and matrix products
(torch counts 2 FLOPs per MAC; we halve). Normalisation, activations, pooling and additions are not
counted — the convention torchvision and most papers use (ResNet-50 at 224x224: 4.09 G MACs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode


@dataclass
class Complexity:
    params: int
    macs: int
    input_shape: tuple[int, ...]
    per_module: list[tuple[str, int, int]] = field(default_factory=list)  # (name, params, macs)

    def table(self, max_depth: int = 2) -> str:
        """A printable table: module, params, MACs, down to ``max_depth`` levels."""
        rows = [(n, p, m) for n, p, m in self.per_module if n.count('.') < max_depth]
        width = max([len(n) for n, _, _ in rows] + [6])
        lines = [f'{"module":<{width}}  {"params":>12}  {"MACs":>12}']
        for name, p, m in rows:
            lines.append(f'{name:<{width}}  {format_count(p):>12}  {format_count(m):>12}')
        lines.append(f'{"total":<{width}}  {format_count(self.params):>12}  {format_count(self.macs):>12}')
        lines.append(f'input shape {self.input_shape}; MACs = multiply-accumulates of conv/linear/matmul')
        return '\n'.join(lines)


def format_count(n: float) -> str:
    for unit, scale in (('G', 1e9), ('M', 1e6), ('K', 1e3)):
        if abs(n) >= scale:
            return f'{n / scale:.3f}{unit}'
    return str(int(n))


class _Logits(nn.Module):
    """Images → logits without the loss or softmax (the part that runs in deployment)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        if hasattr(self.model, 'extract_feat'):
            feats = self.model.extract_feat(x)
            head = getattr(self.model, 'head', None)
            return head(feats) if head is not None else feats
        return self.model(x)


@torch.no_grad()
def get_complexity(model: nn.Module, input_shape: tuple[int, ...] = (3, 224, 224)) -> Complexity:
    """Count params and MACs of ``model`` for one image of ``input_shape`` (C, H, W)."""
    was_training = model.training
    model.eval()
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device('cpu')
    x = torch.zeros((1, *input_shape), device=device)
    counter = FlopCounterMode(display=False, depth=None)
    with counter:
        _Logits(model)(x)
    model.train(was_training)
    flops = counter.get_flop_counts()
    root = '_Logits.model'
    per_module = []
    for name, module in model.named_modules():
        if not name:
            continue
        key = f'{root}.{name}'
        macs = sum(flops.get(key, {}).values()) // 2
        per_module.append((name, sum(p.numel() for p in module.parameters()), int(macs)))
    total_macs = sum(flops.get('Global', {}).values()) // 2
    return Complexity(params=sum(p.numel() for p in model.parameters()), macs=int(total_macs),
                      input_shape=tuple(input_shape), per_module=per_module)
