"""The entropy head's distribution: a K-component Gaussian mixture per channel, discretised to the
quantisation bins of width ``step`` (in latent units).

* :func:`bin_probability` -- P(q) of integer symbols q, for the rate term of training;
* :func:`pmf_table` -- the PMF of each coded symbol over the bounded alphabet -B..B (tails folded
  into the end symbols), in float64 for the range coder.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

LIKELIHOOD_FLOOR = 1e-9  # lower bound of a bin probability in the rate term (bits stay finite)


def _cdf(x: Tensor) -> Tensor:
    return 0.5 * torch.erfc(-x / math.sqrt(2.0))


def bin_probability(q: Tensor, weights: Tensor, means: Tensor, scales: Tensor, step: float = 1.0) -> Tensor:
    """P(q) = sum_k w_k [Phi((q step + step/2 - mu_k) / s_k) - Phi((q step - step/2 - mu_k) / s_k)].

    q (B, M, h, w) integer-valued symbols (float, may carry a straight-through gradient);
    weights, means, scales (B, K, M, h, w).  Returns (B, M, h, w), at least :data:`LIKELIHOOD_FLOOR`."""
    y = (q * step).unsqueeze(1)
    upper = _cdf((y + step / 2 - means) / scales)
    lower = _cdf((y - step / 2 - means) / scales)
    return (weights * (upper - lower)).sum(1).clamp_min(LIKELIHOOD_FLOOR)


def pmf_table(weights: Tensor, means: Tensor, scales: Tensor, bound: int, step: float) -> np.ndarray:
    """float64 (n, 2 bound + 1): row i is the PMF of symbol i over -bound..bound.

    weights, means, scales (n, K): the mixture of each symbol in latent units.  The first and last
    bins reach to -inf and +inf, so every row sums to one; computed in float64 from the float32
    parameters, so encoder and decoder build the same table from the same parameters."""
    w, mu, s = (t.detach().to(torch.float64) for t in (weights, means, scales))
    edges = (torch.arange(-bound, bound + 2, dtype=torch.float64) - 0.5) * step  # (2B + 2,)
    cdf = _cdf((edges[None, None, :] - mu[..., None]) / s[..., None])  # (n, K, 2B + 2)
    cdf[..., 0], cdf[..., -1] = 0.0, 1.0
    pmf = (w[..., None] * (cdf[..., 1:] - cdf[..., :-1])).sum(1)
    return np.maximum(pmf.numpy(), 0.0)
