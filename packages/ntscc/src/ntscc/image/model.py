"""NTSCC for images: NTC transforms + rate-adaptive deep JSCC (eqs. 20-21, 28; Algorithm 1; Figs. 4, 8, 17).

``ImageNTSCC`` composes ``ImageNTC`` (g_a, g_s, h_a, h_s and the entropy models) with
``RateAdaptiveJSCC`` (f_e, f_d*). At the transmitter y = g_a(x) goes through f_e unquantised;
z̄ = Q(h_a(y)) gives (μ̄, σ̄) = h_s(z̄), hence -log2 P(ȳ_i | z̄) per patch and the length
k̄_{y_i} = Q'(η · bits_i) of s_i (eq. 28). The receiver decodes z̄ from its bitstream, computes
the same (μ̄, σ̄) and forms ŷ = f_d*(ŝ, μ̄, σ̄), x̂ = g_s(ŷ) (eq. 20).

Bandwidth accounting (the CBR of every image result of this project)
--------------------------------------------------------------------
All counts are complex channel uses per image; CBR R = k / (3 H W).

    k = k_y + k_z + k_q

* k_y: uses of the analog JSCC symbols, Σ_i k̄_{y_i} / 2 (V counts real symbols, two per
  complex use; see ``ntscc.image.jscc``).
* k_z: z̄ is entropy-coded and sent over a digital link (``SideInfoLink``). The bits are the
  length of the real bitstream in eval mode (``ImageNTC.compress_z``, 8 · bytes) and the
  estimate Σ -log2 P(z̃) in training. The link is either
  - "capacity" (default): k_z = bits / log2(1 + SNR), the C_z of eq. (20); or
  - an ``MCS`` of ``jscc_core.digital.mcs``: k_z = ceil((bits + 24) / mcs.k) · mcs.num_symbols,
    whole LDPC codewords carrying the bits and a 24-bit CRC (nothing sent: 0 uses).
  In both cases the side information is assumed to be received without error.
* k_q: the rate indices, k_q bits per patch (``RateAdaptiveJSCC.rate_index_bits``, log2 |V|
  each), sent over the same link as a separate message (own CRC in MCS mode).

Ablations (Section IV-E, Fig. 17)
---------------------------------
* Comparison-I (``JSCCConfig.refine=False``): no refinement, ŷ = y̌, and k_z = 0. The paper
  removes the cost of z "because it will not be used in the receiver". The transmitter still
  computes z̄ and (μ̄, σ̄) locally to allocate k̄_{y_i} (eq. 28) but sends only the rate
  indices, so k_q is still charged. In training the relaxed cost of z̄ (``k_z_relaxed``) stays
  in the rate term of the objective: without it z̃ could carry y's information for free and
  drive -log2 P(ỹ | z̃), hence every k̄_{y_i}, to the smallest value of V.
* Comparison-II (``JSCCConfig.rate_adaptive=False``, ``refine=False``): a Transformer deep JSCC
  with ``fixed_rate`` real symbols per patch, x̂ = g_s(f_d(W(f_e(g_a(x))))). No hyperprior is
  used or sent: k_z = k_q = 0 and k = h · w · fixed_rate / 2 for every image.

Checkpoints: ``ImageNTSCC`` is a compressai ``CompressionModel`` (an ``nn.Module``), so
``update()``, ``aux_loss()`` and ``load_state_dict`` of checkpoints saved before or after
``update()`` work as for ``ImageNTC``. Call ``update(force=True)`` after training and before
evaluating: eval-mode forward passes entropy-code z̄ for real.
"""
from __future__ import annotations

import contextlib
import math
import numbers
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

with warnings.catch_warnings():  # compressai's import calls the deprecated torch.jit.script
    warnings.simplefilter("ignore", FutureWarning)
    from compressai.models.base import CompressionModel

