"""The coding order of the latent tokens, reproducible by the decoder from the token grid alone.

Positions are ranked by an ordered-dither (Bayer) matrix, a low-discrepancy order: every prefix is
spread evenly over the grid.  Interleaved packets take every P-th position of that order, so each
packet is itself an even spread.  Inside a packet the tokens are coded in S steps (the magazine's
12) whose cumulative share of tokens follows a power schedule (s / S) ** gamma: few tokens while
there is little context, many once most of the latent is known (MaskGIT-style)."""
from __future__ import annotations

import numpy as np


def bayer_rank(h: int, w: int) -> np.ndarray:
    """int (h, w): the rank of each position in the ordered-dither order (0 = first)."""
    if h < 1 or w < 1:
        raise ValueError(f"token grid must be at least 1 x 1, got {h} x {w}")
    n = 1
    while n < max(h, w):
        n *= 2
    m = np.zeros((1, 1), dtype=np.int64)
    while m.shape[0] < n:  # Bayer recursion: [[4M, 4M+2], [4M+3, 4M+1]]
        m = np.block([[4 * m, 4 * m + 2], [4 * m + 3, 4 * m + 1]])
    crop = m[:h, :w]
    ranks = np.empty(h * w, dtype=np.int64)
    ranks[np.argsort(crop.ravel(), kind="stable")] = np.arange(h * w)
    return ranks.reshape(h, w)


def coding_order(h: int, w: int) -> np.ndarray:
    """int (h * w,): flat positions (row-major) in coding order."""
    return np.argsort(bayer_rank(h, w).ravel(), kind="stable")


def packet_positions(h: int, w: int, n_packets: int) -> list[np.ndarray]:
    """Flat positions of each of ``n_packets`` interleaved token sets, each in coding order:
    packet p holds the p-th, (p + P)-th, ... positions of :func:`coding_order`."""
    if n_packets < 1:
        raise ValueError(f"n_packets must be >= 1, got {n_packets}")
    order = coding_order(h, w)
    return [order[p::n_packets] for p in range(n_packets)]


def step_bounds(n: int, steps: int, gamma: float) -> np.ndarray:
    """int (steps + 1,): step s codes tokens ``bounds[s]:bounds[s + 1]`` of a packet of ``n``
    tokens; cumulative share round(n (s / steps) ** gamma), every step at least one token while
    tokens remain (so a short packet ends early with empty steps)."""
    if steps < 1 or gamma <= 0:
        raise ValueError(f"steps must be >= 1 and gamma > 0, got steps={steps}, gamma={gamma}")
    bounds = [0]
    for s in range(1, steps + 1):
        target = int(round(n * (s / steps) ** gamma))
        bounds.append(min(n, max(target, bounds[-1] + 1)))
    bounds[-1] = n
    return np.array(bounds, dtype=np.int64)
