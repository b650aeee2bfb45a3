"""Training objective of DeepJSCC and GenerativeJSCC: d = gamma_1 MSE + gamma_2 LPIPS  (GJSCC eq. 16, Sec. V-B).

Eq. (16) writes the pixel term as ||x - x_hat||^2; Sec. V-B trains with d(x, x_hat) =
MSE(x, x_hat) + LPIPS(x, x_hat), so the pixel term is the mean squared error per image (over its
3 H W values in [0, 1]), which keeps gamma_1 = gamma_2 = 1 a balanced pair at every image size.

``perceptual`` is any callable ``(x, y) -> (B,)`` on images in [0, 1] through which gradients
flow: :class:`jscc_core.metrics.LPIPSMetric` (VGG in the paper), or a stand-in in tests.

:func:`jscc_loss` builds the ``loss_fn(model, x)`` of :func:`jscc_core.training.train` for any
model called as ``model(x, snr_db)`` (:class:`~generative_jscc.deepjscc.DeepJSCC`,
:class:`~generative_jscc.generative.GenerativeJSCC`), each image of a batch sent at an SNR drawn
uniformly from a list (training over a range of SNRs with the AF modules, Sec. IV-A). The draws
come from torch's global generator, whose state the training checkpoint saves, so a resumed run
draws the same SNRs.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from jscc_core.channels import check_snr_db

__all__ = ["Perceptual", "draw_snr", "jscc_loss", "mse_lpips", "per_image_mse"]

Perceptual = Callable[[Tensor, Tensor], Tensor]


def _check_weight(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def per_image_mse(x: Tensor, x_hat: Tensor) -> Tensor:
    """Mean squared error of each image: x, x_hat (B, 3, H, W) -> (B,)."""
    if x.shape != x_hat.shape or x.dim() != 4:
        raise ValueError(f"x and x_hat must be images (B, C, H, W) of one shape, got {tuple(x.shape)} "
                         f"and {tuple(x_hat.shape)}")
    return (x - x_hat).square().flatten(1).mean(1)


def _perceptual(perceptual: Perceptual | None, x: Tensor, x_hat: Tensor) -> Tensor:
    if perceptual is None:
        raise ValueError("lpips_weight > 0 needs a perceptual callable (x, y) -> (B,), got None")
    value = perceptual(x, x_hat)
    if value.shape != (x.shape[0],):
        value = value.reshape(-1)
        if value.shape != (x.shape[0],):
            raise ValueError(f"perceptual(x, x_hat) must give one value per image ({x.shape[0]},), "
                             f"got shape {tuple(value.shape)}")
    return value


def mse_lpips(x: Tensor, x_hat: Tensor, perceptual: Perceptual | None, mse_weight: float = 1.0,
              lpips_weight: float = 1.0) -> Tensor:
    """d(x, x_hat) = gamma_1 MSE(x, x_hat) + gamma_2 LPIPS(x, x_hat) per image (eq. 16): (B,).

    x, x_hat: (B, 3, H, W) in [0, 1]; ``perceptual`` may be None when ``lpips_weight`` is 0.
    """
    mse_weight, lpips_weight = _check_weight("mse_weight", mse_weight), _check_weight("lpips_weight", lpips_weight)
    d = mse_weight * per_image_mse(x, x_hat)
    if lpips_weight > 0:
        d = d + lpips_weight * _perceptual(perceptual, x, x_hat)
    return d


def draw_snr(choices: Sequence[float], n: int, device: torch.device | str = "cpu") -> Tensor:
    """``n`` SNRs in dB drawn uniformly with replacement from ``choices``: (n,) float tensor.

    The index draw uses torch's global generator (on the CPU), so it is saved and restored with
    a training checkpoint.
    """
    values = torch.as_tensor([float(c) for c in choices], dtype=torch.float32)
    if values.numel() == 0:
        raise ValueError("the list of training SNRs is empty")
    check_snr_db(values)
    return values[torch.randint(len(values), (n,))].to(device)


def jscc_loss(snr_choices: Sequence[float], perceptual: Perceptual | None, mse_weight: float = 1.0,
              lpips_weight: float = 1.0) -> Callable[[nn.Module, Tensor], tuple[Tensor, dict[str, float]]]:
    """``loss_fn(model, x) -> (loss, logs)`` for :func:`jscc_core.training.train`.

    Each image of the batch x (B, 3, H, W) in [0, 1] gets its own SNR from ``snr_choices``
    (:func:`draw_snr`); x_hat = model(x, snr) with one channel draw from the global generator;
    loss = mean over the batch of :func:`mse_lpips`. Logs: loss, mse, lpips (the unweighted
    batch means; lpips only when its weight is > 0) and psnr_db (of the batch-mean MSE).
    """
    mse_weight, lpips_weight = _check_weight("mse_weight", mse_weight), _check_weight("lpips_weight", lpips_weight)
    if lpips_weight > 0 and perceptual is None:
        raise ValueError("lpips_weight > 0 needs a perceptual callable (x, y) -> (B,), got None")
    choices = [float(c) for c in snr_choices]
    if not choices:
        raise ValueError("the list of training SNRs is empty")
    check_snr_db(torch.as_tensor(choices))

    def loss_fn(model: nn.Module, x: Tensor) -> tuple[Tensor, dict[str, float]]:
        snr = draw_snr(choices, x.shape[0], x.device)
        x_hat = model(x, snr)
        mse = per_image_mse(x, x_hat)
        loss = mse_weight * mse
        logs = {"mse": mse.mean().item()}
        if lpips_weight > 0:
            lp = _perceptual(perceptual, x, x_hat)
            loss = loss + lpips_weight * lp
            logs["lpips"] = lp.mean().item()
        loss = loss.mean()
        logs["loss"] = loss.item()
        logs["psnr_db"] = 10 * math.log10(1 / max(logs["mse"], 1e-12))
        return loss, logs

    return loss_fn