from jscc_core.capacity import awgn_capacity
from jscc_core.channels import ComplexAWGN, check_snr_db
from jscc_core.digital.mcs import AWGN_ENVELOPE, MCS, NTSCC_BPG_LDPC, RAYLEIGH_ENVELOPE, ts38214_mcs
from jscc_core.metrics import ms_ssim, ms_ssim_db, psnr
from ntscc.image.jscc import REAL_PER_COMPLEX_USE, JSCCConfig, RateAdaptiveJSCC
from ntscc.image.ntc import ImageNTC, NTCConfig

#: CRC bits appended to each side-information message in MCS mode (5G NR transport-block CRC).
CRC_BITS = 24

#: Named MCSs accepted as ``side_info`` (besides "capacity" and "MCS<i>" of TS 38.214).
NAMED_MCS: dict[str, MCS] = {m.name: m for m in (NTSCC_BPG_LDPC, *AWGN_ENVELOPE, *RAYLEIGH_ENVELOPE)}
NAMED_MCS["ntscc_bpg_ldpc"] = NTSCC_BPG_LDPC


# --------------------------------------------------------------------------- side-information link


def check_scalar_snr_db(snr_db) -> float:
    """One channel SNR in dB for the whole batch (``check_snr_db`` range check)."""
    if isinstance(snr_db, Tensor):
        if snr_db.numel() != 1:
            raise ValueError(f"snr_db must be one value for the batch, got shape {tuple(snr_db.shape)}")
        snr_db = snr_db.item()
    if isinstance(snr_db, bool) or not isinstance(snr_db, numbers.Real):
        raise ValueError(f"snr_db must be a number in dB, got {snr_db!r}")
    check_snr_db(snr_db)
    return float(snr_db)


