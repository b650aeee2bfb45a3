"""Training objectives for the banana experiments, with d = ||x - x̂||² per sample."""
from __future__ import annotations

import torch

from jscc_core.channels import RealAWGN
from ntscc.banana.models import NTC, NTSCC, DeepJSCC


def squared_error(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    return ((x - x_hat) ** 2).sum(-1)


def ntc_loss(lmbda: float):
    """Eq. (13) with a factorized prior: d + lambda * (-log2 P(ỹ))."""

    def loss(model: NTC, x: torch.Tensor):
        out = model(x)
        d, rate = squared_error(x, out["x_hat"]).mean(), out["bits"].mean()
        total = d + lmbda * rate
        return total, {"loss": total.item(), "distortion": d.item(), "bits": rate.item()}

    return loss


def deepjscc_loss(snr_db: float):
    channel = RealAWGN(snr_db)

    def loss(model: DeepJSCC, x: torch.Tensor):
        d = squared_error(x, model(x, channel)["x_hat"]).mean()
        return d, {"loss": d.item(), "distortion": d.item()}

    return loss


def ntscc_loss(lmbda: float, snr_db: float, eta_range: tuple[float, float]):
    """Algorithm 1, line 6: d(x, x̂_NTSCC) + d(x, x̂_NTC) + lambda * k_y.

    eta is drawn uniformly from ``eta_range`` for each minibatch, so every head
    of V sees training samples in proportion to its width and eta can be swept
    at test time (Fig. 10(c)).
    """
    channel = RealAWGN(snr_db)
    lo, hi = eta_range

    def loss(model: NTSCC, x: torch.Tensor):
        eta = lo + (hi - lo) * float(torch.rand(()))
        out = model(x, channel, eta)
        d = squared_error(x, out["x_hat"]).mean()
        d_ntc = squared_error(x, out["x_hat_ntc"]).mean()
        k_y = out["k_y"].mean()
        total = d + d_ntc + lmbda * k_y
        return total, {"loss": total.item(), "distortion": d.item(), "distortion_ntc": d_ntc.item(),
                       "k_y": k_y.item(), "k": out["k"].mean().item()}

    return loss
