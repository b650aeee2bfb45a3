"""Training objectives for the image models: NTC pretraining (eq. 13), NTSCC (Algorithm 1, eq. 21),
perceptual NTSCC (eq. 29) and the fixed-length deep JSCC baselines (CNN, Comparison-II).

Every objective returns ``loss_fn(model, batch) -> (loss, logs)`` for ``jscc_core.training.train``:
``batch`` is float (B, 3, H, W) in [0, 1], ``logs`` a dict of floats.

Units
-----
Distortion d is that of ``ntc.rd_loss``: "mse" = mean((255 x - 255 x̂)²) (8-bit scale) or
"ms_ssim" = 1 - MS-SSIM. NTC's rate is bpp = bits / (H W), weighted by λ (eq. 13).

NTSCC's rate term is ρ = 2 (k̃_y + k̃_z) / (H W), real channel symbols per pixel (= 6 · CBR,
CBR = k / (3 H W) in complex uses). Its y part is Σ_i η · bits_i / (H W) = η · bpp_y: eq. (21)
charges λ · η · (-log2 p(ỹ | z̃)) for y, i.e. NTC's λ · bpp of eq. (13) scaled by η, and this is
also the authors' training loss, so the paper's grids (λ ∈ {1024, 256, 64, 16, 4} for MSE with
η = 0.2, λ ∈ {1, 1/4, 1/16, 1/32, 1/128} for MS-SSIM) keep their meaning. z̄ is charged in the
same units at its channel cost, k̃_z = -log2 P(z̃) / C_z (eq. 21); the authors' script weighs it
as k_z / (3 H W), six times less, a difference of a few per cent of ρ since z̄ is small.

The entropy bottleneck's ``aux_loss()``, which fits its quantiles (the range of z̄ that
``update()`` tabulates for real bitstreams) and reaches no other parameter, is not part of these
losses: ``quantile_training(model)`` gives it its own Adam at 1e-3, outside the main rate and
gradient clip, as CompressAI's examples and the authors' code do. Under the main optimizer
(1e-4 or 3e-4, clipped) the quantiles hardly moved from their initial ±10 in a short run.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from jscc_core.channels import ComplexAWGN
from jscc_core.metrics import ms_ssim, psnr
from jscc_core.training import AuxiliaryLoss
from ntscc.image.deepjscc import DeepJSCC
from ntscc.image.jscc import REAL_PER_COMPLEX_USE
from ntscc.image.model import ImageNTSCC, check_scalar_snr_db
from ntscc.image.ntc import DISTORTIONS, ImageNTC, rd_loss
from ntscc.image.perceptual import PerceptualNTSCC, discriminator_gan_loss, generator_gan_loss

LossFn = Callable[[nn.Module, Tensor], tuple[Tensor, dict[str, float]]]

#: Adam's rate for the entropy bottleneck's quantiles (CompressAI's examples, the authors' code);
#: a profile may set its own (``ntc.aux_learning_rate``).
AUX_LEARNING_RATE = 1e-3


def check_distortion(distortion: str) -> str:
    if distortion not in DISTORTIONS:
        raise ValueError(f"distortion must be one of {DISTORTIONS}, got {distortion!r}")
    return distortion


def image_distortion(x: Tensor, x_hat: Tensor, distortion: str = "mse") -> Tensor:
    """Batch mean of d(x, x̂) in ``ntc.rd_loss``'s units: 8-bit MSE or 1 - MS-SSIM."""
    if check_distortion(distortion) == "mse":
        return (255 * (x - x_hat)).square().mean()
    return 1 - ms_ssim(x, x_hat, data_range=1.0).mean()


def rate_per_pixel(out: dict[str, Tensor], height: int, width: int) -> Tensor:
    """ρ = 2 (k̃_y + k̃_z) / (H W), batch mean: real channel symbols per pixel (eq. 21)."""
    return (REAL_PER_COMPLEX_USE * (out["k_y_relaxed"] + out["k_z_relaxed"])).mean() / (height * width)


