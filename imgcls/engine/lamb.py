"""LAMB (You et al., "Large Batch Optimization for Deep Learning", 2019): Adam with a per-tensor trust ratio.

Registered as ``optimizer=dict(type='Lamb', ...)`` with the arguments mmcls 0.25's configs use (the ResNet
"rsb" recipes). Per tensor ``p`` with gradient ``g``:

    m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2                  (with grad_averaging; else m = b1 m + g)
    u = m_hat / (sqrt(v_hat) + eps) + weight_decay * p                (m_hat, v_hat bias-corrected if asked)
    p -= lr * r * u,  r = ||p|| / ||u||  (1 when either norm is 0, or when weight_decay = 0 and not always_adapt)

Before the update every gradient is divided by ``max(1, global_grad_norm / max_grad_norm)``, so the global
gradient norm is at most ``max_grad_norm``. ``trust_clip`` caps ``r`` at 1.
"""

from __future__ import annotations

import torch

from ..errors import ConfigError
from .optimizer import OPTIMIZERS

__all__ = ['Lamb']


@OPTIMIZERS.register_module()
class Lamb(torch.optim.Optimizer):
    """Layer-wise adaptive large-batch optimizer (LAMB)."""

    def __init__(self, params, lr: float = 1e-3, bias_correction: bool = True, betas=(0.9, 0.999),
                 eps: float = 1e-6, weight_decay: float = 0.01, grad_averaging: bool = True,
                 max_grad_norm: float | None = 1.0, trust_clip: bool = False, always_adapt: bool = False):
        for name, value in (('lr', lr), ('eps', eps), ('weight_decay', weight_decay)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ConfigError(f'optimizer: Lamb {name} must be a number >= 0, got {value!r}')
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ConfigError(f'optimizer: Lamb betas must be two numbers in [0, 1), got {betas!r}')
        if max_grad_norm is not None and max_grad_norm <= 0:
            raise ConfigError(f'optimizer: Lamb max_grad_norm must be > 0 or None, got {max_grad_norm!r}')
        defaults = dict(lr=lr, bias_correction=bias_correction, betas=tuple(betas), eps=eps,
                        weight_decay=weight_decay, grad_averaging=grad_averaging, max_grad_norm=max_grad_norm,
                        trust_clip=trust_clip, always_adapt=always_adapt)
        super().__init__(params, defaults)

    def _grad_divisor(self) -> torch.Tensor | None:
        """``max(1, ||all gradients|| / max_grad_norm)`` as a device tensor (no host sync), or None."""
        max_norm = self.defaults['max_grad_norm']
        grads = [p.grad for g in self.param_groups for p in g['params'] if p.grad is not None]
        if max_norm is None or not grads:
            return None
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))
        return torch.clamp(norm / max_norm, min=1.0)

    @torch.no_grad()
    def step(self, closure=None):
        """One LAMB update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        divisor = self._grad_divisor()
        for group in self.param_groups:
            beta1, beta2 = group['betas']
            for p in group['params']:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise ConfigError('optimizer: Lamb does not support sparse gradients')
                grad = p.grad.float() if divisor is None else p.grad.float() / divisor
                state = self.state[p]
                if not state:
                    state['step'] = 0
                    state['exp_avg'] = torch.zeros_like(p, dtype=torch.float32)
                    state['exp_avg_sq'] = torch.zeros_like(p, dtype=torch.float32)
                state['step'] += 1
                m, v = state['exp_avg'], state['exp_avg_sq']
                m.mul_(beta1).add_(grad, alpha=1 - beta1 if group['grad_averaging'] else 1.0)
                v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                if group['bias_correction']:
                    m_hat, v_hat = m / (1 - beta1 ** state['step']), v / (1 - beta2 ** state['step'])
                else:
                    m_hat, v_hat = m, v
                update = m_hat / (v_hat.sqrt() + group['eps'])
                weight = p.float()
                if group['weight_decay'] != 0:
                    update = update.add(weight, alpha=group['weight_decay'])
                if group['weight_decay'] != 0 or group['always_adapt']:
                    w_norm, u_norm = torch.linalg.vector_norm(weight), torch.linalg.vector_norm(update)
                    ratio = torch.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, torch.ones_like(w_norm))
                    if group['trust_clip']:
                        ratio = torch.clamp(ratio, max=1.0)
                    update = update * ratio
                p.add_(update.to(p.dtype), alpha=-group['lr'])
        return loss
