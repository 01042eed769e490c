"""Multi-head self-attention: global (ViT) and in shifted windows (Swin), with mmcls's key names."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ConfigError
from .dropout import build_dropout
from .embed import to_2tuple
from .layer_scale import LayerScale


def _counting() -> bool:
    """Whether a dispatch mode (torch's FlopCounterMode, for one) is watching: it sees the fused CPU kernel as
    zero operations, so the explicit matmuls run then."""
    try:
        from torch.utils._python_dispatch import _get_current_dispatch_mode  # private torch API: may be missing
    except ImportError:  # a torch without it: count correctly rather than fast
        return True
    return _get_current_dispatch_mode() is not None


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 bias: torch.Tensor | None = None, dropout_p: float = 0.0,
                                 scale: float | None = None, fused: bool | None = None) -> torch.Tensor:
    """``softmax(q @ k^T * scale + bias) @ v`` over the last two dims.

    ``fused`` (default: yes, unless an operation counter is active) calls torch's fused kernel, which never
    stores the (N, N) attention matrix; the explicit matmuls are the reference form. On a CPU the fused
    kernel is 1.1-2.2x faster for inference and as fast for training (benchmarks/attention_sdpa.py).
    """
    if fused is None:
        fused = not _counting()
    if fused:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout_p, scale=scale)
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    attn = (q * scale) @ k.transpose(-2, -1)
    if bias is not None:
        attn = attn + bias
    attn = attn.softmax(dim=-1)
    if dropout_p > 0:
        attn = F.dropout(attn, dropout_p, training=True)
    return attn @ v


class MultiheadAttention(nn.Module):
    """Global multi-head self-attention on (N, L, C) tokens; q, k, v come from one fused ``qkv`` linear.

    Args:
        embed_dims / num_heads: channels and heads (``embed_dims`` must divide by ``num_heads``).
        input_dims: channels of the input when they differ from ``embed_dims``.
        attn_drop / proj_drop: dropout on the attention weights / after the output projection.
        dropout_layer: applied last (DropPath in transformer blocks).
        qk_scale: overrides the ``head_dims ** -0.5`` scale.
        v_shortcut: add v to the output (only with one head, as T2T-ViT does).
        use_layer_scale: multiply the output by a LayerScale (``gamma1``).
    """

    def __init__(self, embed_dims: int, num_heads: int, input_dims: int | None = None, attn_drop: float = 0.0,
                 proj_drop: float = 0.0, dropout_layer: Mapping | None = dict(type='Dropout', drop_prob=0.0),
                 qkv_bias: bool = True, qk_scale: float | None = None, proj_bias: bool = True,
                 v_shortcut: bool = False, use_layer_scale: bool = False, init_cfg=None):
        super().__init__()
        if embed_dims % num_heads:
            raise ConfigError(f'embed_dims={embed_dims} must be divisible by num_heads={num_heads}')
        if v_shortcut and num_heads != 1:
            raise ConfigError('MultiheadAttention: v_shortcut needs num_heads=1')
        self.input_dims = input_dims or embed_dims
        self.embed_dims, self.num_heads = embed_dims, num_heads
        self.head_dims = embed_dims // num_heads
        self.scale = qk_scale or self.head_dims ** -0.5
        self.v_shortcut = v_shortcut
        self.init_cfg = init_cfg
        self.qkv = nn.Linear(self.input_dims, embed_dims * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(embed_dims, embed_dims, bias=proj_bias)
        self.proj_drop = nn.Dropout(proj_drop)
        self.out_drop = build_dropout(dropout_layer)
        self.gamma1 = LayerScale(embed_dims) if use_layer_scale else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, _ = x.shape
        # (B, N, 3*C) -> 3 x (B, heads, N, head_dims); the fused layout is [q; k; v], head-major inside
        q, k, v = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dims).permute(2, 0, 3, 1, 4)
        p = self.attn_drop.p if self.training else 0.0
        out = scaled_dot_product_attention(q, k, v, dropout_p=p, scale=self.scale)
        out = self.proj_drop(self.proj(out.transpose(1, 2).reshape(B, N, self.embed_dims)))
        out = self.out_drop(self.gamma1(out))
        if self.v_shortcut:
            out = v.squeeze(1) + out
        return out


def relative_position_index(window_size: Sequence[int]) -> torch.Tensor:
    """(N, N) indices into a ((2h-1)*(2w-1), heads) bias table, N = h*w: row-major (dy, dx) offsets."""
    h, w = window_size
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing='ij')
    ys, xs = ys.flatten(), xs.flatten()
    dy = ys[:, None] - ys[None, :] + (h - 1)
    dx = xs[:, None] - xs[None, :] + (w - 1)
    return dy * (2 * w - 1) + dx


class WindowMSA(nn.Module):
    """Self-attention inside (N_windows*B, h*w, C) windows, with a learnt relative position bias."""

    def __init__(self, embed_dims: int, window_size, num_heads: int, qkv_bias: bool = True,
                 qk_scale: float | None = None, attn_drop: float = 0.0, proj_drop: float = 0.0, init_cfg=None):
        super().__init__()
        if embed_dims % num_heads:
            raise ConfigError(f'embed_dims={embed_dims} must be divisible by num_heads={num_heads}')
        self.embed_dims, self.num_heads = embed_dims, num_heads
        self.window_size = to_2tuple(window_size)
        self.scale = qk_scale or (embed_dims // num_heads) ** -0.5
        self.init_cfg = init_cfg
        wh, ww = self.window_size
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * wh - 1) * (2 * ww - 1), num_heads))
        # persistent, as in mmcls checkpoints (which hold it), so they load with strict=True
        self.register_buffer('relative_position_index', relative_position_index(self.window_size))
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def init_weights(self) -> None:
        """Truncated-normal(0.02) bias table."""
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attend within each window; ``mask`` (n_windows, N, N) is added per window (shifted windows)."""
        B_, N, C = x.shape
        heads = self.num_heads
        q, k, v = self.qkv(x).reshape(B_, N, 3, heads, C // heads).permute(2, 0, 3, 1, 4)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        bias = bias.view(N, N, heads).permute(2, 0, 1)
        if mask is not None:
            # fold windows into the head dim so the (windows, heads) bias broadcasts over the batch
            n_win = mask.shape[0]
            bias = (bias.unsqueeze(0) + mask.unsqueeze(1)).reshape(1, n_win * heads, N, N)
            q, k, v = (t.reshape(B_ // n_win, n_win * heads, N, C // heads) for t in (q, k, v))
        p = self.attn_drop.p if self.training else 0.0
        out = scaled_dot_product_attention(q, k, v, bias.to(q.dtype), dropout_p=p, scale=self.scale)
        out = out.reshape(B_, heads, N, C // heads).transpose(1, 2).reshape(B_, N, C)
        return self.proj_drop(self.proj(out))


def log_spaced_coords_table(window_size: Sequence[int], pretrained_window_size: Sequence[int]) -> torch.Tensor:
    """(1, 2h-1, 2w-1, 2) relative (dy, dx) offsets of a window, scaled to [-8, 8] by the pre-training
    window (this one when 0) and log-spaced: ``sign(t) * log2(1 + |t|) / 3`` (Swin V2)."""
    span = [p if p > 0 else s for s, p in zip(window_size, pretrained_window_size)]
    axes = [torch.arange(-(s - 1), s, dtype=torch.float32) / max(n - 1, 1) for s, n in zip(window_size, span)]
    table = torch.stack(torch.meshgrid(*axes, indexing='ij'), dim=-1).unsqueeze(0) * 8
    return torch.sign(table) * torch.log2(table.abs() + 1.0) / 3.0  # log2(8) = 3


class WindowMSAV2(nn.Module):
    """Swin V2 window attention: cosine similarity with a learnt per-head temperature (``logit_scale``),
    and a relative position bias that a small MLP (``cpb_mlp``) computes from log-spaced offsets, so a
    model trained with one window size runs with another (``pretrained_window_size`` names the former).
    """

    def __init__(self, embed_dims: int, window_size, num_heads: int, qkv_bias: bool = True,
                 attn_drop: float = 0.0, proj_drop: float = 0.0, cpb_mlp_hidden_dims: int = 512,
                 pretrained_window_size=(0, 0), init_cfg=None, **kwargs):
        super().__init__()
        if embed_dims % num_heads:
            raise ConfigError(f'embed_dims={embed_dims} must be divisible by num_heads={num_heads}')
        self.embed_dims, self.num_heads = embed_dims, num_heads
        self.window_size = to_2tuple(window_size)
        self.pretrained_window_size = to_2tuple(pretrained_window_size)
        self.init_cfg = init_cfg
        self.cpb_mlp = nn.Sequential(nn.Linear(2, cpb_mlp_hidden_dims, bias=True), nn.ReLU(inplace=True),
                                     nn.Linear(cpb_mlp_hidden_dims, num_heads, bias=False))
        self.logit_scale = nn.Parameter(torch.full((num_heads, 1, 1), math.log(10.0)))
        # persistent, as in mmcls checkpoints; loading replaces them with this window's (see SwinTransformerV2)
        self.register_buffer('relative_coords_table',
                             log_spaced_coords_table(self.window_size, self.pretrained_window_size))
        self.register_buffer('relative_position_index', relative_position_index(self.window_size))
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=False)
        # q and v have biases, k none (a bias on k would shift every logit of a query equally)
        self.q_bias = nn.Parameter(torch.zeros(embed_dims)) if qkv_bias else None
        self.v_bias = nn.Parameter(torch.zeros(embed_dims)) if qkv_bias else None
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def position_bias(self) -> torch.Tensor:
        """(heads, N, N) bias: ``16 * sigmoid(cpb_mlp(offsets))`` looked up per pair of window positions."""
        N = self.window_size[0] * self.window_size[1]
        table = self.cpb_mlp(self.relative_coords_table).view(-1, self.num_heads)
        bias = table[self.relative_position_index.view(-1)].view(N, N, self.num_heads).permute(2, 0, 1)
        return 16 * torch.sigmoid(bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attend within each (B*windows, N, C) window; ``mask`` (n_windows, N, N) as in WindowMSA."""
        B_, N, C = x.shape
        heads = self.num_heads
        bias = None
        if self.q_bias is not None:
            bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
        q, k, v = F.linear(x, self.qkv.weight, bias).reshape(B_, N, 3, heads, C // heads).permute(2, 0, 3, 1, 4)
        # cosine attention: unit q and k, the temperature folded into q so the fused kernel can run (scale 1)
        scale = torch.clamp(self.logit_scale, max=math.log(100.0)).exp()
        q, k = F.normalize(q, dim=-1) * scale, F.normalize(k, dim=-1)
        attn_bias = self.position_bias()
        if mask is not None:
            n_win = mask.shape[0]
            attn_bias = (attn_bias.unsqueeze(0) + mask.unsqueeze(1)).reshape(1, n_win * heads, N, N)
            q, k, v = (t.reshape(B_ // n_win, n_win * heads, N, C // heads) for t in (q, k, v))
        p = self.attn_drop.p if self.training else 0.0
        out = scaled_dot_product_attention(q, k, v, attn_bias.to(q.dtype), dropout_p=p, scale=1.0)
        out = out.reshape(B_, heads, N, C // heads).transpose(1, 2).reshape(B_, N, C)
        return self.proj_drop(self.proj(out))


def window_partition(x: torch.Tensor, window_size: int) -> torch.Tensor:
    """(B, H, W, C) → (B * H/ws * W/ws, ws*ws, C), windows in row-major order."""
    B, H, W, C = x.shape
    x = x.view(B, H // window_size, window_size, W // window_size, window_size, C)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window_size * window_size, C)


def window_reverse(windows: torch.Tensor, height: int, width: int, window_size: int) -> torch.Tensor:
    """Undo :func:`window_partition`: (B * n_windows, ws*ws, C) → (B, height, width, C)."""
    C = windows.shape[-1]
    x = windows.view(-1, height // window_size, width // window_size, window_size, window_size, C)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, height, width, C)


def shifted_window_mask(hw_shape: Sequence[int], window_size: int, shift_size: int,
                        device=None, dtype=torch.float32) -> torch.Tensor:
    """(n_windows, N, N) additive mask: -100 between tokens that the cyclic shift brought from different regions."""
    H, W = hw_shape

    def regions(size: int) -> torch.Tensor:  # 0, 1, 2 for the three bands the shift creates along one axis
        idx = torch.arange(size, device=device)
        return (idx >= size - window_size).long() + (idx >= size - shift_size).long()

    region = (regions(H)[:, None] * 3 + regions(W)[None, :]).view(1, H, W, 1)
    windows = window_partition(region, window_size).squeeze(-1)  # (n_windows, N)
    differs = windows.unsqueeze(1) != windows.unsqueeze(2)
    return torch.zeros(differs.shape, device=device, dtype=dtype).masked_fill_(differs, -100.0)


class ShiftWindowMSA(nn.Module):
    """Window attention over a (B, H*W, C) map, with the windows cyclically shifted by ``shift_size``.

    Maps that do not divide into windows are padded at the bottom/right. A map exactly one window
    wide is not shifted (as the original Swin does) unless ``pad_small_map``; a smaller map needs
    ``pad_small_map=True`` (it is padded up to a window).
    """

    def __init__(self, embed_dims: int, num_heads: int, window_size: int, shift_size: int = 0,
                 qkv_bias: bool = True, qk_scale: float | None = None, attn_drop: float = 0.0,
                 proj_drop: float = 0.0, dropout_layer: Mapping | None = dict(type='DropPath', drop_prob=0.0),
                 pad_small_map: bool = False, window_msa=WindowMSA, msa_cfg: Mapping = dict(), init_cfg=None):
        super().__init__()
        if not 0 <= shift_size < window_size:
            raise ConfigError(f'shift_size={shift_size} must be in [0, window_size={window_size})')
        self.shift_size, self.window_size = shift_size, window_size
        self.pad_small_map = pad_small_map
        self.init_cfg = init_cfg
        self.w_msa = window_msa(embed_dims=embed_dims, num_heads=num_heads, window_size=to_2tuple(window_size),
                                qkv_bias=qkv_bias, qk_scale=qk_scale, attn_drop=attn_drop, proj_drop=proj_drop,
                                **msa_cfg)
        self.drop = build_dropout(dropout_layer)

    def forward(self, query: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
        B, L, C = query.shape
        H, W = hw_shape
        if L != H * W:
            raise ValueError(f'ShiftWindowMSA: {L} tokens do not form the {H}x{W} grid it was given')
        ws, shift = self.window_size, self.shift_size
        if min(H, W) == ws and not self.pad_small_map:
            shift = 0
        elif min(H, W) < ws and not self.pad_small_map:
            raise ValueError(f'a {H}x{W} feature map is smaller than the {ws}x{ws} window: use a larger '
                             'input or pad_small_map=True')
        x = query.view(B, H, W, C)
        pad_r, pad_b = (ws - W % ws) % ws, (ws - H % ws) % ws
        x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        H_pad, W_pad = x.shape[1], x.shape[2]
        mask = None
        if shift > 0:
            x = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))
            mask = shifted_window_mask((H_pad, W_pad), ws, shift, device=x.device, dtype=x.dtype)
        x = self.w_msa(window_partition(x, ws), mask=mask)
        x = window_reverse(x, H_pad, W_pad, ws)
        if shift > 0:
            x = torch.roll(x, shifts=(shift, shift), dims=(1, 2))
        if pad_r or pad_b:
            x = x[:, :H, :W, :]
        return self.drop(x.reshape(B, H * W, C))