def mean_psnr_db(x: Tensor, x_hat: Tensor) -> float:
    """Mean per-image PSNR (dB) of x̂ clamped to [0, 1]."""
    return float(psnr(x.detach(), x_hat.detach().clamp(0, 1)).mean())


def _check_lambda(lmbda: float) -> float:
    if isinstance(lmbda, bool) or not (isinstance(lmbda, (int, float)) and math.isfinite(lmbda) and lmbda >= 0):
        raise ValueError(f"lmbda must be a finite number >= 0, got {lmbda!r}")
    return float(lmbda)


def quantile_training(model: nn.Module, learning_rate: float = AUX_LEARNING_RATE) -> AuxiliaryLoss:
    """The entropy bottleneck's quantiles of an ``ImageNTC``, ``ImageNTSCC`` or ``PerceptualNTSCC``,
    trained on its ``aux_loss()`` by their own Adam at ``learning_rate``
    (``jscc_core.training.train(..., aux=...)``)."""
    if not isinstance(model, (ImageNTC, ImageNTSCC, PerceptualNTSCC)):
        raise ValueError(f"quantile_training takes an ImageNTC, ImageNTSCC or PerceptualNTSCC, "
                         f"got {type(model).__name__}")
    if not (isinstance(learning_rate, (int, float)) and learning_rate > 0):
        raise ValueError(f"quantile_training: learning_rate must be > 0, got {learning_rate!r}")
    return AuxiliaryLoss(model.aux_parameters(), lambda m: m.aux_loss(), float(learning_rate))


