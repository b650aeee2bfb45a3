"""The training objective: random spatial masks of a share of 5-99 % of the token positions, and

    L = R(masked | visible) + lambda * 255^2 * (MSE(x, g_s(y_hat)) + c * MSE(x, g_s(y_tilde)))

with R in bits per pixel, y_tilde the latent with masked tokens concealed by the regression head
and c the concealment weight (the magazine's design: 0.1)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def random_visible(batch: int, h: int, w: int, low: float = 0.05, high: float = 0.99,
                   generator: torch.Generator | None = None) -> Tensor:
    """bool (batch, h, w): each sample masks a share u ~ U(low, high) of its positions (at least
    one masked, at least one visible when h w > 1), chosen uniformly at random."""
    n = h * w
    share = low + (high - low) * torch.rand(batch, generator=generator)
    masked = (share * n).round().long().clamp(1, max(1, n - 1))
    ranks = torch.rand(batch, n, generator=generator).argsort(1).argsort(1)
    return (ranks >= masked[:, None]).reshape(batch, h, w)


def rd_loss(model, x: Tensor, lam: float, conceal_weight: float = 0.1,
            mask_share: tuple[float, float] = (0.05, 0.99)) -> tuple[Tensor, dict[str, float]]:
    """The loss of ``model`` (a ResilientCodec) on x (B, 3, H, W) and its logged parts: bpp (rate of
    the masked tokens per pixel), mse, mse_conceal, psnr."""
    b, _, h, w = x.shape
    visible = random_visible(b, h // 16, w // 16, *mask_share).to(x.device)
    out = model(x, visible)
    bpp = out["bits"].sum() / (b * h * w)
    mse = F.mse_loss(out["x_hat"], x)
    mse_conceal = F.mse_loss(out["x_conceal"], x)
    loss = bpp + lam * 255 ** 2 * (mse + conceal_weight * mse_conceal)
    psnr = -10 * torch.log10(mse.detach().clamp_min(1e-10))
    return loss, {"loss": float(loss), "bpp": float(bpp), "mse": float(mse), "mse_conceal": float(mse_conceal),
                  "psnr": float(psnr)}
