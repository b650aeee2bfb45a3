"""Rate-adaptive deep JSCC codec f_e / f_d* of NTSCC for images (Section III-B-2, Fig. 7).

The codec works on tensors: the latent y (B, c, h, w) of g_a, whose spatial positions are
the patch embeddings y_i (read top left to bottom right), the hyperprior's μ̄, σ̄ (same shape)
and the per-patch entropy -log2 P(ȳ_i | z̄) (B, h, w).

Channel-use convention
----------------------
A value v of V, and k̄_{y_i} = Q'(η · bits_i) (eq. 28), is the *dimension of s_i*: the
number of real symbols the light FC head of f_e outputs for patch y_i ("to adaptively map
y_i to a k̄_{y_i}-dimensional channel-input vector s_i", Section III-B-2; "f_e can only
support k̄_{y_i} = 256 dimensions for each patch embedding y_i at most", Section IV-C,
with c = 256). Images go over the complex AWGN channel, where consecutive real symbols
(s_{i,2j}, s_{i,2j+1}) form one complex channel use, so patch i takes k̄_{y_i} / 2 complex
uses and every v in V must be even. Reported costs (``k_y``, ``k_y_relaxed``, ``symbols``)
are complex channel uses, the k of the channel bandwidth ratio R = k / m with m = 3 H W
(``jscc_core.channels.bandwidth_ratio(k, 3 * H * W, "complex")``); this is the
accounting of the authors' code, which divides the number of real symbols by 2 H W 3.
The paper's V = {16, 32, ..., 256} thus spans 8 to 128 complex uses per patch.

The power constraint holds per image over the symbols actually sent: (1/k_y) Σ |s|² = 1
per complex use (``PowerNormalize(over="sample", channel_use="complex")`` with the mask).

Attention
---------
The shared Transformer blocks of f_e and f_d* (eqs. 26-27) run MHSA with a learnable relative
position bias within w × w windows of the h × w patch grid, every second block on windows
shifted by w // 2 (Section IV-A-4: 16 × 16 windows; ``ntscc.image.swin.SwinBlock``). A grid no
larger than the window is one window. ``window=None`` is global attention without position
information over all h · w patches (cost quadratic in h · w).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch
from torch import nn

from jscc_core.channels import PowerNormalize
from ntscc.image.swin import SwinBlock
from ntscc.rate import RateQuantizer, per_rate_linear

#: Real symbols per complex channel use.
REAL_PER_COMPLEX_USE = 2
#: Values of ``JSCCConfig.rate_likelihood``.
RATE_LIKELIHOODS = ("quantized", "continuous")


# --------------------------------------------------------------------------- configuration


def _positive_int(value, name: str, minimum: int = 1) -> int:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not (ok and int(value) == value and value >= minimum):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class JSCCConfig:
    """Hyper-parameters of f_e and f_d*.

    c: channels of y (width of each y_i); d: token width of the shared Transformers;
    n_e / n_d: Transformer blocks in f_e / f_d*; heads: attention heads;
    rate_values: V, in real symbols per patch (dimension of s_i; even, increasing);
    refine: hyperprior-aided refinement of eq. (19) (off = Comparison-I);
    rate_adaptive: off = Comparison-II, every s_i has ``fixed_rate`` real symbols and
    there are no rate tokens; mlp_ratio: Transformer MLP width / d;
    refine_hidden: hidden width of the refinement MLP (None: 2 · 3c);
    shared_head: one FC head d -> max V whose first k̄_{y_i} outputs are sent (and one
    max V -> d head in f_d* reading the zero-padded ŝ_i) instead of one head per value of V.
    With few training steps the per-value heads of rarely chosen values stay untrained; the
    shared head's weights for symbol j train on every patch that sends at least j symbols.
    window: side w of the attention windows on the patch grid, shifted in every second block
    (None: global attention without position bias).

    Layout options (defaults: this project's codec; the other values rebuild the authors' released
    code, ``pipelines/profiles/official.yaml``):

    * shift_windows: False keeps every block on unshifted windows (W-MSA only);
    * projections: f_e starts with a Linear c -> d and f_d* ends with LayerNorm and a Linear
      d -> c (False: neither; d must equal c, f_e keeps its final LayerNorm);
    * likelihood_refine_hidden: f_e first refines each y_i with the element likelihoods of the
      entropy model, y_i + MLP([1 - P(y_i), y_i]), an MLP 2c -> hidden -> c with GELU (None: not);
    * rescale_received: f_d* reads ŝ multiplied back by the RMS amplitude per complex use of the
      image's f_e output, the factor its power normalisation divided by (the receiver knows it);
    * rate_likelihood: the P(y_i) that sets k̄_{y_i} (eq. 28): "quantized", P(ȳ_i | z̄) of the
      entropy model (compressai's), or "continuous", ``ImageNTC.continuous_likelihoods`` at the
      unquantised y.
    """

    c: int
    d: int
    n_e: int
    n_d: int
    heads: int
    rate_values: tuple[int, ...]
    refine: bool = True
    rate_adaptive: bool = True
    fixed_rate: int | None = None
    mlp_ratio: float = 4.0
    refine_hidden: int | None = None
    shared_head: bool = False
    window: int | None = None
    shift_windows: bool = True
    projections: bool = True
    likelihood_refine_hidden: int | None = None
    rescale_received: bool = False
    rate_likelihood: str = "quantized"

    def __post_init__(self):
        for name in ("c", "d", "heads"):
            _positive_int(getattr(self, name), name)
        for name in ("n_e", "n_d"):
            _positive_int(getattr(self, name), name, minimum=0)
        if self.d % self.heads:
            raise ValueError(f"heads={self.heads} must divide d={self.d}")
        if not (isinstance(self.mlp_ratio, (int, float)) and math.isfinite(self.mlp_ratio) and self.mlp_ratio > 0):
            raise ValueError(f"mlp_ratio must be a positive number, got {self.mlp_ratio!r}")
        if self.refine_hidden is not None:
            _positive_int(self.refine_hidden, "refine_hidden")
        if self.window is not None:
            object.__setattr__(self, "window", _positive_int(self.window, "window"))
        for name in ("shift_windows", "projections", "rescale_received"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not self.projections and self.d != self.c:
            raise ValueError(f"projections=False feeds y_i to the Transformers as is: d ({self.d}) must equal "
                             f"c ({self.c})")
        if self.likelihood_refine_hidden is not None:
            _positive_int(self.likelihood_refine_hidden, "likelihood_refine_hidden")
            if not self.rate_adaptive:
                raise ValueError("likelihood_refine_hidden reads the entropy model's likelihoods, which "
                                 "rate_adaptive=False (Comparison-II) does not use")
        if self.rate_likelihood not in RATE_LIKELIHOODS:
            raise ValueError(f"rate_likelihood must be one of {RATE_LIKELIHOODS}, got {self.rate_likelihood!r}")
        try:
            values = tuple(int(v) for v in self.rate_values)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"rate_values must be a sequence of integers, got {self.rate_values!r}") from exc
        if any(int(v) != v for v in self.rate_values):
            raise ValueError(f"rate_values must be integers, got {self.rate_values!r}")
        object.__setattr__(self, "rate_values", values)
        if values:
            if any(b <= a for a, b in zip(values, values[1:])) or values[0] < 0:
                raise ValueError(f"rate_values must be non-negative and strictly increasing, got {values}")
            if any(v % REAL_PER_COMPLEX_USE for v in values):
                raise ValueError(f"rate_values must be even (real symbols, 2 per complex use), got {values}")
        if self.rate_adaptive:
            if not values:
                raise ValueError("rate_values must list V when rate_adaptive=True")
            if self.fixed_rate is not None:
                raise ValueError(f"fixed_rate={self.fixed_rate!r} is only used with rate_adaptive=False")
        else:
            if self.fixed_rate is None:
                raise ValueError("fixed_rate (real symbols per patch) is required when rate_adaptive=False")
            _positive_int(self.fixed_rate, "fixed_rate")
            if self.fixed_rate % REAL_PER_COMPLEX_USE:
                raise ValueError(f"fixed_rate must be even (real symbols, 2 per complex use), got {self.fixed_rate}")

    @classmethod
    def paper(cls, c: int = 256, **overrides) -> JSCCConfig:
        """Section IV-A-4: d = c = 256, N_e = N_d = 4, 8 heads, V = {16, 32, ..., 256} (k_q = 4),
        shifted 16 × 16 windows."""
        base = cls(c=c, d=256, n_e=4, n_d=4, heads=8, rate_values=tuple(range(16, 257, 16)), window=16)
        return replace(base, **overrides)

    @property
    def values(self) -> tuple[int, ...]:
        """Per-patch lengths the codec can send: V, or (fixed_rate,) for Comparison-II."""
        return self.rate_values if self.rate_adaptive else (int(self.fixed_rate),)

    @property
    def max_length(self) -> int:
        return max(self.values)


# --------------------------------------------------------------------------- rate allocation


class RateAllocator:
    """k̄_{y_i} = Q'(η · bits_i) over V (eq. 28); V in real symbols per patch."""

    def __init__(self, rate_values: Sequence[int]):
        self.quantizer = RateQuantizer(rate_values)

    @property
    def k_q(self) -> int:
        """Bits signalling one patch's rate index (log2 |V|)."""
        return self.quantizer.k_q

    @property
    def values(self) -> torch.Tensor:
        return self.quantizer.values

    def __call__(self, bits_per_patch: torch.Tensor, eta: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(k_{y_i} = η · bits_i, differentiable; index of Q'(k_{y_i}) in V), both (B, h, w)."""
        eta = check_eta(eta, bits_per_patch)
        k_relaxed = eta * bits_per_patch
        return k_relaxed, self.quantizer.index(k_relaxed)


def check_eta(eta: float | torch.Tensor, bits_per_patch: torch.Tensor) -> torch.Tensor:
    """η as a tensor broadcastable to (B, h, w): a positive scalar or one value per image."""
    eta_t = torch.as_tensor(eta, dtype=bits_per_patch.dtype, device=bits_per_patch.device)
    if eta_t.dim() == 1 and eta_t.shape[0] == bits_per_patch.shape[0]:
        eta_t = eta_t.reshape(-1, 1, 1)
    elif eta_t.dim() != 0:
        raise ValueError(f"eta must be a scalar or have shape ({bits_per_patch.shape[0]},), got {tuple(eta_t.shape)}")
    if not (torch.isfinite(eta_t).all() and (eta_t > 0).all()):
        raise ValueError(f"eta must be finite and > 0, got {eta!r}")
    return eta_t


def symbol_mask(k_bar: torch.Tensor, length: int) -> torch.Tensor:
    """Bool (..., length): True on the first k̄ slots of each s_i, the symbols actually sent."""
    slots = torch.arange(length, device=k_bar.device)
    return slots < k_bar.unsqueeze(-1)


# --------------------------------------------------------------------------- building blocks


class TransformerBlock(nn.Module):
    """Pre-norm block: X + MHSA(LN(X)), then + MLP(LN(·)) with GELU (eqs. 26-27), global
    attention over all tokens without position information (``JSCCConfig.window=None``)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        hidden = max(1, round(dim * mlp_ratio))
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


def transformer_blocks(config: JSCCConfig, depth: int) -> nn.ModuleList:
    """``depth`` shared Transformer blocks of f_e or f_d*: windowed (W-MSA, SW-MSA alternating)
    or global (``config.window=None``)."""
    if config.window is None:
        return nn.ModuleList(TransformerBlock(config.d, config.heads, config.mlp_ratio) for _ in range(depth))
    return nn.ModuleList(SwinBlock(config.d, config.heads, config.window, shifted=config.shift_windows and i % 2 == 1,
                                   mlp_ratio=config.mlp_ratio) for i in range(depth))


def run_blocks(blocks: nn.ModuleList, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Tokens (B, h·w, d) of an h × w patch grid (raster order) through ``blocks``."""
    b, length, d = x.shape
    h, w = grid
    if h * w != length:
        raise ValueError(f"{length} tokens are not a {h} x {w} patch grid")
    for block in blocks:
        x = block(x) if isinstance(block, TransformerBlock) else block(x.reshape(b, h, w, d)).reshape(b, length, d)
    return x


def to_tokens(t: torch.Tensor) -> torch.Tensor:
    """(B, c, h, w) -> (B, h·w, c), patches from top left to bottom right."""
    return t.flatten(2).transpose(1, 2)


def from_tokens(t: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(B, h·w, c) -> (B, c, h, w)."""
    return t.transpose(1, 2).reshape(t.shape[0], t.shape[2], h, w)


class _RateHeads(nn.Module):
    """One light FC layer per value of V (weights (|V|, out, in)); row n uses head rate_index[n]."""

    def __init__(self, n_rates: int, d_in: int, d_out: int, fan_in: Sequence[int]):
        super().__init__()
        scale = torch.tensor([max(f, 1) ** -0.5 for f in fan_in]).reshape(-1, 1, 1)
        self.weight = nn.Parameter(torch.randn(n_rates, d_out, d_in) * scale)
        self.bias = nn.Parameter(torch.zeros(n_rates, d_out))

    def forward(self, h: torch.Tensor, rate_index: torch.Tensor) -> torch.Tensor:
        lead = h.shape[:-1]
        out = per_rate_linear(h.reshape(-1, h.shape[-1]), rate_index.reshape(-1), self.weight, self.bias)
        return out.reshape(*lead, -1)


# --------------------------------------------------------------------------- f_e and f_d*


class JSCCEncoder(nn.Module):
    """f_e: FC c->d, + rate token r_{k̄_{y_i}}, N_e shared Transformer blocks, per-rate FC head d->k̄_{y_i}.

    Input y tokens (B, L, c) of an h × w patch grid (``grid``, L = h·w) and rate indices (B, L);
    output s (B, L, max V), zero beyond k̄_{y_i}. ``likelihoods`` (B, L, c), the entropy model's
    P(y_i) per element, is read only with ``likelihood_refine_hidden``.
    Comparison-II (``rate_adaptive=False``): no rate tokens, one FC head d -> fixed_rate.
    """

    def __init__(self, config: JSCCConfig):
        super().__init__()
        self.config = config
        values = config.values
        self.register_buffer("lengths", torch.tensor(values, dtype=torch.long), persistent=False)
        self.embed = nn.Linear(config.c, config.d) if config.projections else None
        self.rate_tokens = nn.Embedding(len(values), config.d) if config.rate_adaptive else None
        if self.rate_tokens is not None:
            nn.init.normal_(self.rate_tokens.weight, std=0.02)
        self.blocks = transformer_blocks(config, config.n_e)
        self.norm = nn.LayerNorm(config.d)
        if config.rate_adaptive and not config.shared_head:
            self.heads = _RateHeads(len(values), config.d, max(values), [config.d] * len(values))
        else:
            self.heads = nn.Linear(config.d, max(values))
        hidden = config.likelihood_refine_hidden
        self.likelihood_refinement = (None if hidden is None else
                                      nn.Sequential(nn.Linear(2 * config.c, hidden), nn.GELU(),
                                                    nn.Linear(hidden, config.c)))

    def forward(self, y_tokens: torch.Tensor, rate_index: torch.Tensor, grid: tuple[int, int],
                likelihoods: torch.Tensor | None = None) -> torch.Tensor:
        if self.likelihood_refinement is not None:
            if likelihoods is None:
                raise ValueError("likelihoods (P(y_i) per element) are required when likelihood_refine_hidden is set")
            y_tokens = y_tokens + self.likelihood_refinement(torch.cat([1 - likelihoods, y_tokens], dim=-1))
        h = y_tokens if self.embed is None else self.embed(y_tokens)
        if self.rate_tokens is not None:
            h = h + self.rate_tokens(rate_index)
        h = self.norm(run_blocks(self.blocks, h, grid))
        if not self.config.rate_adaptive:
            return self.heads(h)
        s = self.heads(h) if self.config.shared_head else self.heads(h, rate_index)
        return s * symbol_mask(self.lengths[rate_index], s.shape[-1])


class JSCCDecoder(nn.Module):
    """f_d*: per-rate FC head k̄_{y_i}->d on the first k̄_{y_i} received symbols, + rate token,
    N_d shared Transformer blocks, LayerNorm and FC d->c giving y̌ (``projections=False``: the
    blocks' output is y̌); then the refinement of eq. (19), ŷ = y̌ + MLP([y̌, μ̄, σ̄]) with a
    two-layer MLP per patch (``refine=False``: ŷ = y̌).
    """

    def __init__(self, config: JSCCConfig):
        super().__init__()
        self.config = config
        values = config.values
        self.register_buffer("lengths", torch.tensor(values, dtype=torch.long), persistent=False)
        if config.rate_adaptive:
            self.heads = (nn.Linear(max(values), config.d) if config.shared_head
                          else _RateHeads(len(values), max(values), config.d, values))
            self.rate_tokens = nn.Embedding(len(values), config.d)
            nn.init.normal_(self.rate_tokens.weight, std=0.02)
        else:
            self.heads = nn.Linear(max(values), config.d)
            self.rate_tokens = None
        self.blocks = transformer_blocks(config, config.n_d)
        self.norm = nn.LayerNorm(config.d) if config.projections else None
        self.out = nn.Linear(config.d, config.c) if config.projections else None
        if config.refine:
            hidden = config.refine_hidden or 2 * 3 * config.c
            self.refinement = nn.Sequential(nn.Linear(3 * config.c, hidden), nn.GELU(), nn.Linear(hidden, config.c))
        else:
            self.refinement = None

    def tentative(self, s_hat: torch.Tensor, rate_index: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """y̌ tokens (B, L, c) from received ŝ (B, L, max V) of an h × w patch grid (``grid``)."""
        if self.rate_tokens is None:
            h = self.heads(s_hat)
        else:
            s_hat = s_hat * symbol_mask(self.lengths[rate_index], s_hat.shape[-1])
            h = self.heads(s_hat) if self.config.shared_head else self.heads(s_hat, rate_index)
            h = h + self.rate_tokens(rate_index)
        h = run_blocks(self.blocks, h, grid)
        return h if self.out is None else self.out(self.norm(h))

    def refine(self, y_check: torch.Tensor, mu: torch.Tensor | None, sigma: torch.Tensor | None) -> torch.Tensor:
        """ŷ tokens from y̌ and the hyperprior's μ̄, σ̄ tokens (eq. 19)."""
        if self.refinement is None:
            return y_check
        return y_check + self.refinement(torch.cat([y_check, mu, sigma], dim=-1))

    def forward(self, s_hat: torch.Tensor, rate_index: torch.Tensor, grid: tuple[int, int],
                mu: torch.Tensor | None = None, sigma: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        y_check = self.tentative(s_hat, rate_index, grid)
        return y_check, self.refine(y_check, mu, sigma)


# --------------------------------------------------------------------------- the codec


class RateAdaptiveJSCC(nn.Module):
    """NTSCC's deep JSCC step: allocate k̄_{y_i} (eq. 28), s = f_e(y), per-image power
    normalisation over the sent symbols, ŝ = W(s; ν), ŷ = f_d*(ŝ, μ̄, σ̄) (eq. 20).

    ``forward(y, mu, sigma, bits_per_patch, channel, eta, likelihoods)`` returns a dict of

    * ``y_hat``, ``y_check`` (B, c, h, w): ŷ and the tentative y̌ before refinement;
    * ``rate_index`` (B, h, w) long, index into V (all 0 in Comparison-II);
    * ``k_bar`` (B, h, w) long: k̄_{y_i}, real symbols of s_i;
    * ``k_y`` (B,) float: complex channel uses sent for y, Σ_i k̄_{y_i} / 2;
    * ``k_y_relaxed`` (B,) float: Σ_i η · bits_i / 2, the differentiable k_y of eq. (21),
      in the same complex uses as ``k_y`` (equal to ``k_y`` in Comparison-II);
    * ``symbols`` (B,) long: complex channel uses written into the channel (mask count);
    * ``s`` (B, h·w, max V) real: the normalised channel input, zero where ``mask`` is False;
      pairs (s[..., 2j], s[..., 2j+1]) are the real and imaginary parts of one use;
    * ``mask`` (B, h·w, max V) bool: the symbols sent.

    The rate indices are side information: ``rate_index_bits(h, w)`` bits per image.
    ``channel`` is any callable on real (B, n) tensors of interleaved (Re, Im) pairs,
    e.g. ``jscc_core.channels.ComplexAWGN(snr_db)``.
    """

    def __init__(self, config: JSCCConfig):
        super().__init__()
        self.config = config
        self.allocator = RateAllocator(config.values)
        self.register_buffer("lengths", torch.tensor(config.values, dtype=torch.long), persistent=False)
        self.f_e = JSCCEncoder(config)
        self.f_d = JSCCDecoder(config)
        self.normalize = PowerNormalize(1.0, channel_use="complex", over="sample")

    # ---- side information

    @property
    def k_q(self) -> int:
        """Bits per patch signalling its rate index (0 in Comparison-II, nothing is signalled)."""
        return self.allocator.k_q if self.config.rate_adaptive else 0

    def rate_index_bits(self, h: int, w: int) -> int:
        """Side-information bits of the rate indices of one image with h × w patches: k_q · h · w."""
        return self.k_q * _positive_int(h, "h") * _positive_int(w, "w")

    # ---- input checks

    def _check(self, y, mu, sigma, bits_per_patch, eta) -> None:
        c = self.config.c
        if not (isinstance(y, torch.Tensor) and y.dim() == 4 and y.shape[1] == c and y.is_floating_point()):
            shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise ValueError(f"y must be a float tensor (B, {c}, h, w), got shape {shape}")
        for name, t in (("mu", mu), ("sigma", sigma)):
            if t is None:
                if self.config.refine:
                    raise ValueError(f"{name} (μ̄/σ̄ of the hyperprior) is required when refine=True")
            elif tuple(t.shape) != tuple(y.shape):
                raise ValueError(f"{name} must have the shape of y {tuple(y.shape)}, got shape {tuple(t.shape)}")
        if self.config.rate_adaptive:
            if bits_per_patch is None or eta is None:
                raise ValueError("bits_per_patch and eta are required when rate_adaptive=True")
            b, _, h, w = y.shape
            if tuple(bits_per_patch.shape) != (b, h, w):
                raise ValueError(f"bits_per_patch must have shape {(b, h, w)}, got shape {tuple(bits_per_patch.shape)}")

    # ---- transmitter / receiver

    def allocate(self, y: torch.Tensor, bits_per_patch: torch.Tensor | None,
                 eta: float | torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(η · bits_i in real symbols, rate index), both (B, h, w)."""
        if not self.config.rate_adaptive:
            b, _, h, w = y.shape
            index = torch.zeros(b, h, w, dtype=torch.long, device=y.device)
            return self.lengths[index].to(y.dtype), index
        return self.allocator(bits_per_patch.to(y.dtype), eta)

    def encode(self, y: torch.Tensor, rate_index: torch.Tensor,
               likelihoods: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised channel input s and its mask, both (B, h·w, max V); ``likelihoods`` (B, c, h, w):
        the entropy model's P(y) per element, for f_e's ``likelihood_refine_hidden``."""
        s, mask, _ = self._encode(y, rate_index, likelihoods)
        return s, mask

    def _encode(self, y: torch.Tensor, rate_index: torch.Tensor,
                likelihoods: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(normalised s, mask, f_e's output before the power normalisation), each (B, h·w, max V)."""
        index = rate_index.flatten(1)
        p = None if likelihoods is None else to_tokens(likelihoods)
        raw = self.f_e(to_tokens(y), index, tuple(y.shape[-2:]), p)
        mask = symbol_mask(self.lengths[index], raw.shape[-1])
        b, length, width = raw.shape
        s = self.normalize(raw.reshape(b, -1), mask=mask.reshape(b, -1))
        return s.reshape(b, length, width), mask, raw

    @staticmethod
    def rms_amplitude(raw: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, 1, 1): sqrt(Σ s² / k) of f_e's output over the k complex uses sent, the factor the
        power normalisation divides each image's symbols by (``rescale_received``)."""
        uses = mask.flatten(1).sum(1).to(raw.dtype) / REAL_PER_COMPLEX_USE
        energy = (raw * mask).square().flatten(1).sum(1)
        return (energy / uses.clamp_min(1)).sqrt().reshape(-1, 1, 1)

    def decode(self, s_hat: torch.Tensor, rate_index: torch.Tensor, mu: torch.Tensor | None = None,
               sigma: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(y̌, ŷ), both (B, c, h, w), from ŝ (B, h·w, max V) and the signalled rate indices (B, h, w)."""
        h, w = rate_index.shape[-2:]
        mu_t = None if mu is None else to_tokens(mu)
        sigma_t = None if sigma is None else to_tokens(sigma)
        y_check, y_hat = self.f_d(s_hat, rate_index.flatten(1), (h, w), mu_t, sigma_t)
        return from_tokens(y_check, h, w), from_tokens(y_hat, h, w)

    def forward(self, y: torch.Tensor, mu: torch.Tensor | None, sigma: torch.Tensor | None,
                bits_per_patch: torch.Tensor | None, channel: Callable[[torch.Tensor], torch.Tensor],
                eta: float | torch.Tensor | None = None,
                likelihoods: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        self._check(y, mu, sigma, bits_per_patch, eta)
        b = y.shape[0]
        k_relaxed, rate_index = self.allocate(y, bits_per_patch, eta)
        s, mask, raw = self._encode(y, rate_index, likelihoods)
        s_hat = channel(s.reshape(b, -1)).reshape(s.shape) * mask  # the receiver reads only the sent symbols
        if self.config.rescale_received:
            s_hat = s_hat * self.rms_amplitude(raw, mask)
        y_check, y_hat = self.decode(s_hat, rate_index, mu, sigma)
        k_bar = self.lengths[rate_index]
        return {
            "y_hat": y_hat,
            "y_check": y_check,
            "rate_index": rate_index,
            "k_bar": k_bar,
            "k_y": k_bar.flatten(1).sum(1).to(y.dtype) / REAL_PER_COMPLEX_USE,
            "k_y_relaxed": k_relaxed.flatten(1).sum(1) / REAL_PER_COMPLEX_USE,
            "symbols": mask.flatten(1).sum(1) // REAL_PER_COMPLEX_USE,
            "s": s,
            "mask": mask,
        }