def eta_sampler(eta_range: float | tuple[float, float]) -> Callable[[], float]:
    """η ~ U[lo, hi] per minibatch from torch's global generator (a single value: fixed η)."""
    if isinstance(eta_range, (int, float)) and not isinstance(eta_range, bool):
        eta_range = (eta_range, eta_range)
    try:
        lo, hi = (float(v) for v in eta_range)
    except (TypeError, ValueError):
        raise ValueError(f"eta_range must be a number or a pair (lo, hi), got {eta_range!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi):
        raise ValueError(f"eta_range must satisfy 0 < lo <= hi, got {eta_range!r}")
    if lo == hi:
        return lambda: lo
    return lambda: lo + (hi - lo) * float(torch.rand(()))


# --------------------------------------------------------------------------- NTC pretraining


def ntc_objective(lmbda: float, distortion: str = "mse") -> LossFn:
    """Eq. (13): d(x, g_s(ỹ)) + λ (bpp_y + bpp_z), via ``ntc.rd_loss``.

    Takes an ``ImageNTC`` or an ``ImageNTSCC`` (its NTC part is trained).
    Logs: loss, distortion, bpp, bpp_y, bpp_z, psnr, aux (the quantiles' loss, trained apart).
    """
    lmbda = _check_lambda(lmbda)
    check_distortion(distortion)

    def loss_fn(model: nn.Module, x: Tensor) -> tuple[Tensor, dict[str, float]]:
        ntc = model.ntc if isinstance(model, ImageNTSCC) else model
        if not isinstance(ntc, ImageNTC):
            raise ValueError(f"ntc_objective trains an ImageNTC or ImageNTSCC, got {type(model).__name__}")
        out = ntc(x)
        r = rd_loss(out, x, lmbda, distortion)
        with torch.no_grad():
            aux = ntc.aux_loss()
        logs = {"loss": r["loss"].item(), "distortion": r["distortion"].item(), "bpp": r["bpp"].item(),
                "bpp_y": r["bpp_y"].item(), "bpp_z": r["bpp_z"].item(), "psnr": mean_psnr_db(x, out["x_hat"]),
                "aux": aux.item()}
        return r["loss"], logs

    return loss_fn


# --------------------------------------------------------------------------- NTSCC


def ntscc_objective(lmbda: float, snr_db: float, eta_range: float | tuple[float, float] = 0.2,
                    distortion: str = "mse") -> LossFn:
    """Algorithm 1, line 6: d(x, x̂_NTSCC) + d(x, x̂_NTC) + λ ρ, ρ = 2 (k̃_y + k̃_z) / (H W).

    ρ is in real channel symbols per pixel (module docstring, eq. 21); η is drawn uniformly from
    ``eta_range`` for each minibatch so one model serves a range of η at test time.
    For the full model and Comparison-I; Comparison-II is trained by ``deepjscc_objective``.
    Logs: loss, distortion, distortion_ntc, rate, cbr, psnr, eta, k_y, k_z, k_q, aux.
    """
    lmbda = _check_lambda(lmbda)
    snr = check_scalar_snr_db(snr_db)
    check_distortion(distortion)
    draw_eta = eta_sampler(eta_range)

    def loss_fn(model: nn.Module, x: Tensor) -> tuple[Tensor, dict[str, float]]:
        if not isinstance(model, ImageNTSCC) or not model.rate_adaptive:
            raise ValueError("ntscc_objective trains a rate-adaptive ImageNTSCC (full model or Comparison-I); "
                             "use deepjscc_objective for Comparison-II")
        eta = draw_eta()
        out = model(x, snr, eta)
        d = image_distortion(x, out["x_hat"], distortion)
        d_ntc = image_distortion(x, out["x_hat_ntc"], distortion)
        rate = rate_per_pixel(out, x.shape[-2], x.shape[-1])
        loss = d + d_ntc + lmbda * rate
        with torch.no_grad():
            aux = model.aux_loss()
        logs = {"loss": loss.item(), "distortion": d.item(), "distortion_ntc": d_ntc.item(), "rate": rate.item(),
                "cbr": out["cbr"].mean().item(), "psnr": mean_psnr_db(x, out["x_hat"]), "eta": eta,
                "k_y": out["k_y"].mean().item(), "k_z": out["k_z"].mean().item(), "k_q": out["k_q"].mean().item(),
                "aux": aux.item()}
        return loss, logs

    return loss_fn


# --------------------------------------------------------------------------- perceptual NTSCC


@dataclass(frozen=True)
class PerceptualWeights:
    """β_M, β_L, β_D of eq. (29): weights of the 8-bit MSE, of LPIPS and of -log D(x̂, ỹ)."""

    beta_m: float
    beta_l: float
    beta_d: float

    def __post_init__(self):
        for name in ("beta_m", "beta_l", "beta_d"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def perceptual_objective(lmbda: float, snr_db: float, eta_range: float | tuple[float, float],
                         weights: PerceptualWeights, lpips: Callable[[Tensor, Tensor], Tensor]) -> LossFn:
    """Algorithm 1 with eq. (29)'s distortion, and the discriminator's loss, for a ``PerceptualNTSCC``:

        d(x, x̂) + β_M d(x, x̂_NTC) + λ ρ  +  [-log D(x, ỹ) - log(1 - D(x̂, ỹ))],
        d(x, x̂) = β_M ||255 (x - x̂)||² / (3 H W) + β_L LPIPS(x, x̂) - β_D log D(x̂, ỹ).

    ``lpips(x, x̂) -> (B,)`` is the perceptual distance (gradients reach x̂ only). D is conditioned
    on ỹ = y + U(-1/2, 1/2) detached (as in HiFiC). The generator's GAN term is computed with D's
    parameters frozen and D's loss on x̂ detached, so one backward pass trains each part only on
    its own loss; both share the schedule's Adam rate (the paper's 1e-4 for both, as HiFiC).
    The NTC path keeps its MSE term (Algorithm 1's d(x, x̂_NTC)) at weight β_M.
    Logs: loss, distortion, mse, lpips, gan_g, gan_d, d_real, d_fake (mean D on real / fake),
    distortion_ntc, rate, cbr, psnr, eta, k_y, k_z, k_q, aux.
    """
    lmbda = _check_lambda(lmbda)
    snr = check_scalar_snr_db(snr_db)
    draw_eta = eta_sampler(eta_range)
    if not isinstance(weights, PerceptualWeights):
        raise ValueError(f"weights must be PerceptualWeights, got {type(weights).__name__}")

    def loss_fn(model: nn.Module, x: Tensor) -> tuple[Tensor, dict[str, float]]:
        if not isinstance(model, PerceptualNTSCC):
            raise ValueError(f"perceptual_objective trains a PerceptualNTSCC, got {type(model).__name__}")
        eta = draw_eta()
        a = model.ntscc.transmitter(x)
        out = model.ntscc(x, snr, eta, analysis=a)
        x_hat, y = out["x_hat"], a["y_tilde"].detach()
        disc = model.discriminator
        disc.requires_grad_(False)  # the generator's term: gradients reach x̂, not D
        gan_g = generator_gan_loss(disc(x_hat, y))
        disc.requires_grad_(True)
        real, fake = disc(x, y), disc(x_hat.detach(), y)
        gan_d = discriminator_gan_loss(real, fake)
        mse = image_distortion(x, x_hat, "mse")
        perceptual = lpips(x, x_hat).mean()
        d = weights.beta_m * mse + weights.beta_l * perceptual + weights.beta_d * gan_g
        d_ntc = weights.beta_m * image_distortion(x, out["x_hat_ntc"], "mse")
        rate = rate_per_pixel(out, x.shape[-2], x.shape[-1])
        loss = d + d_ntc + lmbda * rate + gan_d
        with torch.no_grad():
            aux = model.aux_loss()
        logs = {"loss": loss.item(), "distortion": d.item(), "mse": mse.item(), "lpips": perceptual.item(),
                "gan_g": gan_g.item(), "gan_d": gan_d.item(), "d_real": torch.sigmoid(real).mean().item(),
                "d_fake": torch.sigmoid(fake).mean().item(), "distortion_ntc": d_ntc.item(), "rate": rate.item(),
                "cbr": out["cbr"].mean().item(), "psnr": mean_psnr_db(x, x_hat), "eta": eta,
                "k_y": out["k_y"].mean().item(), "k_z": out["k_z"].mean().item(), "k_q": out["k_q"].mean().item(),
                "aux": aux.item()}
        return loss, logs

    return loss_fn


# --------------------------------------------------------------------------- fixed-length deep JSCC


def deepjscc_objective(snr_db: float, distortion: str = "mse") -> LossFn:
    """d(x, x̂) alone, end to end over ComplexAWGN(snr_db): the CNN ``DeepJSCC`` and Comparison-II
    (an ``ImageNTSCC`` with ``rate_adaptive=False``: "trained end-to-end with the MSE loss").
    Logs: loss, distortion, cbr, psnr.
    """
    snr = check_scalar_snr_db(snr_db)
    check_distortion(distortion)
    channel = ComplexAWGN(snr)

    def loss_fn(model: nn.Module, x: Tensor) -> tuple[Tensor, dict[str, float]]:
        if isinstance(model, DeepJSCC):
            out = model(x, channel)
        elif isinstance(model, ImageNTSCC) and not model.rate_adaptive:
            out = model(x, snr, channel=channel)
        else:
            raise ValueError("deepjscc_objective trains a DeepJSCC or a Comparison-II ImageNTSCC "
                             f"(rate_adaptive=False), got {type(model).__name__}")
        d = image_distortion(x, out["x_hat"], distortion)
        logs = {"loss": d.item(), "distortion": d.item(), "cbr": out["cbr"].mean().item(),
                "psnr": mean_psnr_db(x, out["x_hat"])}
        return d, logs

    return loss_fn


__all__ = ["image_distortion", "rate_per_pixel", "eta_sampler", "ntc_objective", "ntscc_objective",
           "PerceptualWeights", "perceptual_objective", "deepjscc_objective"]
