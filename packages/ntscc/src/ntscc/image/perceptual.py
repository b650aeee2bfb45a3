"""Perceptual NTSCC (Sec. IV-A 3, eq. 29; Figs. 14-16): the conditional discriminator D(x̂, ỹ)
and the NTSCC it is trained against.

Eq. (29) replaces the MSE distortion of Algorithm 1 by

    d(x, x̂) = β_M ||x - x̂||² + β_L d_LPIPS(x, x̂) - β_D log D(x̂, ỹ),

where D maps a reconstruction and the latent ỹ it was synthesised from to the probability that
the image is a sample of p(x | y) rather than of g_s. D is trained on the usual conditional GAN
loss -log D(x, ỹ) - log(1 - D(x̂, ỹ)); -log D(x̂, ỹ) is its non-saturating generator term, the
one of the authors' released ``loss/gan_loss.py``.

The paper adopts "a fully convolutional network with the same architecture" as HiFiC [21]
(Mentzer et al. 2020): ỹ goes through a 3 x 3 convolution to 12 channels and a leaky ReLU and
is upsampled (nearest neighbour) to the image's size; the concatenation [x̂, up(ỹ)] goes through
4 x 4 convolutions of 64, 128, 256 (stride 2) and 512 (stride 1) channels, each with spectral
normalisation and a leaky ReLU (slope 0.2), and a 1 x 1 convolution to one logit per patch.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ntscc.image.model import ImageNTSCC

#: HiFiC's discriminator widths and the channels the latent is reduced to before upsampling.
HIFIC_WIDTHS = (64, 128, 256, 512)
HIFIC_CONTEXT_CHANNELS = 12
LEAKY_SLOPE = 0.2


class ConditionalDiscriminator(nn.Module):
    """D(x̂, ỹ): a patch discriminator conditioned on the latent (HiFiC's architecture).

    ``latent_channels``: C of ỹ (the NTC's ``c``); ``widths``: the four convolution widths (the
    last at stride 1); ``context_channels``: channels of ỹ after its 3 x 3 convolution.
    ``forward(x, y)`` takes images x (B, 3, H, W) in [0, 1] and latents y (B, C, h, w) and returns
    logits (B, 1, H', W'), one per patch (H' = H / 8 - 1 for H divisible by 8).
    """

    def __init__(self, latent_channels: int, widths: Sequence[int] = HIFIC_WIDTHS,
                 context_channels: int = HIFIC_CONTEXT_CHANNELS, spectral_norm: bool = True):
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if len(widths) != 4 or min(widths) < 1:
            raise ValueError(f"widths must be four positive channel counts, got {widths!r}")
        norm = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
        self.context = nn.Conv2d(latent_channels, context_channels, 3, padding=1)
        layers, c_in = [], 3 + context_channels
        for i, width in enumerate(widths):
            layers += [norm(nn.Conv2d(c_in, width, 4, stride=2 if i < 3 else 1, padding=1)),
                       nn.LeakyReLU(LEAKY_SLOPE)]
            c_in = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(c_in, 1, 1)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        if x.dim() != 4 or y.dim() != 4 or x.shape[0] != y.shape[0]:
            raise ValueError(f"expected x (B, 3, H, W) and y (B, C, h, w), got {tuple(x.shape)} and {tuple(y.shape)}")
        context = F.interpolate(F.leaky_relu(self.context(y), LEAKY_SLOPE), size=x.shape[-2:], mode="nearest")
        return self.head(self.body(torch.cat([2 * x - 1, context], dim=1)))


def generator_gan_loss(fake_logits: Tensor) -> Tensor:
    """-log D(x̂, ỹ), mean over patches and batch (eq. 29's third term, non-saturating)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def discriminator_gan_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """-log D(x, ỹ) - log(1 - D(x̂, ỹ)), each a mean over patches and batch."""
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


class PerceptualNTSCC(nn.Module):
    """An ``ImageNTSCC`` (``ntscc``, the model that is sent and evaluated) with the discriminator it
    is fine-tuned against (``discriminator``); trained together by
    ``ntscc.image.objectives.perceptual_objective`` under one ``jscc_core.training.train`` loop.

    The entropy bottleneck's quantiles stay the NTSCC's auxiliary parameters (``aux_parameters``,
    ``aux_loss``); a trained model is saved as its ``ntscc`` alone.
    """

    def __init__(self, ntscc: ImageNTSCC, discriminator: ConditionalDiscriminator):
        super().__init__()
        if not ntscc.rate_adaptive:
            raise ValueError("PerceptualNTSCC fine-tunes a rate-adaptive ImageNTSCC, not Comparison-II")
        self.ntscc = ntscc
        self.discriminator = discriminator

    def aux_parameters(self) -> list[nn.Parameter]:
        return self.ntscc.aux_parameters()

    def aux_loss(self) -> Tensor:
        return self.ntscc.aux_loss()


__all__ = ["HIFIC_WIDTHS", "HIFIC_CONTEXT_CHANNELS", "ConditionalDiscriminator", "PerceptualNTSCC",
           "generator_gan_loss", "discriminator_gan_loss"]
