"""Channel models and channel-use accounting (Sionna style: one job per layer).

Conventions (docs/conventions.md, "Channels and SNR"):

* SNR(dB) = 10 log10(P / sigma^2)  (GJSCC eq. 5), with P the average power per channel use
  that :class:`PowerNormalize` enforces (GJSCC eqs. 2-3). Channels use the nominal ``power``
  given at construction, not a measured one.
* Real AWGN: noise N(0, sigma^2) on every real dimension; one real dimension = one real
  channel use.
* Complex AWGN: circularly-symmetric CN(0, sigma^2) per complex channel use (GJSCC eq. 4),
  i.e. sigma^2 / 2 on each of the real and imaginary parts.
* Real tensors carrying complex symbols (``channel_use="complex"``): the last dimension has
  even length 2k and holds the k symbols as interleaved pairs
  ``(Re s_0, Im s_0, Re s_1, Im s_1, ...)``, the layout of :func:`torch.view_as_complex`
  after ``reshape(..., k, 2)``.
* Dimension 0 is the batch (one image per sample); every other dimension belongs to the
  sample's k channel uses.
* Bandwidth ratio rho = k / m (GJSCC eq. 1; NTSCC's CBR R = k / m), with m = H W 3 and k
  counted in real or complex channel uses as stated by :class:`ChannelUseBudget`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Union

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "SNR_DB_RANGE",
    "ChannelUse",
    "check_snr_db",
    "check_noise_var",
    "snr_db_to_noise_var",
    "PowerNormalize",
    "RealAWGN",
    "ComplexAWGN",
    "RayleighBlockFading",
    "bandwidth_ratio",
    "real_to_complex_uses",
    "complex_to_real_uses",
    "ChannelUseBudget",
    "GilbertElliottErasure",
    "InfeasibleLossModelError",
    "WLAN_STAY_GOOD",
    "WLAN_STAY_BAD",
]

ChannelUse = Literal["real", "complex"]
SnrLike = Union[float, int, Tensor, np.ndarray]

#: Accepted SNR range in dB; values outside are almost certainly unit mistakes (linear vs dB).
SNR_DB_RANGE = (-50.0, 80.0)


# --------------------------------------------------------------------------- validation


def _as_float_array(value, name: str) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.detach().to("cpu", torch.float64).numpy()
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number or an array of numbers, got {value!r}") from exc


def check_snr_db(snr_db: SnrLike) -> SnrLike:
    """Validate an SNR in dB (scalar, array or tensor) and return it unchanged.

    Raises ``ValueError`` naming the offending value if it is NaN, infinite or outside
    ``SNR_DB_RANGE`` = [-50, 80] dB.
    """
    arr = _as_float_array(snr_db, "snr_db")
    lo, hi = SNR_DB_RANGE
    bad = ~np.isfinite(arr) | (arr < lo) | (arr > hi)
    if bad.any():
        value = arr[bad].flat[0]
        raise ValueError(
            f"snr_db={value!r} is not a valid channel SNR: it must be finite and within "
            f"[{lo:g}, {hi:g}] dB (SNR(dB) = 10 log10(P / sigma^2))"
        )
    return snr_db


def check_noise_var(noise_var: SnrLike) -> SnrLike:
    """Validate a noise variance sigma^2 (scalar, array or tensor): not NaN, not negative."""
    arr = _as_float_array(noise_var, "noise_var")
    if np.isnan(arr).any():
        raise ValueError(f"noise variance must not be NaN, got {noise_var!r}")
    if (arr < 0).any():
        value = arr[arr < 0].flat[0]
        raise ValueError(f"noise variance must be >= 0, got {value!r}")
    return noise_var


def snr_db_to_noise_var(snr_db: SnrLike, power: float = 1.0) -> SnrLike:
    """Noise variance sigma^2 = P / 10^(SNR/10)  (GJSCC eq. 5 solved for sigma^2).

    Returns the same kind as ``snr_db`` (float for a Python number, tensor for a tensor,
    ndarray for an array). For complex channels sigma^2 is the variance per complex use.
    """
    check_snr_db(snr_db)
    if not (math.isfinite(power) and power > 0):
        raise ValueError(f"signal power P must be finite and > 0, got {power!r}")
    if isinstance(snr_db, Tensor):
        return power * torch.pow(10.0, -snr_db.to(torch.get_default_dtype()) / 10.0)
    if isinstance(snr_db, np.ndarray):
        return power * np.power(10.0, -snr_db / 10.0)
    return power * 10.0 ** (-float(snr_db) / 10.0)


def _check_channel_use(channel_use: str) -> None:
    if channel_use not in ("real", "complex"):
        raise ValueError(f"channel_use must be 'real' or 'complex', got {channel_use!r}")


# --------------------------------------------------------------------------- power constraint


class PowerNormalize(nn.Module):
    """Per-sample average-power normalisation z = sqrt(k P) z~ / ||z~||  (GJSCC eq. 3).

    After it, each sample satisfies (1/k) ||z||^2 = P with equality (GJSCC eq. 2), k being
    the number of channel uses of that sample:

    * complex tensor: each entry is one complex use, mean |z|^2 per use = P;
    * real tensor, ``channel_use="real"``: each entry is one real use, mean z^2 = P;
    * real tensor, ``channel_use="complex"``: interleaved (Re, Im) pairs in the last
      dimension are the complex uses, so mean (Re^2 + Im^2) per pair = P (P/2 per entry).
      Use this before :class:`ComplexAWGN` on real tensors, otherwise the SNR is 3 dB off.

    ``channel_use=None`` (default) means "complex" for complex tensors, "real" otherwise.

    ``mask`` (bool, same shape as ``z``; for real tensors with ``channel_use="complex"`` the
    per-use shape ``(..., k)`` is accepted too) marks the channel uses actually sent in
    variable-length transmission (e.g. NTSCC's rate-adaptive s_i): only masked uses count
    towards k and ||z||, masked-out entries are set to zero. A sample with no uses (or an
    all-zero input) comes out as zeros, never NaN.

    ``over="batch"`` enforces the average power over all channel uses of the batch instead
    (the expected-power constraint E||z||^2 <= kP).  Use it for sources whose samples span
    only a few uses, such as the 2-D banana source: per sample, a single real use would be
    normalised to +-sqrt(P) and carry only its sign.  In training the batch's own power is
    used and tracked as a running average (momentum ``momentum``, like batch normalisation);
    in eval mode that running average is used, so a sample's channel input does not depend
    on the other samples it is sent with.
    """

    def __init__(self, power: float = 1.0, channel_use: ChannelUse | None = None, eps: float = 1e-12,
                 over: str = "sample", momentum: float = 0.01):
        super().__init__()
        if not (math.isfinite(power) and power > 0):
            raise ValueError(f"power must be finite and > 0, got {power!r}")
        if channel_use is not None:
            _check_channel_use(channel_use)
        if over not in ("sample", "batch"):
            raise ValueError(f"over must be 'sample' or 'batch', got {over!r}")
        self.power = float(power)
        self.channel_use = channel_use
        self.eps = eps
        self.over = over
        self.momentum = momentum
        if over == "batch":
            self.register_buffer("running_energy_per_use", torch.ones(()))

    def forward(self, z: Tensor, mask: Tensor | None = None) -> Tensor:
        channel_use = self.channel_use or ("complex" if z.is_complex() else "real")
        if z.is_complex() and channel_use == "real":
            raise ValueError("a complex tensor carries complex channel uses; channel_use='real' does not apply")
        pairs = channel_use == "complex" and not z.is_complex()
        if pairs and z.shape[-1] % 2:
            raise ValueError(f"real tensor with complex channel uses needs an even last dim, got {tuple(z.shape)}")
        if z.dim() < 2:
            raise ValueError(f"expected a batch (B, ...) of channel inputs, got shape {tuple(z.shape)}")

        energy_terms = z.abs().square() if z.is_complex() else z.square()
        if mask is None:
            m = None
            uses = torch.full((z.shape[0],), z[0].numel() / (2 if pairs else 1), dtype=energy_terms.dtype,
                              device=z.device)
        else:
            m = mask.to(torch.bool)
            if pairs and m.shape[-1] * 2 == z.shape[-1] and m.shape[:-1] == z.shape[:-1]:
                m = m.repeat_interleave(2, dim=-1)
            m = m.expand_as(z)
            energy_terms = energy_terms * m
            uses = m.flatten(1).sum(1).to(energy_terms.dtype) / (2 if pairs else 1)

        energy = energy_terms.flatten(1).sum(1)
        if self.over == "batch":
            per_use = energy.sum() / uses.sum().clamp_min(1)
            if self.training:
                with torch.no_grad():
                    self.running_energy_per_use.lerp_(per_use.detach().to(self.running_energy_per_use), self.momentum)
            else:
                per_use = self.running_energy_per_use
            energy = per_use * uses
        scale = torch.sqrt(uses * self.power) / torch.sqrt(energy.clamp_min(self.eps))
        scale = torch.where(uses > 0, scale, torch.zeros_like(scale))
        out = z * scale.reshape((-1,) + (1,) * (z.dim() - 1))
        return out if m is None else out * m

    def extra_repr(self) -> str:
        return f"power={self.power}, channel_use={self.channel_use}, over={self.over}"


# --------------------------------------------------------------------------- channels


class _NoisyChannel(nn.Module):
    """Shared SNR / generator handling: SNR set at construction, optionally per call."""

    def __init__(self, snr_db: SnrLike | None = None, power: float = 1.0,
                 generator: torch.Generator | None = None):
        super().__init__()
        if snr_db is not None:
            check_snr_db(snr_db)
        if not (math.isfinite(power) and power > 0):
            raise ValueError(f"power must be finite and > 0, got {power!r}")
        self.snr_db = snr_db
        self.power = float(power)
        self.generator = generator

    def noise_var(self, x: Tensor, snr_db: SnrLike | None = None) -> Tensor:
        """sigma^2 as a tensor broadcastable to ``x``: scalar, or one value per sample."""
        snr = self.snr_db if snr_db is None else snr_db
        if snr is None:
            raise ValueError(f"{type(self).__name__}: no SNR given at construction or call")
        snr = torch.as_tensor(snr, dtype=torch.float32, device=x.device)
        var = snr_db_to_noise_var(snr, self.power).to(x.real.dtype if x.is_complex() else x.dtype)
        if var.dim() == 0:
            return var
        if var.dim() != 1 or var.shape[0] != x.shape[0]:
            raise ValueError(f"per-sample snr_db must have shape ({x.shape[0]},), got {tuple(var.shape)}")
        return var.reshape((-1,) + (1,) * (x.dim() - 1))

    def _randn(self, shape, like: Tensor, generator: torch.Generator | None) -> Tensor:
        dtype = like.real.dtype if like.is_complex() else like.dtype
        return torch.randn(shape, generator=generator or self.generator, dtype=dtype, device=like.device)

    def extra_repr(self) -> str:
        return f"snr_db={self.snr_db}, power={self.power}"


class RealAWGN(_NoisyChannel):
    """Real AWGN channel y = x + n, n ~ N(0, sigma^2) per real dimension (NTSCC eq. 4).

    ``forward(x, snr_db=None, generator=None)``; ``snr_db`` per call may be a scalar or a
    (B,) tensor of per-sample SNRs (training over random SNRs).
    """

    def forward(self, x: Tensor, snr_db: SnrLike | None = None, generator: torch.Generator | None = None) -> Tensor:
        if x.is_complex():
            raise ValueError("RealAWGN takes real tensors; use ComplexAWGN for complex symbols")
        var = self.noise_var(x, snr_db)
        return x + torch.sqrt(var) * self._randn(x.shape, x, generator)


class ComplexAWGN(_NoisyChannel):
    """Complex AWGN channel y = z + n, n ~ CN(0, sigma^2 I_k)  (GJSCC eqs. 4-5).

    Each real and imaginary part gets variance sigma^2 / 2. Accepts complex tensors, or real
    tensors whose last dimension (even, 2k) holds k symbols as interleaved (Re, Im) pairs;
    the output has the input's dtype and layout.
    """

    def forward(self, x: Tensor, snr_db: SnrLike | None = None, generator: torch.Generator | None = None) -> Tensor:
        if not x.is_complex() and x.shape[-1] % 2:
            raise ValueError(
                f"real input to ComplexAWGN needs an even last dim (Re, Im pairs), got {tuple(x.shape)}")
        var = self.noise_var(x, snr_db)
        std = torch.sqrt(var / 2)
        if x.is_complex():
            n = torch.view_as_complex(self._randn(x.shape + (2,), x, generator))
            return x + std * n
        return x + std * self._randn(x.shape, x, generator)


def _to_complex(x: Tensor) -> Tensor:
    if x.is_complex():
        return x
    return torch.view_as_complex(x.reshape(x.shape[:-1] + (x.shape[-1] // 2, 2)).contiguous())


def _from_complex(y: Tensor, like: Tensor) -> Tensor:
    if like.is_complex():
        return y
    return torch.view_as_real(y).reshape(like.shape)


class RayleighBlockFading(_NoisyChannel):
    """Rayleigh block-fading channel y = h z + n, h ~ CN(0, 1), n ~ CN(0, sigma^2).

    The gain h is constant over blocks of ``block_length`` consecutive complex channel uses
    of each sample (uses taken in row-major order of the sample's tensor; the last block may
    be shorter); ``block_length=None`` means one gain per sample (slow fading). Since
    E|h|^2 = 1, ``snr_db`` is the average received SNR.

    Receiver:

    * ``csi=True`` (perfect CSI at the receiver): per-use equalisation,
      ``equalizer="zf"`` (default) z_hat = y / h  = z + n / h (zero forcing, unbiased),
      or ``equalizer="mmse"`` z_hat = h* y / (|h|^2 + sigma^2 / P).
    * ``csi=False``: no equalisation is possible (E[h] = 0), the raw y = h z + n is returned.

    Input: complex tensors or real tensors with interleaved (Re, Im) pairs in the last dim.
    ``forward(x, snr_db=None, generator=None, return_h=False)`` returns y, or (y, h) with h
    complex and of the complex-symbol shape of x.
    """

    def __init__(self, snr_db: SnrLike | None = None, block_length: int | None = None, csi: bool = True,
                 equalizer: Literal["zf", "mmse"] = "zf", power: float = 1.0,
                 generator: torch.Generator | None = None):
        super().__init__(snr_db, power, generator)
        if block_length is not None and (int(block_length) != block_length or block_length < 1):
            raise ValueError(f"block_length must be a positive integer or None, got {block_length!r}")
        if equalizer not in ("zf", "mmse"):
            raise ValueError(f"equalizer must be 'zf' or 'mmse', got {equalizer!r}")
        self.block_length = None if block_length is None else int(block_length)
        self.csi = csi
        self.equalizer = equalizer

    def forward(self, x: Tensor, snr_db: SnrLike | None = None, generator: torch.Generator | None = None,
                return_h: bool = False):
        if not x.is_complex() and x.shape[-1] % 2:
            raise ValueError(
                f"real input to RayleighBlockFading needs an even last dim (Re, Im pairs), got {tuple(x.shape)}")
        z = _to_complex(x)
        gen = generator or self.generator
        batch, k = z.shape[0], z[0].numel()
        block = k if self.block_length is None else self.block_length
        n_blocks = max(1, -(-k // block))
        h_blocks = torch.view_as_complex(self._randn((batch, n_blocks, 2), z, gen)) / math.sqrt(2.0)
        h = h_blocks.repeat_interleave(block, dim=1)[:, :k].reshape(z.shape)

        var = self.noise_var(z, snr_db)
        n = torch.view_as_complex(self._randn(z.shape + (2,), z, gen)) * torch.sqrt(var / 2)
        y = h * z + n
        if self.csi:
            if self.equalizer == "zf":
                y = y / h
            else:
                y = h.conj() * y / (h.abs().square() + var / self.power)
        y = _from_complex(y, x)
        return (y, h) if return_h else y

    def extra_repr(self) -> str:
        return (f"snr_db={self.snr_db}, block_length={self.block_length}, csi={self.csi}, "
                f"equalizer={self.equalizer!r}, power={self.power}")


# --------------------------------------------------------------------------- bandwidth accounting


def real_to_complex_uses(real_uses: float) -> float:
    """k complex uses carried by ``real_uses`` real dimensions (1 complex use = 2 real dims)."""
    if real_uses < 0:
        raise ValueError(f"channel uses must be >= 0, got {real_uses!r}")
    return real_uses / 2


def complex_to_real_uses(complex_uses: float) -> float:
    """Real dimensions occupied by ``complex_uses`` complex channel uses (x2)."""
    if complex_uses < 0:
        raise ValueError(f"channel uses must be >= 0, got {complex_uses!r}")
    return complex_uses * 2


def bandwidth_ratio(channel_uses: float, source_dims: float, channel_use: ChannelUse = "complex") -> float:
    """Bandwidth ratio rho = k / m  (GJSCC eq. 1; NTSCC's channel bandwidth ratio R = k / m).

    ``channel_uses`` k is counted in uses of kind ``channel_use`` and must include side
    information (hyperprior bits, rate indices k_q) as NTSCC does; m = H W 3 source
    dimensions. Convert counts with :func:`real_to_complex_uses` / :func:`complex_to_real_uses`.
    """
    _check_channel_use(channel_use)
    if not (channel_uses >= 0 and math.isfinite(channel_uses)):
        raise ValueError(f"channel_uses must be finite and >= 0, got {channel_uses!r}")
    if not (source_dims > 0 and math.isfinite(source_dims)):
        raise ValueError(f"source_dims must be finite and > 0, got {source_dims!r}")
    return channel_uses / source_dims


@dataclass(frozen=True)
class ChannelUseBudget:
    """States whether a channel use is real or complex, and labels figures accordingly."""

    channel_use: ChannelUse = "complex"
    symbol: str = "ρ"

    def __post_init__(self):
        _check_channel_use(self.channel_use)

    def ratio(self, channel_uses: float, source_dims: float) -> float:
        """rho = k / m with k in this budget's kind of channel use."""
        return bandwidth_ratio(channel_uses, source_dims, self.channel_use)

    def uses_from(self, channel_uses: float, channel_use: ChannelUse) -> float:
        """Convert a count of ``channel_use`` uses into this budget's kind."""
        _check_channel_use(channel_use)
        if channel_use == self.channel_use:
            return channel_uses
        if channel_use == "real":
            return real_to_complex_uses(channel_uses)
        return complex_to_real_uses(channel_uses)

    @property
    def axis_label(self) -> str:
        """e.g. 'bandwidth ratio ρ = k/m (k complex channel uses)'."""
        return f"bandwidth ratio {self.symbol} = k/m (k {self.channel_use} channel uses)"


# --------------------------------------------------------------------------- packet erasures


#: Two-state WLAN packet-loss model (docs/packet_loss.md): Q = P(good -> good) and
#: q = P(bad -> bad) per packet, i.e. p_gb = 1 - Q = 0.0958 and p_bg = 1 - q = 0.594, so
#: pi_B = 0.0958 / (0.0958 + 0.594) = 13.9 % loss and a mean burst 1 / (1 - q) = 1.68 packets.
#: Read the other way round (Q as bad->bad) the loss rate would be 86 %, not 13.9 %.
WLAN_STAY_GOOD = 0.9042
WLAN_STAY_BAD = 0.4060


class InfeasibleLossModelError(ValueError):
    """A (loss rate, mean burst length) pair that no Gilbert channel can produce."""


def _check_finite(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class GilbertElliottErasure:
    """Packet-erasure channel with a two-state (good/bad) Markov loss process.

    Per packet the state moves good->bad with probability ``p_gb`` and bad->good with
    ``p_bg``; a packet is lost with probability ``loss_good`` / ``loss_bad`` in the current
    state (the classic Gilbert channel is loss_good=0, loss_bad=1; Gilbert 1960, Elliott
    1963). The first state is drawn from the stationary distribution. If p_gb = p_bg = 0 the
    chain stays in the good state.

    Presets: :meth:`wlan` (13.9 % loss, mean burst 1.68 packets) and
    :meth:`from_loss_and_burst` (any feasible loss rate and mean burst length).
    """

    p_gb: float
    p_bg: float
    loss_good: float = 0.0
    loss_bad: float = 1.0

    def __post_init__(self):
        for name in ("p_gb", "p_bg", "loss_good", "loss_bad"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float, np.floating)) and 0.0 <= value <= 1.0):
                raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")

    @classmethod
    def wlan(cls) -> GilbertElliottErasure:
        """The two-state WLAN loss model: Gilbert channel with Q = P(good->good) = 0.9042 and
        q = P(bad->bad) = 0.4060, i.e. 13.9 % long-run loss and a mean burst of 1.68 packets.
        """
        return cls(p_gb=1.0 - WLAN_STAY_GOOD, p_bg=1.0 - WLAN_STAY_BAD)

    @classmethod
    def from_loss_and_burst(cls, loss_rate: float, mean_burst: float) -> GilbertElliottErasure:
        """Gilbert channel (loss_good=0, loss_bad=1) with long-run loss ``loss_rate`` in [0, 1)
        and mean loss-burst length ``mean_burst`` >= 1 packets.

        p_bg = 1 / mean_burst and p_gb = loss_rate p_bg / (1 - loss_rate). A burst of mean B
        is only possible up to loss_rate = B / (1 + B) (then p_gb = 1: one received packet
        between bursts); beyond that, or for B < 1 or loss_rate >= 1, raises
        :class:`InfeasibleLossModelError` naming the pair. ``loss_rate=0`` gives a lossless
        channel (the burst length is then unused).
        """
        loss_rate = _check_finite("loss_rate", loss_rate)
        mean_burst = _check_finite("mean_burst", mean_burst)
        if not 0.0 <= loss_rate < 1.0:
            raise InfeasibleLossModelError(
                f"loss_rate={loss_rate!r} is impossible for a Gilbert channel with finite bursts: "
                f"it must be in [0, 1)")
        if mean_burst < 1.0:
            raise InfeasibleLossModelError(
                f"mean_burst={mean_burst!r} packets is impossible: a loss burst is at least 1 packet long")
        limit = mean_burst / (1.0 + mean_burst)
        if loss_rate > limit * (1 + 1e-12):
            raise InfeasibleLossModelError(
                f"loss_rate={loss_rate!r} with mean_burst={mean_burst!r} is impossible for a Gilbert "
                f"channel: bursts of mean length B allow a loss rate of at most B / (1 + B) = {limit:.4g}")
        p_bg = 1.0 / mean_burst
        p_gb = min(1.0, loss_rate * p_bg / (1.0 - loss_rate))
        return cls(p_gb=p_gb, p_bg=p_bg)

    @property
    def stationary_bad(self) -> float:
        """pi_B = p_gb / (p_gb + p_bg)."""
        total = self.p_gb + self.p_bg
        return 0.0 if total == 0 else self.p_gb / total

    @property
    def stationary_loss_rate(self) -> float:
        """Long-run packet loss rate pi_G loss_good + pi_B loss_bad."""
        pb = self.stationary_bad
        return (1 - pb) * self.loss_good + pb * self.loss_bad

    @property
    def mean_burst_length(self) -> float:
        """Mean length of a run of consecutive lost packets (1 / p_bg for the Gilbert channel).

        Computed as loss rate / P(packet lost and previous packet received) of the stationary
        chain; 0 if no packet is ever lost, inf if every packet is lost.
        """
        pb = self.stationary_bad
        pi = np.array([1 - pb, pb])
        trans = np.array([[1 - self.p_gb, self.p_gb], [self.p_bg, 1 - self.p_bg]])
        loss = np.array([self.loss_good, self.loss_bad])
        rate = float(pi @ loss)
        run_starts = float(((pi * (1 - loss)) @ trans) @ loss)
        if rate == 0:
            return 0.0
        return math.inf if run_starts == 0 else rate / run_starts

    def states(self, n_packets: int, rng: np.random.Generator, start_bad: bool | None = None) -> np.ndarray:
        """Bool state trace (True = bad) of length ``n_packets``, sampled by sojourn times.

        ``start_bad`` fixes the first packet's state (to continue a chain across changes of
        its parameters); ``None`` draws it from the stationary distribution.
        """
        states = np.empty(n_packets, dtype=bool)
        bad = bool(rng.random() < self.stationary_bad) if start_bad is None else bool(start_bad)
        pos = 0
        while pos < n_packets:
            p_leave = self.p_bg if bad else self.p_gb
            stay = n_packets - pos if p_leave == 0 else int(rng.geometric(p_leave))
            states[pos:pos + stay] = bad
            pos += stay
            bad = not bad
        return states

    def trace(self, n_packets: int, seed: int | np.random.SeedSequence | np.random.Generator) -> np.ndarray:
        """Bool loss trace (True = packet erased) of length ``n_packets``, reproducible from ``seed``."""
        if int(n_packets) != n_packets or n_packets < 0:
            raise ValueError(f"n_packets must be a non-negative integer, got {n_packets!r}")
        rng = np.random.default_rng(seed)
        bad = self.states(int(n_packets), rng)
        loss_prob = np.where(bad, self.loss_bad, self.loss_good)
        return rng.random(int(n_packets)) < loss_prob
