"""Rate quantisation Q' of NTSCC eq. (28) (continuous bandwidth cost -> value set V) and the
per-rate light FC heads that map between a common width and each rate's length."""
from __future__ import annotations

from collections.abc import Sequence

import torch


class RateQuantizer:
    """Maps k_y = -eta * log2 P(y_bar) to the smallest value of V that is >= k_y.

    ``V`` (``rate_values``) holds 2**k_q channel-use counts in increasing order;
    costs beyond max(V) saturate at max(V) (the paper's saturation at c = 256).
    Rounding up rather than to the nearest value never gives a patch fewer
    channel uses than its entropy asks for.
    """

    def __init__(self, rate_values: Sequence[int]):
        values = [int(v) for v in rate_values]
        if not values or any(b <= a for a, b in zip(values, values[1:])):
            raise ValueError(f"rate_values must be strictly increasing, got {values}")
        if values[0] < 0:
            raise ValueError(f"rate_values must be non-negative, got {values}")
        self.values = torch.tensor(values, dtype=torch.long)

    @property
    def k_q(self) -> int:
        """Bits needed to signal one rate index (log2 |V|, rounded up)."""
        return max(1, (len(self.values) - 1).bit_length())

    @property
    def max_value(self) -> int:
        return int(self.values[-1])

    def index(self, k_y: torch.Tensor) -> torch.Tensor:
        """Index into V of Q'(k_y) for each element of ``k_y``."""
        # compared at k_y's own precision (float32 at least): in float32 a float64 cost a hair above
        # a value of V would round down onto it and get fewer channel uses than it asks for
        dtype = torch.promote_types(k_y.dtype, torch.float32) if k_y.is_floating_point() else torch.float64
        idx = torch.searchsorted(self.values.to(k_y.device, dtype), k_y.detach().to(dtype).contiguous())
        return idx.clamp(max=len(self.values) - 1)

    def quantize(self, k_y: torch.Tensor) -> torch.Tensor:
        """Q'(k_y): the allocated number of channel uses."""
        return self.values.to(k_y.device)[self.index(k_y)]


def per_rate_linear(h: torch.Tensor, rate_index: torch.Tensor, weight: torch.Tensor,
                    bias: torch.Tensor) -> torch.Tensor:
    """Row n goes through light FC head ``rate_index[n]`` (weight: (|V|, out, in), bias: (|V|, out)).

    Rows are grouped by rate so each head is one matmul over its own rows (gradients reach
    only the heads that were used, as with separate layers).
    """
    order = torch.argsort(rate_index, stable=True)
    counts = torch.bincount(rate_index, minlength=weight.shape[0]).tolist()
    groups = h[order].split(counts)
    out = torch.cat([g @ weight[r].T + bias[r] for r, g in enumerate(groups)])
    return out[torch.argsort(order)]
