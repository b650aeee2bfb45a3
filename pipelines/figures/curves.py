"""Rate-quality curves: a method's points (CBR, quality), their upper envelope, and the gap
between two curves.

CBR is the channel bandwidth ratio R = k / m (channel uses per source dimension); quality grows
with it (PSNR, MS-SSIM in dB, SDR). A curve of a method with several points per CBR (e.g. NTSCC's
(lambda, eta) grid) is the upper envelope of its points: those no other point beats in both.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


def upper_envelope(cbr: Sequence[float], quality: Sequence[float]) -> np.ndarray:
    """Indices of the points (``cbr[i]``, ``quality[i]``) no other point beats (lower or equal CBR
    with higher or equal quality), sorted by CBR; along them the quality increases strictly.
    Points of non-finite quality are left out."""
    x, y = np.asarray(cbr, dtype=float), np.asarray(quality, dtype=float)
    order = sorted(range(x.size), key=lambda i: (x[i], -y[i]))
    keep, best = [], -np.inf
    for i in order:
        if np.isfinite(y[i]) and y[i] > best:
            keep.append(i)
            best = y[i]
    return np.array(keep, dtype=int)


@dataclass
class Series:
    """One method's points at one channel condition and their upper envelope.

    ``key``: the short name of the curve (style, lookups); ``method``: its label on the page and in
    the CSV; ``info``: one dict per point (model, settings, ``run_key``) for its CSV row's extra;
    ``run_keys``: the runs the points come from."""

    key: str
    method: str
    cbr: np.ndarray
    quality: np.ndarray
    info: list[dict]
    run_keys: list[str]
    env: np.ndarray = field(init=False)

    def __post_init__(self):
        self.cbr = np.asarray(self.cbr, dtype=float)
        self.quality = np.asarray(self.quality, dtype=float)
        self.env = upper_envelope(self.cbr, self.quality)

    @property
    def env_cbr(self) -> np.ndarray:
        return self.cbr[self.env]

    @property
    def env_quality(self) -> np.ndarray:
        return self.quality[self.env]

    def cbr_range(self) -> str:
        """"[lowest, highest]" CBR of the points, for messages."""
        return f"[{self.cbr.min():.4f}, {self.cbr.max():.4f}]"


def gaps(test: Series, ref: Series) -> list[tuple[float, float]]:
    """(CBR, test quality - ref quality) at every envelope point of one curve that lies inside the
    other's CBR range, the other's envelope interpolated linearly in log CBR; no extrapolation.
    Sorted by CBR."""
    out = []
    for a, b, sign in ((test, ref, 1.0), (ref, test, -1.0)):
        xs, ys = a.env_cbr, a.env_quality
        for x, y in zip(b.env_cbr, b.env_quality):
            if xs.min() <= x <= xs.max():
                out.append((float(x), sign * float(np.interp(np.log10(x), np.log10(xs), ys) - y)))
    return sorted(set(out))
