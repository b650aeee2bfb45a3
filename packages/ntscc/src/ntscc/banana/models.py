"""FC models for the banana source (NTSCC Section IV-B).

* ``NTC``: g_a, g_s = FC 2-200-200-200-2 and a factorized prior (eq. 8),
  trained with eq. (13) without the hyperprior.
* ``DeepJSCC``: f_e = FC 2-200-200-k, f_d = FC k-200-200-2, fixed k.
* ``NTSCC``: the NTC transforms plus a rate-adaptive JSCC codec
  f_e = FC 2-200-200-k̄_y with k̄_y = Q'(-eta log2 P(ȳ)) (eq. 28) chosen
  from V, a rate token r_v added to the hidden features (Section III-B-2),
  one light output head per value of V, and a symmetric f_d.
A channel use here is a real one (one real AWGN sample), under an average power
constraint of 1 per use over the samples (see ``PowerNormalize(over="batch")``).
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import nn

with warnings.catch_warnings():  # compressai's import calls the deprecated torch.jit.script
    warnings.simplefilter("ignore", FutureWarning)
    from compressai.entropy_models import EntropyBottleneck

from jscc_core.channels import PowerNormalize, RealAWGN
from ntscc.rate import RateQuantizer, per_rate_linear


def check_samples(x: torch.Tensor) -> torch.Tensor:
    """Banana models take a batch of 2-D samples, shape (N, 2), floating point."""
    if x.ndim != 2 or x.shape[-1] != 2 or not x.is_floating_point():
        raise ValueError(f"banana models take float samples of shape (N, 2), got {tuple(x.shape)} {x.dtype}")
    return x


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    """FC layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class NTC(nn.Module):
    """Nonlinear transform coding with a factorized prior (eqs. 5-8, 13)."""

    def __init__(self, hidden: int = 200, latent: int = 2):
        super().__init__()
        self.g_a = mlp([2, hidden, hidden, hidden, latent])
        self.g_s = mlp([latent, hidden, hidden, hidden, 2])
        self.entropy_bottleneck = EntropyBottleneck(latent)

    def latent_likelihoods(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(ỹ or ȳ, per-dimension likelihoods): noisy proxy in training, rounding in eval."""
        y_q, lik = self.entropy_bottleneck(y.unsqueeze(-1))
        return y_q.squeeze(-1), lik.squeeze(-1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        y = self.g_a(check_samples(x))
        y_q, lik = self.latent_likelihoods(y)
        bits = -torch.log2(lik).sum(-1)
        return {"y": y, "y_q": y_q, "bits": bits, "x_hat": self.g_s(y_q)}


class DeepJSCC(nn.Module):
    """Fixed-length deep JSCC with FC codecs over ``channel_uses`` real uses."""

    def __init__(self, channel_uses: int, hidden: int = 200):
        super().__init__()
        if channel_uses < 1:
            raise ValueError(f"deep JSCC needs at least one channel use, got {channel_uses}")
        self.channel_uses = channel_uses
        self.f_e = mlp([2, hidden, hidden, channel_uses])
        self.f_d = mlp([channel_uses, hidden, hidden, 2])
        self.normalize = PowerNormalize(1.0, over="batch")  # average power constraint over samples

    def forward(self, x: torch.Tensor, channel: RealAWGN) -> dict[str, torch.Tensor]:
        s = self.normalize(self.f_e(check_samples(x)))
        x_hat = self.f_d(channel(s))
        k = torch.full((x.shape[0],), float(self.channel_uses), device=x.device)
        return {"x_hat": x_hat, "k": k}


class RateAdaptiveEncoder(nn.Module):
    """f_e: FC 2-hidden-hidden then the head of the allocated rate (Fig. 7, in FC form)."""

    def __init__(self, rate_values: Sequence[int], hidden: int, latent: int = 2):
        super().__init__()
        n_rates, v_max = len(rate_values), max(rate_values)
        self.inp = nn.Linear(latent, hidden)
        self.rate_tokens = nn.Embedding(n_rates, hidden)
        self.body = nn.Sequential(nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.head_weight = nn.Parameter(torch.randn(n_rates, v_max, hidden) * hidden**-0.5)
        self.head_bias = nn.Parameter(torch.zeros(n_rates, v_max))

    def forward(self, y: torch.Tensor, rate_index: torch.Tensor) -> torch.Tensor:
        h = self.body(self.inp(y) + self.rate_tokens(rate_index))
        return per_rate_linear(h, rate_index, self.head_weight, self.head_bias)


class RateAdaptiveDecoder(nn.Module):
    """f_d: the head of the received length maps ŝ to a common width, rate token, FC to ŷ."""

    def __init__(self, rate_values: Sequence[int], hidden: int, latent: int = 2):
        super().__init__()
        n_rates, v_max = len(rate_values), max(rate_values)
        self.head_weight = nn.Parameter(torch.randn(n_rates, hidden, v_max) * max(v_max, 1) ** -0.5)
        self.head_bias = nn.Parameter(torch.zeros(n_rates, hidden))
        self.rate_tokens = nn.Embedding(n_rates, hidden)
        self.body = nn.Sequential(nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, latent))

    def forward(self, s_hat: torch.Tensor, rate_index: torch.Tensor) -> torch.Tensor:
        h = per_rate_linear(s_hat, rate_index, self.head_weight, self.head_bias)
        return self.body(h + self.rate_tokens(rate_index))


class NTSCC(nn.Module):
    """NTSCC for the banana source: NTC transforms + rate-adaptive deep JSCC (eqs. 20-21, 28).

    The factorized prior needs no side information, so k = k_y (Section IV-B);
    the rate index is implied by the received length of each sample's block.
    """

    def __init__(self, rate_values: Sequence[int], hidden: int = 200):
        super().__init__()
        self.ntc = NTC(hidden)
        self.quantizer = RateQuantizer(rate_values)
        self.register_buffer("rate_values", torch.tensor(list(rate_values), dtype=torch.long))
        self.f_e = RateAdaptiveEncoder(rate_values, hidden)
        self.f_d = RateAdaptiveDecoder(rate_values, hidden)
        self.normalize = PowerNormalize(1.0, over="batch")  # average power constraint over samples

    def channel_mask(self, rate_index: torch.Tensor) -> torch.Tensor:
        k_bar = self.rate_values[rate_index]
        slots = torch.arange(int(self.rate_values[-1]), device=k_bar.device)
        return slots.unsqueeze(0) < k_bar.unsqueeze(1)

    def forward(self, x: torch.Tensor, channel: RealAWGN, eta: float | torch.Tensor) -> dict[str, torch.Tensor]:
        y = self.ntc.g_a(check_samples(x))
        y_q, lik = self.ntc.latent_likelihoods(y)
        bits = -torch.log2(lik).sum(-1)
        k_y = eta * bits  # eq. (28) before Q'; the training rate term of eq. (21)
        rate_index = self.quantizer.index(k_y)
        mask = self.channel_mask(rate_index)
        s = self.normalize(self.f_e(y, rate_index) * mask, mask=mask)
        s_hat = channel(s) * mask
        y_hat = self.f_d(s_hat, rate_index)
        out = {
            "x_hat": self.ntc.g_s(y_hat),
            "bits": bits,
            "k_y": k_y,
            "k": self.rate_values[rate_index].float(),
            "rate_index": rate_index,
        }
        if self.training:  # the NTC branch is only needed for d_NTC of Algorithm 1
            out["x_hat_ntc"] = self.ntc.g_s(y_q)
        return out