@dataclass(frozen=True)
class SideInfoLink:
    """Digital link for the side information z̄ and the rate indices, assumed error-free.

    ``mcs=None``: capacity-achieving coding, bits / log2(1 + SNR) complex uses (C_z of eq. 20).
    Otherwise whole codewords of ``mcs``: ceil((bits + crc_bits) / mcs.k) · mcs.num_symbols
    complex uses per message, 0 if there are no bits.
    """

    mcs: MCS | None = None
    crc_bits: int = CRC_BITS

    def __post_init__(self):
        if isinstance(self.crc_bits, bool) or not isinstance(self.crc_bits, int) or self.crc_bits < 0:
            raise ValueError(f"crc_bits must be a non-negative int, got {self.crc_bits!r}")

    @classmethod
    def from_name(cls, name: str, crc_bits: int = CRC_BITS) -> SideInfoLink:
        """"capacity", a name of ``NAMED_MCS`` or "MCS<i>" (TS 38.214 table entry i)."""
        if name == "capacity":
            return cls(None, crc_bits)
        if name in NAMED_MCS:
            return cls(NAMED_MCS[name], crc_bits)
        if isinstance(name, str) and name.startswith("MCS") and name[3:].isdigit():
            return cls(ts38214_mcs(int(name[3:])), crc_bits)
        raise ValueError(f"side_info must be 'capacity', 'MCS<i>' or one of {sorted(NAMED_MCS)}, got {name!r}")

    @property
    def name(self) -> str:
        return "capacity" if self.mcs is None else self.mcs.name

    def bits_per_use(self, snr_db: float) -> float:
        """Information bits per complex channel use: log2(1 + SNR), or the MCS's spectral efficiency."""
        return float(awgn_capacity(snr_db, "complex")) if self.mcs is None else self.mcs.spectral_efficiency

    def channel_uses(self, bits: Tensor, snr_db: float) -> Tensor:
        """Complex channel uses of one message of ``bits`` bits per image (elementwise)."""
        if self.mcs is None:
            return bits / self.bits_per_use(snr_db)
        codewords = torch.ceil((bits + self.crc_bits) / self.mcs.k)
        return torch.where(bits > 0, codewords * self.mcs.num_symbols, torch.zeros_like(bits))

    def channel_uses_relaxed(self, bits: Tensor, snr_db: float) -> Tensor:
        """Differentiable cost for the objective: bits / (bits per use), the k̃_z of eq. (21)."""
        return bits / self.bits_per_use(snr_db)


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class ImageNTSCCConfig:
    """NTC and JSCC sizes plus the side-information link (``SideInfoLink.from_name``)."""

    ntc: NTCConfig
    jscc: JSCCConfig
    side_info: str = "capacity"
    crc_bits: int = CRC_BITS

    def __post_init__(self):
        if not isinstance(self.ntc, NTCConfig) or not isinstance(self.jscc, JSCCConfig):
            raise ValueError("ImageNTSCCConfig needs an NTCConfig and a JSCCConfig")
        if self.jscc.c != self.ntc.c:
            raise ValueError(f"JSCCConfig.c={self.jscc.c} must equal NTCConfig.c={self.ntc.c} (channels of y)")
        if not self.jscc.rate_adaptive and self.jscc.refine:
            raise ValueError("Comparison-II (JSCCConfig.rate_adaptive=False) sends no hyperprior: "
                             "JSCCConfig.refine must be False")
        SideInfoLink.from_name(self.side_info, self.crc_bits)

    @classmethod
    def paper_kodak(cls, side_info: str = "capacity", **jscc_overrides) -> ImageNTSCCConfig:
        """Kodak / CLIC2021 (Section IV-A-4): 4-stage NTC, c = 256; N_e = N_d = 4, V = {16, ..., 256}."""
        return cls(NTCConfig.paper_kodak(), JSCCConfig.paper(c=256, **jscc_overrides), side_info)

    @classmethod
    def paper_cifar(cls, side_info: str = "capacity", **jscc_overrides) -> ImageNTSCCConfig:
        """CIFAR10 (Section IV-A-4): 2-stage NTC, c = 256; same JSCC codec as for Kodak."""
        return cls(NTCConfig.paper_cifar(), JSCCConfig.paper(c=256, **jscc_overrides), side_info)

    @property
    def link(self) -> SideInfoLink:
        return SideInfoLink.from_name(self.side_info, self.crc_bits)

    @property
    def variant(self) -> str:
        """"ntscc", "comparison_i" (no refinement) or "comparison_ii" (fixed length)."""
        if not self.jscc.rate_adaptive:
            return "comparison_ii"
        return "ntscc" if self.jscc.refine else "comparison_i"

    def comparison_i(self) -> ImageNTSCCConfig:
        """Comparison-I of Section IV-E: refinement off, z̄ not sent."""
        return replace(self, jscc=replace(self.jscc, refine=False))

    def comparison_ii(self, fixed_rate: int) -> ImageNTSCCConfig:
        """Comparison-II of Section IV-E: no refinement, no rate adaption, ``fixed_rate`` real symbols per patch."""
        return replace(self, jscc=replace(self.jscc, refine=False, rate_adaptive=False, fixed_rate=fixed_rate))

    def fixed_rate_for_cbr(self, cbr: float) -> int:
        """Even number of real symbols per patch whose Comparison-II CBR, L / (2 · 3 · 4^S), is nearest ``cbr``."""
        if not (isinstance(cbr, (int, float)) and 0 < cbr < math.inf):
            raise ValueError(f"cbr must be a positive number, got {cbr!r}")
        dims_per_patch = 3 * self.ntc.downsampling ** 2
        return max(REAL_PER_COMPLEX_USE, REAL_PER_COMPLEX_USE * round(cbr * dims_per_patch))


# --------------------------------------------------------------------------- model


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Temporarily put ``module`` in eval mode (restores the previous mode)."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def make_generator(generator: torch.Generator | int | None, device: torch.device) -> torch.Generator | None:
    """A torch generator from a seed, a generator, or None (torch's global generator)."""
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, bool) or not isinstance(generator, int):
        raise ValueError(f"generator must be a torch.Generator, an int seed or None, got {generator!r}")
    return torch.Generator(device=device).manual_seed(generator)


