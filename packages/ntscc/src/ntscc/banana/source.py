"""The banana-shaped 2-D source of Ballé et al., "Nonlinear Transform Coding" (IEEE JSTSP 2021).

Definition followed (the toy source of that paper's Fig. 1, as built in its
companion tensorflow-compression "toy sources" notebook): start from a Gaussian
g ~ N(0, diag(3², 0.5²)), shift by -(1, 1), rotate by 240°, and bend with the
additive quadratic coupling x2 <- x2 - 0.1·x1².  Every step preserves volume,
so the exact density is p(x) = N(T(x); 0, diag(3², 0.5²)) with T the inverse
map; NTSCC treats it as unknown (Section IV-B) but Fig. 9(a) draws it.
"""
from __future__ import annotations

import math

import torch

SCALE = (3.0, 0.5)
SHIFT = (1.0, 1.0)
ANGLE_DEG = 240.0
BEND = 0.1


def _rotation(dtype=torch.float64) -> torch.Tensor:
    phi = math.radians(ANGLE_DEG)
    return torch.tensor([[math.cos(phi), -math.sin(phi)], [math.sin(phi), math.cos(phi)]], dtype=dtype)


class BananaSource:
    """Seeded sampler and exact log-density of the banana source."""

    dim = 2

    def sample(self, n: int, seed: int) -> torch.Tensor:
        """``n`` i.i.d. samples (float32, shape (n, 2)), reproducible from ``seed``."""
        if n <= 0:
            raise ValueError(f"number of banana samples must be positive, got {n}")
        gen = torch.Generator().manual_seed(int(seed))
        g = torch.randn(n, 2, generator=gen, dtype=torch.float64) * torch.tensor(SCALE, dtype=torch.float64)
        x = (g - torch.tensor(SHIFT, dtype=torch.float64)) @ _rotation()
        x1, x2 = x[:, 0], x[:, 1] - BEND * x[:, 0] ** 2
        return torch.stack([x1, x2], dim=-1).float()

    def to_gaussian(self, x: torch.Tensor) -> torch.Tensor:
        """T(x): undo the bend, the rotation and the shift."""
        x = x.double()
        u = torch.stack([x[:, 0], x[:, 1] + BEND * x[:, 0] ** 2], dim=-1)
        return u @ _rotation().T + torch.tensor(SHIFT, dtype=torch.float64)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact natural-log density at ``x`` (unit Jacobian)."""
        g = self.to_gaussian(x)
        s = torch.tensor(SCALE, dtype=torch.float64)
        return (-0.5 * (g / s) ** 2 - torch.log(s) - 0.5 * math.log(2 * math.pi)).sum(-1)
