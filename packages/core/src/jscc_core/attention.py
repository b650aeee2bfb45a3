"""Window attention with a learned relative position bias (Liu et al., "Swin Transformer", ICCV 2021),
the block the papers' transformers share: NTSCC's g_a / g_s and f_e / f_d (NTSCC Sec. III-B) and
the resilient codec's masked transformer.

Token layout: channels-last maps (B, H, W, C), one token per position; windows are
(B, nW, w*w, C), windows and the tokens inside them in raster order.
"""
from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["WindowAttention", "relative_position_index", "window_partition", "window_reverse"]


def window_partition(x: Tensor, w: int) -> Tensor:
    """(B, H, W, C), H and W multiples of w -> (B, nW, w*w, C); windows and tokens in raster order."""
    B, H, W, C = x.shape
    x = x.view(B, H // w, w, W // w, w, C).transpose(2, 3)
    return x.reshape(B, (H // w) * (W // w), w * w, C)


def window_reverse(windows: Tensor, w: int, H: int, W: int) -> Tensor:
    """Inverse of :func:`window_partition`: (B, nW, w*w, C) -> (B, H, W, C)."""
    B, _, _, C = windows.shape
    x = windows.view(B, H // w, W // w, w, w, C).transpose(2, 3)
    return x.reshape(B, H, W, C)


@functools.lru_cache(maxsize=16)
def relative_position_index(w: int, table_window: int | None = None) -> Tensor:
    """(w², w²) indices into a ((2m-1)², heads) bias table, m = table_window (default w).

    Tokens i = (y1, x1), j = (y2, x2) of a w x w window get (y1-y2+m-1)(2m-1) + (x1-x2+m-1),
    so the bias depends only on the relative offset; w < m reuses the centre of the table.
    """
    m = w if table_window is None else table_window
    if not 1 <= w <= m:
        raise ValueError(f"window {w} must be in [1, {m}]")
    ys, xs = torch.meshgrid(torch.arange(w), torch.arange(w), indexing="ij")
    coords = torch.stack([ys.flatten(), xs.flatten()])  # (2, w²)
    rel = coords[:, :, None] - coords[:, None, :] + (m - 1)  # (2, w², w²), each in [0, 2m-2]
    return rel[0] * (2 * m - 1) + rel[1]


class WindowAttention(nn.Module):
    """Multi-head self-attention within windows, with a learned relative position bias."""

    def __init__(self, dim: int, heads: int, window: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads, self.window = heads, window
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        nn.init.trunc_normal_(self.bias_table, std=0.02)
        self.register_buffer("relative_position_index", relative_position_index(window).clone(), persistent=False)

    def position_bias(self, w: int) -> Tensor:
        """(heads, w², w²) bias for a w x w window (w <= window)."""
        if w == self.window:
            index = self.relative_position_index
        else:
            index = relative_position_index(w, self.window).to(self.bias_table.device)
        return self.bias_table[index].permute(2, 0, 1)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """x: (B, nW, N, C) windows of N = w² tokens; mask: additive (nW, N, N) or None."""
        B, nW, N, C = x.shape
        q, k, v = self.qkv(x).view(B, nW, N, 3, self.heads, C // self.heads).permute(3, 0, 1, 4, 2, 5)
        bias = self.position_bias(math.isqrt(N))
        if mask is not None:
            bias = bias + mask[:, None]  # (nW, heads, N, N)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))  # softmax(qk^T/√d + B)v
        return self.proj(out.transpose(2, 3).reshape(B, nW, N, C))