class ImageNTSCC(CompressionModel):
    """NTSCC image transmission model; see the module docstring for the bandwidth accounting.

    ``forward(x, snr_db, eta)`` on float images (B, 3, H, W) in [0, 1], H and W multiples of
    ``NTCConfig.multiple``, returns a dict of

    * ``x_hat`` (B, 3, H, W): g_s(ŷ), not clamped; ``x_hat_ntc``: g_s(ỹ), training only
      (d_NTC of Algorithm 1, line 6; not for Comparison-II);
    * ``k_y``, ``k_z``, ``k_q``, ``k``, ``cbr`` (B,): complex channel uses and k / (3 H W);
    * ``k_y_relaxed`` = Σ_i η · bits_i / 2 and ``k_z_relaxed`` = -log2 P(z̃) / (bits per use)
      (B,): differentiable costs for the objective (eq. 21);
    * ``bits_y`` (B,) estimate Σ -log2 P(ȳ | z̄); ``bits_z`` (B,) bits of z̄ sent (real
      bitstream in eval, estimate in training, 0 if z̄ is not sent); ``bits_q`` (B,) index bits;
    * ``rate_index`` (B, h, w) index into V and ``k_bar`` (B, h, w) real symbols per patch;
    * ``s`` (B, h·w, max V) channel input and ``symbols`` (B,) complex uses written;
    * ``z_hat`` (B, N, h/4, w/4): in eval, z̄ as the receiver decodes it (absent otherwise).

    η is required unless the model is Comparison-II. ``channel`` (a callable on real (B, n)
    tensors) replaces the default ``ComplexAWGN(snr_db)``; ``generator`` seeds its noise;
    ``analysis`` is :meth:`transmitter`'s output for ``x``, computed once for many (η, SNR).
    """

    def __init__(self, config: ImageNTSCCConfig):
        super().__init__()
        if not isinstance(config, ImageNTSCCConfig):
            raise ValueError(f"ImageNTSCC takes an ImageNTSCCConfig, got {type(config).__name__}")
        self.config = config
        self.link = config.link
        self.ntc = ImageNTC(config.ntc)
        self.jscc = RateAdaptiveJSCC(config.jscc)

    # ---- construction from a pretrained NTC (Algorithm 1, line 1)

    @classmethod
    def from_pretrained_ntc(cls, config: ImageNTSCCConfig,
                            ntc: ImageNTC | Mapping[str, Tensor]) -> ImageNTSCC:
        """g_a, g_s, h_a, h_s and entropy models from a trained ``ImageNTC`` (or its state dict);
        f_e, f_d* randomly initialised (Algorithm 1, lines 1-2)."""
        return cls(config).load_pretrained_ntc(ntc)

    def load_pretrained_ntc(self, ntc: ImageNTC | Mapping[str, Tensor]) -> ImageNTSCC:
        if isinstance(ntc, ImageNTC):
            if ntc.config != self.config.ntc:
                raise ValueError(f"pretrained NTC config {ntc.config} differs from this model's {self.config.ntc}")
            ntc = ntc.state_dict()
        self.ntc.load_state_dict(dict(ntc))
        return self

    # ---- properties

    @property
    def variant(self) -> str:
        return self.config.variant

    @property
    def rate_adaptive(self) -> bool:
        return self.config.jscc.rate_adaptive

    @property
    def sends_z(self) -> bool:
        """z̄ goes to the receiver only for the refinement of eq. (19) (not in Comparison-I/II)."""
        return self.config.jscc.rate_adaptive and self.config.jscc.refine

    def main_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if not n.endswith(".quantiles")]

    def aux_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if n.endswith(".quantiles")]

    def channel(self, snr_db: float, generator: torch.Generator | None = None) -> ComplexAWGN:
        return ComplexAWGN(snr_db, generator=generator)

    # ---- forward

    def rate_inputs(self, a: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """(bits_i (B, h, w) that eq. (28) scales by η, P(y) per element (B, c, h, w)) from the
        analysis ``a``, as ``JSCCConfig.rate_likelihood`` defines them."""
        if self.config.jscc.rate_likelihood == "continuous":
            p = self.ntc.continuous_likelihoods(a["y"], a["z_tilde"])
            return (-torch.log(p) / math.log(2)).clamp_min(0).sum(dim=1), p
        return a["bits_y_per_patch"], a["likelihoods_y"]

    def _check_eta(self, eta) -> None:
        if self.rate_adaptive and eta is None:
            raise ValueError("eta (scaling from entropy to channel uses, eq. 28) is required for rate-adaptive NTSCC")

    def transmitter(self, x: Tensor) -> dict[str, Tensor]:
        """The transmitter's work before η and the channel enter: y = g_a(x), the hyperprior and, in
        eval, z̄'s real bitstream with the receiver's (μ̄, σ̄) = h_s(z̄). Pass it to ``forward`` /
        ``transmit`` as ``analysis`` to send one image at several (η, SNR) without recomputing it."""
        self.ntc.check_image(x)
        if not self.rate_adaptive:
            return {"y": self.ntc.latent(x)}
        a = self.ntc.analyse(x)  # y, z̄ (z̃ in training), μ̄, σ̄, bits per patch
        if self.sends_z and not self.training:  # real bitstream; the receiver decodes z̄
            strings, shape = self.ntc.compress_z(a["y"])
            a["bits_z_sent"] = torch.tensor([8.0 * len(s) for s in strings], dtype=x.dtype, device=x.device)
            a["z_hat"] = self.ntc.decompress_z(strings, shape)
            a["mu_hat"], a["sigma_hat"] = self.ntc.entropy_parameters(a["z_hat"])
        return a

    def forward(self, x: Tensor, snr_db: float, eta: float | Tensor | None = None,
                channel: Callable[[Tensor], Tensor] | None = None,
                generator: torch.Generator | int | None = None,
                analysis: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
        snr = check_scalar_snr_db(snr_db)
        self._check_eta(eta)
        a = self.transmitter(x) if analysis is None else analysis
        if channel is None:
            channel = self.channel(snr, make_generator(generator, x.device))
        b, _, height, width = x.shape
        zeros = x.new_zeros(b)
        out: dict[str, Tensor] = {}

        if not self.rate_adaptive:  # Comparison-II: g_a -> fixed-length f_e -> channel -> f_d -> g_s
            y = a["y"]
            j = self.jscc(y, None, None, None, channel)
            bits_y = bits_z = k_z = k_z_relaxed = zeros
        else:
            y = a["y"]
            mu = sigma = None
            bits_z = zeros
            if self.sends_z:
                if self.training:  # eq. (21): the receiver's (μ̃, σ̃) come from the same noisy z̃
                    bits_z = a["bits_z"].detach()
                    mu, sigma = a["mu"], a["sigma"]
                else:  # real bitstream; the receiver decodes z̄ and recomputes (μ̄, σ̄) = h_s(z̄)
                    bits_z = a["bits_z_sent"]
                    out["z_hat"] = a["z_hat"]
                    mu, sigma = a["mu_hat"], a["sigma_hat"]
            bits, likelihoods = self.rate_inputs(a)
            j = self.jscc(y, mu, sigma, bits, channel, eta, likelihoods=likelihoods.detach())
            bits_y = a["bits_y_per_patch"].flatten(1).sum(1)
            k_z = self.link.channel_uses(bits_z, snr) if self.sends_z else zeros
            k_z_relaxed = self.link.channel_uses_relaxed(a["bits_z"], snr)
            if self.training:
                out["x_hat_ntc"] = self.ntc.g_s(a["y_tilde"])

        h, w = y.shape[-2:]
        bits_q = torch.full_like(zeros, float(self.jscc.rate_index_bits(h, w)))
        k_q = self.link.channel_uses(bits_q, snr) if self.rate_adaptive else zeros
        k = j["k_y"] + k_z + k_q
        out.update(
            x_hat=self.ntc.g_s(j["y_hat"]),
            k_y=j["k_y"], k_z=k_z, k_q=k_q, k=k, cbr=k / (3 * height * width),
            k_y_relaxed=j["k_y_relaxed"], k_z_relaxed=k_z_relaxed,
            bits_y=bits_y, bits_z=bits_z, bits_q=bits_q,
            rate_index=j["rate_index"], k_bar=j["k_bar"], s=j["s"], symbols=j["symbols"],
        )
        return out

    # ---- evaluation

    @torch.no_grad()
    def transmit(self, x: Tensor, snr_db: float, eta: float | Tensor | None = None,
                 generator: torch.Generator | int | None = None,
                 analysis: dict[str, Tensor] | None = None,
                 return_x_hat: bool = False) -> list[dict] | tuple[list[dict], Tensor]:
        """Send a batch over ComplexAWGN(snr_db) in eval mode with real z̄ bitstreams.

        One record per image: psnr (dB), ms_ssim and ms_ssim_db (x̂ clamped to [0, 1], x in
        [0, 1]), k_y, k_z, k_q, k (complex uses), cbr, z_bytes, snr_db, eta. The channel noise
        comes from ``generator`` (a generator or an int seed), so a seed fixes the result.
        Needs ``update()`` after training (real entropy coding of z̄). ``return_x_hat``: also
        return x̂ (B, 3, H, W) clamped to [0, 1], as ``(records, x_hat)``.
        """
        with eval_mode(self):
            out = self(x, snr_db, eta, generator=generator, analysis=analysis)
        x_hat = out["x_hat"].clamp(0, 1)
        p = psnr(x, x_hat)
        m = ms_ssim(x, x_hat, data_range=1.0)
        snr = check_scalar_snr_db(snr_db)
        etas = None if eta is None else torch.as_tensor(eta, dtype=torch.float64).flatten()
        records = []
        for i in range(x.shape[0]):
            records.append({
                "psnr": float(p[i]),
                "ms_ssim": float(m[i]),
                "ms_ssim_db": float(ms_ssim_db(float(m[i]))),
                "k_y": float(out["k_y"][i]),
                "k_z": float(out["k_z"][i]),
                "k_q": float(out["k_q"][i]),
                "k": float(out["k"][i]),
                "cbr": float(out["cbr"][i]),
                "z_bytes": int(out["bits_z"][i]) // 8,
                "snr_db": snr,
                "eta": None if etas is None else float(etas[i if etas.numel() > 1 else 0]),
            })
        return (records, x_hat) if return_x_hat else records

    @torch.no_grad()
    def rate_map(self, x: Tensor, eta: float | None = None) -> Tensor:
        """Complex channel uses k̄_{y_i} / 2 of each patch (Fig. 8), eval mode.

        x (3, H, W) gives an (h, w) map, x (B, 3, H, W) a (B, h, w) one.
        """
        single = x.dim() == 3
        x = x.unsqueeze(0) if single else x
        self._check_eta(eta)
        with eval_mode(self):
            if self.rate_adaptive:
                a = self.ntc.analyse(x)
                _, index = self.jscc.allocate(a["y"], self.rate_inputs(a)[0], eta)
            else:
                _, index = self.jscc.allocate(self.ntc.latent(x), None, None)
        uses = self.jscc.lengths[index].to(x.dtype) / REAL_PER_COMPLEX_USE
        return uses[0] if single else uses


__all__ = ["CRC_BITS", "NAMED_MCS", "SideInfoLink", "ImageNTSCCConfig", "ImageNTSCC", "check_scalar_snr_db",
           "eval_mode", "make_generator"]
