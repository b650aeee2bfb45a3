"""Swin-Transformer layers for the NTC transforms g_a and g_s (NTSCC Section III-B-1, Fig. 5).

Token layout: every module here works on channels-last feature maps (B, H, W, C), one token per
spatial position, so H and W are always explicit. Only ``PatchEmbed`` (image in) and
``PatchUnembed`` (image out) see channels-first (B, 3, H, W) images.

A Transformer block is eqs. (26)-(27): O_1 = X + MHSA(LN(X)), O_2 = O_1 + MLP(LN(O_1)), with
MHSA restricted to w x w windows and a learned relative position bias (Liu et al., ICCV 2021).
Every second block of a stage shifts the windows by w // 2 (cyclic shift plus attention mask).
Any H x W works: tokens are padded to a multiple of w and cropped back, padding tokens are
masked out of attention; a map no larger than the window is one window and is never shifted.
"""
from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from jscc_core.attention import WindowAttention, window_partition, window_reverse

# --------------------------------------------------------------------------- shifted-window masks


@functools.lru_cache(maxsize=64)
def attention_mask(H: int, W: int, w: int, shift: int) -> Tensor | None:
    """Additive mask (nW, w², w²) for the windows of an H x W map padded to multiples of w and
    cyclically shifted by ``shift``: 0 inside a region, -inf across regions; None if not needed.

    Regions per axis: the first ``shift`` rows (wrapped to the far side by the shift), the other
    real rows, the padding rows; a token's region is the pair (row region, column region).
    """
    Hp, Wp = math.ceil(H / w) * w, math.ceil(W / w) * w
    if shift == 0 and (Hp, Wp) == (H, W):
        return None

    def regions(n: int, n_pad: int) -> Tensor:
        r = torch.ones(n_pad, dtype=torch.long)
        r[:shift] = 0
        r[n:] = 2
        return r

    label = regions(H, Hp)[:, None] * 3 + regions(W, Wp)[None, :]
    label = torch.roll(label, (-shift, -shift), (0, 1))
    label = window_partition(label[None, :, :, None], w)[0, :, :, 0]  # (nW, w²)
    different = label[:, :, None] != label[:, None, :]
    return torch.zeros(different.shape).masked_fill(different, float("-inf"))


# --------------------------------------------------------------------------- attention blocks


class SwinBlock(nn.Module):
    """Eqs. (26)-(27) with W-MSA (shifted=False) or SW-MSA (shifted=True) on (B, H, W, C)."""

    def __init__(self, dim: int, heads: int, window: int, shifted: bool = False, mlp_ratio: float = 4.0):
        super().__init__()
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.window, self.shifted = window, shifted
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, window)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def window_and_shift(self, H: int, W: int) -> tuple[int, int]:
        """(w, shift) used on an H x W map: a map no larger than the window is one unshifted window."""
        if min(H, W) <= self.window:
            return min(H, W), 0
        return self.window, self.window // 2 if self.shifted else 0

    def forward(self, x: Tensor) -> Tensor:
        _, H, W, _ = x.shape
        w, s = self.window_and_shift(H, W)
        h = F.pad(self.norm1(x), (0, 0, 0, (-W) % w, 0, (-H) % w))
        Hp, Wp = h.shape[1:3]
        if s:
            h = torch.roll(h, (-s, -s), (1, 2))
        mask = attention_mask(H, W, w, s)
        h = self.attn(window_partition(h, w), None if mask is None else mask.to(h.device))
        h = window_reverse(h, w, Hp, Wp)
        if s:
            h = torch.roll(h, (s, s), (1, 2))
        x = x + h[:, :H, :W]  # eq. (26)
        return x + self.mlp(self.norm2(x))  # eq. (27)


class SwinStage(nn.Module):
    """``depth`` Swin blocks alternating W-MSA and SW-MSA (shift w // 2)."""

    def __init__(self, dim: int, depth: int, heads: int, window: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinBlock(dim, heads, window, shifted=i % 2 == 1, mlp_ratio=mlp_ratio) for i in range(depth))

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x)
        return x


# --------------------------------------------------------------------------- resolution changes


def _pixel_shuffle(x: Tensor, r: int) -> Tensor:
    """(B, H, W, r*r*C) -> (B, rH, rW, C)."""
    B, H, W, C = x.shape
    C //= r * r
    return x.view(B, H, W, r, r, C).permute(0, 1, 3, 2, 4, 5).reshape(B, H * r, W * r, C)


def _check_divisible(H: int, W: int, r: int, what: str) -> None:
    if H % r or W % r:
        raise ValueError(f"{what} needs H and W divisible by {r}, got {H}x{W}")


class PatchEmbed(nn.Module):
    """Image (B, 3, H, W) -> tokens (B, H/p, W/p, dim): p x p patches, linear map, LayerNorm."""

    def __init__(self, dim: int, in_channels: int = 3, patch: int = 2):
        super().__init__()
        self.patch = patch
        self.proj = nn.Conv2d(in_channels, dim, patch, stride=patch)  # = FC layer on each flattened patch
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        _check_divisible(*x.shape[-2:], self.patch, "PatchEmbed")
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class PatchMerging(nn.Module):
    """2x down: concatenate 2 x 2 neighbours (4C), LayerNorm, Linear 4C -> out_dim."""

    def __init__(self, dim: int, out_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, out_dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        _check_divisible(x.shape[1], x.shape[2], 2, "PatchMerging")
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x))


class PatchSplit(nn.Module):
    """2x up (patch division of g_s): Linear C -> 4 out_dim, each token into 2 x 2 tokens, LayerNorm."""

    def __init__(self, dim: int, out_dim: int):
        super().__init__()
        self.expand = nn.Linear(dim, 4 * out_dim, bias=False)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(_pixel_shuffle(self.expand(x), 2))


class PatchReverseMerging(nn.Module):
    """2x up, the inverse order of ``PatchMerging``: each token's C channels become 2 x 2 tokens of
    C/4 (pixel shuffle), then LayerNorm, Linear C/4 -> out_dim (the released code's g_s)."""

    def __init__(self, dim: int, out_dim: int):
        super().__init__()
        if dim % 4:
            raise ValueError(f"PatchReverseMerging needs a width divisible by 4, got {dim}")
        self.norm = nn.LayerNorm(dim // 4)
        self.proj = nn.Linear(dim // 4, out_dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        x = F.pixel_shuffle(x.permute(0, 3, 1, 2), 2).permute(0, 2, 3, 1)  # channel 4c + 2i + j -> (2h+i, 2w+j, c)
        return self.proj(self.norm(x))


class PatchUnembed(nn.Module):
    """Tokens (B, H, W, dim) -> image (B, out_channels, pH, pW): Linear to p x p patches."""

    def __init__(self, dim: int, out_channels: int = 3, patch: int = 2):
        super().__init__()
        self.patch = patch
        self.proj = nn.Linear(dim, patch * patch * out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return _pixel_shuffle(self.proj(x), self.patch).permute(0, 3, 1, 2).contiguous()


def init_swin_weights(module: nn.Module) -> None:
    """Swin's initialisation, for ``Module.apply``: Linear ~ truncated N(0, 0.02²), zero bias."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
