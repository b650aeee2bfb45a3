"""Evaluation of the banana models: SDR (eq. 30) against bandwidth ratio R = k/m, and maps."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from jscc_core.capacity import awgn_capacity
from jscc_core.channels import RealAWGN
from jscc_core.metrics import sdr_db
from ntscc.banana.models import NTC, NTSCC, DeepJSCC
from ntscc.banana.source import BananaSource

SOURCE_DIMS = 2
CHUNK = 65536


@dataclass(frozen=True)
class Point:
    """One point of Fig. 10(c): average bandwidth ratio (real uses / source dims) and SDR."""

    bandwidth_ratio: float
    sdr_db: float
    bits: float | None = None


def _chunks(x: torch.Tensor):
    return x.split(CHUNK)


@torch.no_grad()
def ntscc_point(model: NTSCC, x: torch.Tensor, snr_db: float, eta: float) -> Point:
    channel = RealAWGN(snr_db)
    model.eval()
    outs = [model(xb, channel, eta) for xb in _chunks(x)]
    x_hat, k, bits = (torch.cat([o[key] for o in outs]) for key in ("x_hat", "k", "bits"))
    return Point(float(k.double().mean()) / SOURCE_DIMS, sdr_db(x, x_hat), float(bits.double().mean()))


@torch.no_grad()
def deepjscc_point(model: DeepJSCC, x: torch.Tensor, snr_db: float) -> Point:
    channel = RealAWGN(snr_db)
    model.eval()
    x_hat = torch.cat([model(xb, channel)["x_hat"] for xb in _chunks(x)])
    return Point(model.channel_uses / SOURCE_DIMS, sdr_db(x, x_hat))


@torch.no_grad()
def ntc_capacity_point(model: NTC, x: torch.Tensor, snr_db: float) -> Point:
    """NTC + a capacity-achieving code: ȳ sent error-free at C = ½log2(1+SNR) bits per real use."""
    model.eval()
    outs = [model(xb) for xb in _chunks(x)]
    x_hat, bits = (torch.cat([o[key] for o in outs]) for key in ("x_hat", "bits"))
    mean_bits = float(bits.double().mean())
    uses = mean_bits / awgn_capacity(snr_db, channel_use="real")
    return Point(uses / SOURCE_DIMS, sdr_db(x, x_hat), mean_bits)


@dataclass
class Grid:
    """A regular grid over the source plane for the maps of Figs. 9 and 10."""

    x1: torch.Tensor
    x2: torch.Tensor

    @classmethod
    def covering(cls, samples: torch.Tensor, resolution: int, quantile: float = 0.002) -> "Grid":
        lo = torch.quantile(samples[:100000], quantile, dim=0)
        hi = torch.quantile(samples[:100000], 1 - quantile, dim=0)
        return cls(torch.linspace(float(lo[0]), float(hi[0]), resolution),
                   torch.linspace(float(lo[1]), float(hi[1]), resolution))

    def points(self) -> torch.Tensor:
        a, b = torch.meshgrid(self.x1, self.x2, indexing="xy")
        return torch.stack([a.flatten(), b.flatten()], dim=-1)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.x2), len(self.x1)

    @property
    def cell_area(self) -> float:
        return float((self.x1[1] - self.x1[0]) * (self.x2[1] - self.x2[0]))


def source_density(grid: Grid) -> torch.Tensor:
    """Fig. 9(a): the exact source density on the grid."""
    return BananaSource().log_prob(grid.points()).exp().reshape(grid.shape)


@torch.no_grad()
def learned_density(model: NTC, grid: Grid) -> torch.Tensor:
    """Fig. 9(b): the density the entropy model implies on the source plane.

    Each quantisation cell {x : Q(g_a(x)) = ȳ} gets the probability mass P(ȳ)
    spread uniformly over its area on the grid.
    """
    model.eval()
    pts = grid.points()
    y_bar, lik = model.latent_likelihoods(model.g_a(pts))
    mass = lik.double().prod(-1)
    _, cell, counts = torch.unique(y_bar, dim=0, return_inverse=True, return_counts=True)
    return (mass / (counts[cell].double() * grid.cell_area)).reshape(grid.shape)


@torch.no_grad()
def bandwidth_map(model: NTSCC, grid: Grid, snr_db: float, eta: float) -> torch.Tensor:
    """Fig. 9(c): allocated channel uses k̄_y at each point of the source plane."""
    model.eval()
    out = model(grid.points(), RealAWGN(snr_db), eta)
    return out["k"].reshape(grid.shape)


@torch.no_grad()
def sdr_map(model, grid: Grid, snr_db: float, draws: int, eta: float | None = None) -> torch.Tensor:
    """Figs. 10(a)(b): per-point SDR 10log10(||x||² / E_n||x - x̂||²), the error averaged over
    ``draws`` noise draws before the ratio (so not ``metrics.sdr_db_per_sample`` of one draw)."""
    model.eval()
    channel = RealAWGN(snr_db)
    pts = grid.points()
    err = torch.zeros(len(pts), dtype=torch.float64)
    for _ in range(draws):
        out = model(pts, channel) if eta is None else model(pts, channel, eta)
        err += ((pts - out["x_hat"]) ** 2).sum(-1).double()
    return (10 * torch.log10((pts.double() ** 2).sum(-1) / (err / draws))).reshape(grid.shape)
