"""CNN deep JSCC baseline for images (Bourtsoulatze et al. 2019; Kurka & Gündüz 2020), fixed bandwidth ratio.

f_e: five 5×5 convolutions, the first two with stride 2, each followed by GDN (Ballé et al.,
CompressAI's layer) and, but for the last, PReLU; the last gives 2 · c_out real channels at
each of the (H/4)(W/4) positions; channel pair (2j, 2j+1) is the real and imaginary part of
one complex symbol. f_d mirrors f_e with transposed convolutions, inverse GDN and PReLU, and
ends in a sigmoid. This is the topology of Kurka & Gündüz's deep JSCC, the baseline NTSCC
compares against (Table III: 10.61 M parameters; 10.48 M here with 256 filters and c_out = 3).
``gdn=False`` leaves the GDN layers out (Bourtsoulatze et al.'s original).

Bandwidth: k = (H/4)(W/4) · c_out complex channel uses per image and R = k / (3 H W)
= c_out / 48 (``jscc_core.channels.bandwidth_ratio(k, 3 H W, "complex")``), the convention
of the NTSCC codec in ``ntscc.image.jscc``. Power: per image, (1/k) Σ |s|² = 1 per complex use.
"""
from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import torch
from compressai.layers import GDN
from torch import nn

from jscc_core.channels import PowerNormalize, bandwidth_ratio

#: Spatial down-sampling of f_e (two stride-2 layers).
DOWNSAMPLE = 4
#: Source dimensions per position of f_e's output: 3 colours × 4 × 4 pixels.
SOURCE_DIMS_PER_POSITION = 3 * DOWNSAMPLE * DOWNSAMPLE


def check_images(x: torch.Tensor) -> torch.Tensor:
    """Images are float (B, 3, H, W) with H and W multiples of 4."""
    if not (isinstance(x, torch.Tensor) and x.dim() == 4 and x.shape[1] == 3 and x.is_floating_point()
            and x.shape[2] % DOWNSAMPLE == 0 and x.shape[3] % DOWNSAMPLE == 0 and x.shape[2] > 0 and x.shape[3] > 0):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        dtype = x.dtype if isinstance(x, torch.Tensor) else None
        raise ValueError(f"deep JSCC takes float images (B, 3, H, W) with H, W multiples of {DOWNSAMPLE}, "
                         f"got shape {shape} {dtype}")
    return x


class DeepJSCC(nn.Module):
    """Fixed-rate CNN deep JSCC over c_out complex channel uses per 4×4 pixel block.

    ``forward(x, channel)`` returns ``x_hat`` (B, 3, H, W) in [0, 1], ``k`` (B,) complex
    channel uses and ``cbr`` (B,) = k / (3 H W). ``channel`` is any callable on real (B, n)
    tensors of interleaved (Re, Im) pairs, e.g. ``jscc_core.channels.ComplexAWGN(snr_db)``.
    """

    def __init__(self, c_out: int, filters: int = 256, kernel: int = 5, gdn: bool = True):
        super().__init__()
        if not isinstance(gdn, bool):
            raise ValueError(f"gdn must be true or false, got {gdn!r}")
        for name, value in (("c_out", c_out), ("filters", filters), ("kernel", kernel)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if kernel % 2 == 0:
            raise ValueError(f"kernel must be odd, got {kernel}")
        self.c_out = c_out
        pad = kernel // 2
        f = filters
        enc = [(3, f, 2), (f, f, 2), (f, f, 1), (f, f, 1), (f, 2 * c_out, 1)]
        layers: list[nn.Module] = []
        for i, (a, b, stride) in enumerate(enc):
            layers.append(nn.Conv2d(a, b, kernel, stride=stride, padding=pad))
            if gdn:
                layers.append(GDN(b))
            if i < len(enc) - 1:
                layers.append(nn.PReLU(b))
        self.f_e = nn.Sequential(*layers)
        dec = [(2 * c_out, f, 1), (f, f, 1), (f, f, 1), (f, f, 2), (f, 3, 2)]
        layers = []
        for i, (a, b, stride) in enumerate(dec):
            layers.append(nn.ConvTranspose2d(a, b, kernel, stride=stride, padding=pad, output_padding=stride - 1))
            if gdn and i < len(dec) - 1:
                layers.append(GDN(b, inverse=True))
            layers.append(nn.PReLU(b) if i < len(dec) - 1 else nn.Sigmoid())
        self.f_d = nn.Sequential(*layers)
        self.normalize = PowerNormalize(1.0, channel_use="complex", over="sample")

    # ---- bandwidth accounting

    @staticmethod
    def channels_for_ratio(target_cbr: float) -> tuple[int, float]:
        """(c_out, achieved R): the c_out with c_out / 48 nearest to ``target_cbr`` (at least 1)."""
        if not (isinstance(target_cbr, (int, float)) and 0 < target_cbr < float("inf")):
            raise ValueError(f"target_cbr must be a positive number, got {target_cbr!r}")
        c_out = max(1, round(target_cbr * SOURCE_DIMS_PER_POSITION))
        return c_out, c_out / SOURCE_DIMS_PER_POSITION

    @classmethod
    def for_bandwidth_ratio(cls, target_cbr: float, **kwargs) -> DeepJSCC:
        """Model whose R = c_out / 48 is nearest to ``target_cbr``; see ``bandwidth_ratio`` for the achieved value."""
        c_out, _ = cls.channels_for_ratio(target_cbr)
        return cls(c_out, **kwargs)

    @property
    def bandwidth_ratio(self) -> Fraction:
        """R = k / (3 H W) = c_out / 48, the same for every image size."""
        return Fraction(self.c_out, SOURCE_DIMS_PER_POSITION)

    def channel_uses(self, height: int, width: int) -> int:
        """k = (H/4)(W/4) · c_out complex channel uses for an H × W image."""
        if height % DOWNSAMPLE or width % DOWNSAMPLE or height < 1 or width < 1:
            raise ValueError(f"H, W must be positive multiples of {DOWNSAMPLE}, got {(height, width)}")
        return (height // DOWNSAMPLE) * (width // DOWNSAMPLE) * self.c_out

    # ---- transmission

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised channel input (B, (H/4)(W/4) · 2 c_out): per position, c_out (Re, Im) pairs."""
        z = self.f_e(check_images(x)).permute(0, 2, 3, 1)  # (B, H/4, W/4, 2 c_out)
        return self.normalize(z.reshape(z.shape[0], -1))

    def decode(self, s_hat: torch.Tensor, height: int, width: int) -> torch.Tensor:
        b = s_hat.shape[0]
        z = s_hat.reshape(b, height // DOWNSAMPLE, width // DOWNSAMPLE, 2 * self.c_out).permute(0, 3, 1, 2)
        return self.f_d(z)

    def forward(self, x: torch.Tensor, channel: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, torch.Tensor]:
        b, _, height, width = check_images(x).shape
        s = self.encode(x)
        x_hat = self.decode(channel(s), height, width)
        uses = self.channel_uses(height, width)
        k = torch.full((b,), float(uses), device=x.device)
        cbr = torch.full((b,), bandwidth_ratio(uses, 3 * height * width, "complex"), device=x.device)
        return {"x_hat": x_hat, "k": k, "cbr": cbr}
