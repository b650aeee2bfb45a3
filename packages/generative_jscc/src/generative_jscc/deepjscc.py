"""DeepJSCC forward operator A = g_phi(eta(f_theta(x), sigma^2))  (GJSCC eqs. 9-11, Fig. 4).

The encoder f_theta and decoder g_phi follow the key-frame codec of DeepWiVe (Tung and Gündüz,
2022) that the paper uses, with the SNR-adaptive AF modules of Xu et al. (Sec. IV-A):

* f_theta (:class:`Encoder`): four stages, each a residual block with a stride-2 convolution and
  GDN, a residual block and an AF module (so the image is downsampled by 16); Cheng-style
  attention blocks after stages 2 and 4; a final 3x3 convolution to c_out channels; then the
  power normalisation of eq. (3), per image, over consecutive real pairs as complex symbols.
* eta: complex AWGN, n ~ CN(0, sigma^2) per complex use with SNR = 10 log10(P / sigma^2), P = 1
  (eqs. 4-5; :class:`jscc_core.channels.ComplexAWGN`).
* g_phi (:class:`Decoder`): a 3x3 convolution from c_out channels and an attention block, four
  stages mirroring the encoder (a residual block, a residual block with sub-pixel upsampling by 2
  and inverse GDN, an AF module; an attention block after stage 2), a 3x3 convolution to RGB and a
  sigmoid, so x_hat is in [0, 1].

Channel symbols: z = f_theta(x) is real, (B, c_out, H/16, W/16); flattened per image in that
(channel, row, column) order, entries (2j, 2j+1) are the real and imaginary parts of complex
symbol j. An image therefore takes k = (H/16)(W/16) c_out / 2 complex channel uses for its
m = 3 H W source dimensions, and the bandwidth ratio (eq. 1) is

    rho = k / m = c_out / (2 * 3 * 16 * 16) = c_out / 1536 complex uses per source dimension,

independent of the image size: c_out = 2 gives rho = 0.0013, c_out = 8 gives 0.0052 (Sec. V).

SNRs: every method takes ``snr_db`` as a number or a (B,) tensor of per-sample SNRs in dB; the AF
modules of both ends are fed the SNR in dB (the channel state known at both ends, Sec. IV-B).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from jscc_core.channels import ComplexAWGN, PowerNormalize, bandwidth_ratio

from .blocks import (
    AFModule,
    AttentionBlock,
    ResidualBlock,
    ResidualBlockUpsample,
    ResidualBlockWithStride,
    SNRSequential,
    conv3x3,
    snr_column,
)

__all__ = ["DOWNSAMPLE", "DeepJSCC", "Decoder", "Encoder", "check_images", "check_c_out", "rho_for_c_out"]

#: Spatial downsampling of f_theta (four stride-2 stages).
DOWNSAMPLE = 16
#: Real channel dimensions per complex channel use.
_REALS_PER_USE = 2


def check_images(x: Tensor, what: str = "images") -> Tensor:
    """Images are float (B, 3, H, W) with H and W positive multiples of 16; returned unchanged."""
    ok = (isinstance(x, Tensor) and x.dim() == 4 and x.shape[0] > 0 and x.shape[1] == 3 and x.is_floating_point()
          and x.shape[2] > 0 and x.shape[3] > 0 and x.shape[2] % DOWNSAMPLE == 0 and x.shape[3] % DOWNSAMPLE == 0)
    if not ok:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        dtype = x.dtype if isinstance(x, Tensor) else None
        raise ValueError(f"{what} must be float tensors (B, 3, H, W) with H, W positive multiples of {DOWNSAMPLE} "
                         f"(f_theta downsamples by {DOWNSAMPLE}), got shape {shape} {dtype}")
    return x


def check_c_out(c_out: int) -> int:
    """c_out must be a positive even integer: its real channels pair up into complex symbols."""
    if isinstance(c_out, bool) or not isinstance(c_out, int) or c_out < 2 or c_out % 2:
        raise ValueError(f"c_out must be a positive even integer (pairs of reals are complex symbols), got {c_out!r}")
    return c_out


def rho_for_c_out(c_out: int) -> float:
    """Bandwidth ratio rho = c_out / 1536 complex channel uses per source dimension (see the module text)."""
    return check_c_out(c_out) / (_REALS_PER_USE * 3 * DOWNSAMPLE * DOWNSAMPLE)


def _check_filters(filters: int) -> int:
    if isinstance(filters, bool) or not isinstance(filters, int) or filters < 2:
        raise ValueError(f"filters must be an integer >= 2, got {filters!r}")
    return filters


class Encoder(nn.Module):
    """f_theta: image (B, 3, H, W) in [0, 1] and SNR -> power-normalised z (B, c_out, H/16, W/16).

    After it each image satisfies (1/k) sum_j |z_j|^2 = 1 over its k complex symbols (eq. 3).
    """

    def __init__(self, c_out: int, filters: int = 256, af_bottleneck: str = "full"):
        super().__init__()
        self.c_out, f = check_c_out(c_out), _check_filters(filters)
        layers: list[nn.Module] = []
        in_ch = 3
        for stage in range(4):
            layers += [ResidualBlockWithStride(in_ch, f, stride=2), ResidualBlock(f, f), AFModule(f, af_bottleneck)]
            if stage in (1, 3):
                layers.append(AttentionBlock(f))
            in_ch = f
        layers.append(conv3x3(f, c_out))
        self.net = SNRSequential(*layers)
        self.normalize = PowerNormalize(1.0, channel_use="complex", over="sample")

    def forward(self, x: Tensor, snr_db: float | Tensor) -> Tensor:
        # contiguous: images permuted from (B, H, W, 3) arrays are channels-last, and torch's CPU backward of
        # the stride-2 1x1 skip convolution crashes on channels-last inputs (seen with torch 2.14)
        x = check_images(x).contiguous()
        z = self.net(x, snr_column(snr_db, x.shape[0], x))
        # eq. (3): z = sqrt(k P) z~ / ||z~|| per image, consecutive real pairs being the complex symbols
        return self.normalize(z.flatten(1)).reshape(z.shape)


class Decoder(nn.Module):
    """g_phi: channel output z_hat (B, c_out, h, w) and SNR -> image (B, 3, 16 h, 16 w) in [0, 1]."""

    def __init__(self, c_out: int, filters: int = 256, af_bottleneck: str = "full"):
        super().__init__()
        self.c_out, f = check_c_out(c_out), _check_filters(filters)
        layers: list[nn.Module] = [conv3x3(c_out, f), AttentionBlock(f)]
        for stage in range(4):
            layers += [ResidualBlock(f, f), ResidualBlockUpsample(f, f, upsample=2), AFModule(f, af_bottleneck)]
            if stage == 1:
                layers.append(AttentionBlock(f))
        layers += [conv3x3(f, 3), nn.Sigmoid()]
        self.net = SNRSequential(*layers)

    def forward(self, z_hat: Tensor, snr_db: float | Tensor) -> Tensor:
        if z_hat.dim() != 4 or z_hat.shape[1] != self.c_out:
            raise ValueError(f"g_phi takes channel outputs (B, {self.c_out}, H/16, W/16), got {tuple(z_hat.shape)}")
        return self.net(z_hat, snr_column(snr_db, z_hat.shape[0], z_hat))


class DeepJSCC(nn.Module):
    """The forward operator A(x, eta) = g_phi(eta(f_theta(x), sigma^2))  (eqs. 9-11).

    ``c_out``: real channels of z (even); ``filters``: feature maps of every stage (paper 256);
    ``af_bottleneck``: "full" or "c16" (:class:`generative_jscc.blocks.AFModule`).
    """

    def __init__(self, c_out: int, filters: int = 256, af_bottleneck: str = "full"):
        super().__init__()
        self.c_out, self.filters, self.af_bottleneck = check_c_out(c_out), _check_filters(filters), af_bottleneck
        self.encoder = Encoder(c_out, filters, af_bottleneck)
        self.decoder = Decoder(c_out, filters, af_bottleneck)
        self.awgn = ComplexAWGN(power=1.0)

    # ---- bandwidth accounting

    @property
    def bandwidth_ratio(self) -> float:
        """rho = c_out / 1536 complex channel uses per source dimension, for every image size:
        an H x W image takes (H/16)(W/16) c_out / 2 complex uses for its 3 H W source dimensions."""
        return rho_for_c_out(self.c_out)

    def channel_uses(self, height: int, width: int) -> int:
        """k = (H/16)(W/16) c_out / 2 complex channel uses of an H x W image."""
        if height < 1 or width < 1 or height % DOWNSAMPLE or width % DOWNSAMPLE:
            raise ValueError(f"H, W must be positive multiples of {DOWNSAMPLE}, got {(height, width)}")
        return (height // DOWNSAMPLE) * (width // DOWNSAMPLE) * self.c_out // _REALS_PER_USE

    def rho(self, height: int, width: int) -> float:
        """k / m for an H x W image from :meth:`channel_uses` (equals :attr:`bandwidth_ratio`)."""
        return bandwidth_ratio(self.channel_uses(height, width), 3 * height * width, "complex")

    # ---- transmission

    def f_theta(self, x: Tensor, snr_db: float | Tensor) -> Tensor:
        """x (B, 3, H, W) in [0, 1] -> z (B, c_out, H/16, W/16), power 1 per complex use per image (eq. 3)."""
        return self.encoder(x, snr_db)

    def channel(self, z: Tensor, snr_db: float | Tensor, generator: torch.Generator | None = None) -> Tensor:
        """eta(z, sigma^2) = z + n, n ~ CN(0, sigma^2) per complex symbol (eqs. 4-5); z's shape is kept.

        ``generator``: the source of the noise draw (None: torch's global generator).
        """
        return self.awgn(z.flatten(1), snr_db, generator).reshape(z.shape)

    def g_phi(self, z_hat: Tensor, snr_db: float | Tensor) -> Tensor:
        """z_hat (B, c_out, h, w) -> x_hat (B, 3, 16 h, 16 w) in [0, 1]."""
        return self.decoder(z_hat, snr_db)

    def forward(self, x: Tensor, snr_db: float | Tensor, generator: torch.Generator | None = None) -> Tensor:
        """A(x, eta): x (B, 3, H, W) in [0, 1] -> x_hat (B, 3, H, W) in [0, 1], one channel draw."""
        return self.g_phi(self.channel(self.f_theta(x, snr_db), snr_db, generator), snr_db)
