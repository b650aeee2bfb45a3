"""The ELIC-like analysis and synthesis transforms g_a, g_s (He et al. 2022, as the magazine's
latent codec): four stride-2 convolutions (/16), residual bottleneck units after the first three,
attention blocks at 1/4 and 1/16, no GDN.  x (B, 3, H, W) <-> y (B, M, H/16, W/16)."""
from __future__ import annotations

from compressai.layers import AttentionBlock, conv1x1, conv3x3
from compressai.models.utils import conv, deconv
from torch import Tensor, nn


class ResidualBottleneck(nn.Module):
    """1x1 (N -> N/2), 3x3, 1x1 (N/2 -> N), each but the last followed by ReLU, plus the input."""

    def __init__(self, n: int):
        super().__init__()
        self.body = nn.Sequential(conv1x1(n, n // 2), nn.ReLU(inplace=True), conv3x3(n // 2, n // 2),
                                  nn.ReLU(inplace=True), conv1x1(n // 2, n))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def _units(n: int, count: int) -> list[nn.Module]:
    return [ResidualBottleneck(n) for _ in range(count)]


def analysis(n: int, m: int, units: int) -> nn.Sequential:
    """g_a: 3 -> ``n`` -> ... -> ``m`` channels at 1/16 resolution; ``units`` residual
    bottleneck units after each of the first three downsamplings."""
    return nn.Sequential(
        conv(3, n), *_units(n, units),
        conv(n, n), *_units(n, units), AttentionBlock(n),
        conv(n, n), *_units(n, units),
        conv(n, m), AttentionBlock(m))


def synthesis(n: int, m: int, units: int) -> nn.Sequential:
    """g_s: the mirror of :func:`analysis` with transposed convolutions."""
    return nn.Sequential(
        AttentionBlock(m), deconv(m, n), *_units(n, units),
        deconv(n, n), AttentionBlock(n), *_units(n, units),
        deconv(n, n), *_units(n, units),
        deconv(n, 3))
