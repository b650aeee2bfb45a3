"""The dual-functional masked transformer over latent tokens (one token = one position of the
latent grid, all M channels).  Visible tokens are embedded, masked ones take a learned mask vector;
Swin blocks (window self-attention with a relative position bias, every second block shifted by
half a window) mix them; two heads read every position:

* the entropy head: a K-component Gaussian mixture per channel (weights, means, scales) -- the
  conditional distribution of each masked token given the visible ones;
* the regression head: an estimate of the latent itself, which conceals tokens that never arrived.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from jscc_core.attention import WindowAttention, window_partition, window_reverse

MIN_SCALE = 0.11  # lower bound of a mixture scale (in latent units), as CompressAI's Gaussian conditional


class SwinBlock(nn.Module):
    """LayerNorm -> (shifted) window attention -> residual; LayerNorm -> MLP (4x) -> residual."""

    def __init__(self, dim: int, heads: int, window: int, shift: bool):
        super().__init__()
        self.window, self.shift = window, window // 2 if shift else 0
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, window)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: Tensor, valid: Tensor) -> Tensor:
        """x (B, H, W, D) with H, W multiples of the window; valid (H, W) bool: False on padding."""
        b, h, w, d = x.shape
        s, win = self.shift, self.window
        y = self.norm1(x)
        if s:
            y = torch.roll(y, (-s, -s), (1, 2))
        y = self.attn(window_partition(y, win), _attention_mask(valid, win, s, x.device))
        y = window_reverse(y, win, h, w)
        if s:
            y = torch.roll(y, (s, s), (1, 2))
        x = x + y
        return x + self.mlp(self.norm2(x))


def _attention_mask(valid: Tensor, win: int, shift: int, device) -> Tensor | None:
    """(nW, w*w, w*w) additive mask: -inf towards padding, and (shifted blocks) between tokens the
    cyclic shift brought from different regions of the grid (Swin's region mask)."""
    h, w = valid.shape
    region = torch.zeros(h, w, dtype=torch.int64, device=device)
    if shift:
        cuts = (slice(0, -win), slice(-win, -shift), slice(-shift, None))
        for i, hs in enumerate(cuts):
            for j, ws in enumerate(cuts):
                region[hs, ws] = 3 * i + j
        region = torch.roll(region, (-shift, -shift), (0, 1))
        valid = torch.roll(valid, (-shift, -shift), (0, 1))
    if shift == 0 and bool(valid.all()):
        return None
    reg = window_partition(region[None, :, :, None], win)[0, ..., 0]  # (nW, w*w)
    ok = window_partition(valid[None, :, :, None].to(torch.int64), win)[0, ..., 0].bool()
    allowed = (reg[:, :, None] == reg[:, None, :]) & ok[:, None, :]
    allowed |= torch.eye(win * win, dtype=torch.bool, device=device)  # a token always sees itself
    return torch.zeros(allowed.shape, device=device).masked_fill_(~allowed, float("-inf"))


class MaskedTransformer(nn.Module):
    """Tokens (B, M, h, w) and a visibility mask (B, h, w) -> the entropy head's mixture
    parameters and the regression head's latent estimate.

    ``m``: latent channels; ``dim``, ``depth``, ``heads``, ``window``: Swin width, blocks, heads,
    window side; ``components``: K of the Gaussian mixture (the magazine's design: 3)."""

    def __init__(self, m: int, dim: int, depth: int, heads: int, window: int, components: int = 3):
        super().__init__()
        self.m, self.k, self.window = m, components, window
        self.embed = nn.Linear(m, dim)
        self.mask_token = nn.Parameter(torch.zeros(dim))
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        self.blocks = nn.ModuleList(SwinBlock(dim, heads, window, shift=bool(i % 2)) for i in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.entropy_head = nn.Linear(dim, 3 * components * m)
        self.regression_head = nn.Linear(dim, m)

    def features(self, tokens: Tensor, visible: Tensor) -> Tensor:
        """tokens (B, M, h, w) dequantised latents (values at invisible positions are ignored);
        visible (B, h, w) bool.  Returns the trunk's features (B, h, w, D)."""
        b, m, h, w = tokens.shape
        x = self.embed(tokens.permute(0, 2, 3, 1))
        x = torch.where(visible[..., None], x, self.mask_token.to(x.dtype))
        win = self.window
        ph, pw = (-h) % win, (-w) % win
        valid = torch.ones(h + ph, w + pw, dtype=torch.bool, device=x.device)
        if ph or pw:
            x = F.pad(x, (0, 0, 0, pw, 0, ph))
            valid[h:], valid[:, w:] = False, False
        for block in self.blocks:
            x = block(x, valid)
        return self.norm(x[:, :h, :w])

    def mixture(self, features: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The entropy head on features (..., D): (weights, means, scales), each (..., K, M)."""
        raw = self.entropy_head(features).unflatten(-1, (3, self.k, self.m))
        return torch.softmax(raw[..., 0, :, :], dim=-2), raw[..., 1, :, :], F.softplus(raw[..., 2, :, :]) + MIN_SCALE

    def regression(self, features: Tensor) -> Tensor:
        """The regression head on features (..., D): the latent estimate (..., M)."""
        return self.regression_head(features)

    def forward(self, tokens: Tensor, visible: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Both heads at every position: (weights, means, scales), each (B, K, M, h, w), and the
        regression (B, M, h, w); arguments as :meth:`features`."""
        x = self.features(tokens, visible)
        weights, means, scales = (t.permute(0, 3, 4, 1, 2) for t in self.mixture(x))
        return weights, means, scales, self.regression(x).permute(0, 3, 1, 2)
