"""Latent-space geometry of the InverseJSCC search (GJSCC eqs. 12-13, after ILO and PULSE).

The search variable is not the style code w itself but a "Gaussianised" code v of the same
shape, one row per style input of the synthesis network: v = (LeakyReLU_{1/a}(w) - mu) / sigma,
where a = 0.2 is the slope of the mapping network's last leaky ReLU and mu, sigma are fitted
on samples of the mapping network (:func:`fit_latent_stats`). Under this change of variables
the mapping network's outputs are roughly N(0, I), so each row of v lives near the sphere of
radius sqrt(d) (:func:`sphere_radii`, :func:`project_to_sphere`), and the angle between rows
measures how far the rows of w+ drift apart (:func:`geocross`, GEO of eq. 13).
:func:`project_l1_ball` is ILO's projection of a deviation onto an l1 ball.

Shapes: a latent is (B, n_latent, d); noise maps are (B, 1, r, r); every function works per
sample, so B images are B independent problems.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "LatentStats",
    "fit_latent_stats",
    "geocross",
    "sphere_radii",
    "project_to_sphere",
    "project_l1_ball",
]

# sqrt(. + eps) keeps the gradient finite at zero norm (ILO and PULSE use the same 1e-9).
_EPS = 1e-9


@dataclass(frozen=True)
class LatentStats:
    """Statistics of the mapping network's output before its last leaky ReLU.

    mean, std: (d,) tensors; negative_slope: slope a of that leaky ReLU (0.2 in StyleGAN-2).
    """

    mean: Tensor
    std: Tensor
    negative_slope: float = 0.2

    def to_w(self, v: Tensor) -> Tensor:
        """Gaussianised code v (..., d) -> style code w (..., d) = LeakyReLU_a(sigma v + mu)."""
        return F.leaky_relu(v * self.std + self.mean, self.negative_slope)

    def from_w(self, w: Tensor) -> Tensor:
        """Inverse of :meth:`to_w`: w (..., d) -> v = (LeakyReLU_{1/a}(w) - mu) / sigma."""
        return (F.leaky_relu(w, 1.0 / self.negative_slope) - self.mean) / self.std

    def to(self, device: torch.device | str) -> "LatentStats":
        return LatentStats(self.mean.to(device), self.std.to(device), self.negative_slope)


@torch.no_grad()
def fit_latent_stats(mapping, style_dim: int, samples: int = 10000, negative_slope: float = 0.2,
                     generator: torch.Generator | None = None, device: torch.device | str = "cpu",
                     chunk: int = 4096) -> LatentStats:
    """Fit :class:`LatentStats` on ``samples`` outputs of the mapping network (PULSE's fit).

    mapping: callable z (N, style_dim) -> w (N, style_dim), e.g. ``Generator.mapping``.
    z ~ N(0, I) is drawn with ``generator`` (seeded for a reproducible fit); the last leaky
    ReLU of the mapping network is undone with slope 1 / negative_slope before the per-
    dimension mean and standard deviation are taken.
    """
    if samples < 2:
        raise ValueError(f"latent statistics need at least 2 samples, got {samples}")
    if not 0 < negative_slope < 1:
        raise ValueError(f"negative_slope must be in (0, 1), got {negative_slope}")
    total = torch.zeros(style_dim, dtype=torch.float64, device=device)
    total_sq = torch.zeros(style_dim, dtype=torch.float64, device=device)
    done = 0
    while done < samples:
        n = min(chunk, samples - done)
        z = torch.randn(n, style_dim, generator=generator, device=device)
        w = mapping(z)
        if w.shape != (n, style_dim):
            raise ValueError(f"mapping returned shape {tuple(w.shape)}, expected {(n, style_dim)}")
        v = F.leaky_relu(w, 1.0 / negative_slope).double()
        total += v.sum(0)
        total_sq += (v * v).sum(0)
        done += n
    mean = total / samples
    var = (total_sq - samples * mean * mean) / (samples - 1)
    std = var.clamp_min(1e-12).sqrt()
    dtype = torch.get_default_dtype()
    return LatentStats(mean.to(dtype), std.to(dtype), negative_slope)


def geocross(v: Tensor) -> Tensor:
    """Geodesic (geocross) regulariser GEO of eq. (13) over all rows of a latent; (B,).

    v: (B, n, d). For rows x_i, x_j the geodesic angle is D_ij = 2 atan2(|x_i - x_j|,
    |x_i + x_j|) (the angle between them when their norms are equal). As in PULSE and ILO
    the value is d * mean_ij D_ij^2 / 8, the mean over all n x n ordered pairs. One row
    gives 0; identical rows give 0 up to the 1e-9 that keeps the gradient finite.
    """
    if v.dim() != 3:
        raise ValueError(f"geocross expects a latent of shape (B, n, d), got {tuple(v.shape)}")
    b, n, d = v.shape
    if n < 2:
        return v.new_zeros(b)
    x, y = v.unsqueeze(1), v.unsqueeze(2)                     # (B, 1, n, d), (B, n, 1, d)
    diff = ((x - y).pow(2).sum(-1) + _EPS).sqrt()
    summ = ((x + y).pow(2).sum(-1) + _EPS).sqrt()
    angle = 2.0 * torch.atan2(diff, summ)                      # (B, n, n)
    off_diagonal = ~torch.eye(n, dtype=torch.bool, device=v.device)
    # the diagonal is a row with itself: 0 by definition (the eps would make it ~1e-10)
    sq = angle.pow(2) * off_diagonal
    return d * sq.sum((1, 2)) / (n * n) / 8.0


def sphere_radii(t: Tensor) -> Tensor:
    """Euclidean norm of every (sample, row) of t over its dimensions from 2 on.

    t: (B, C, ...) -> (B, C, 1, ...) broadcastable against t. For a latent (B, n, d) the rows
    are the n style inputs; for a noise map (B, 1, r, r) the row is the whole map.
    """
    if t.dim() < 3:
        raise ValueError(f"sphere radii need a tensor of at least 3 dimensions (B, C, ...), got {tuple(t.shape)}")
    return (t.pow(2).sum(tuple(range(2, t.dim())), keepdim=True) + _EPS).sqrt()


def project_to_sphere(t: Tensor, radii: Tensor) -> Tensor:
    """Rescale every (sample, row) of t to the norm in ``radii`` (ILO's spherical re-projection)."""
    return t / sphere_radii(t) * radii


def project_l1_ball(delta: Tensor, radius: float) -> Tensor:
    """Euclidean projection of each sample of delta (B, ...) onto {u : ||u||_1 <= radius}.

    Samples already inside are returned unchanged; the others are soft-thresholded by the
    theta that puts them on the ball's surface (Duchi et al. 2008, the projection ILO uses
    for the deviation of a variable from its value at the start of its round).
    """
    if not radius > 0:
        raise ValueError(f"l1-ball radius must be > 0, got {radius!r}")
    flat = delta.reshape(delta.shape[0], -1)
    inside = flat.abs().sum(1, keepdim=True) <= radius
    mu = flat.abs().sort(dim=1, descending=True).values
    cumsum = mu.cumsum(1)
    k = torch.arange(1, flat.shape[1] + 1, device=flat.device, dtype=flat.dtype)
    # rho: the largest k with mu_k > (sum_{j <= k} mu_j - radius) / k
    support = mu * k > cumsum - radius
    rho = (support * k).argmax(1, keepdim=True)               # index of the last True
    theta = (cumsum.gather(1, rho) - radius) / (rho + 1).to(flat.dtype)
    projected = (flat.abs() - theta).clamp_min(0) * flat.sign()
    return torch.where(inside, flat, projected).reshape(delta.shape)
