"""Building blocks of the DeepJSCC codec (GJSCC Fig. 4) and of the GenerativeJSCC decoder (Fig. 5).

* :class:`AFModule`: the attention-feature module of Xu et al. (ADJSCC, 2021), which the paper
  uses to make one model serve a range of SNRs (Sec. IV-A): global average pooling over space,
  the SNR in dB appended, two linear layers, a sigmoid, and the feature maps scaled channel by
  channel. ``bottleneck="full"``: Linear(c+1 -> c) -> LeakyReLU -> Linear(c -> c) (the DeepWiVe
  layout the paper's codec comes from); ``"c16"``: Linear(c+1 -> c/16) -> ReLU -> Linear(c/16 -> c)
  (Xu et al.'s reduction by 16).
* Residual blocks with generalised divisive normalisation (GDN) and stride 2, residual blocks with
  inverse GDN and sub-pixel upsampling by 2, plain residual blocks and Cheng et al.'s simplified
  attention blocks: CompressAI's layers (:mod:`compressai.layers`), re-exported here.
* :class:`SNRSequential`: a sequence of such blocks in which every AF module receives the SNR.
* :func:`snr_column`: a scalar or per-sample SNR in dB as the (B, 1) column the AF modules take.
"""
from __future__ import annotations

import torch
from compressai.layers import (
    AttentionBlock,
    ResidualBlock,
    ResidualBlockUpsample,
    ResidualBlockWithStride,
    conv3x3,
)
from torch import Tensor, nn

from jscc_core.channels import check_snr_db

__all__ = ["AF_BOTTLENECKS", "AFModule", "AttentionBlock", "ResidualBlock", "ResidualBlockUpsample",
           "ResidualBlockWithStride", "SNRSequential", "conv3x3", "snr_column"]

#: Hidden layouts of the AF module's two linear layers.
AF_BOTTLENECKS = ("full", "c16")


def snr_column(snr_db: float | Tensor, batch: int, like: Tensor) -> Tensor:
    """The SNR in dB as a (batch, 1) column on ``like``'s device and dtype.

    ``snr_db``: a number (the same SNR for every sample) or a (batch,) tensor (one SNR per
    sample). Values must be finite and within jscc_core.channels.SNR_DB_RANGE.
    """
    if isinstance(snr_db, bool):
        raise ValueError(f"snr_db must be a number or a (B,) tensor in dB, got {snr_db!r}")
    check_snr_db(snr_db)
    snr = torch.as_tensor(snr_db, dtype=like.dtype, device=like.device)
    if snr.dim() == 0:
        return snr.expand(batch, 1)
    if snr.shape != (batch,):
        raise ValueError(f"per-sample snr_db must have shape ({batch},), got {tuple(snr.shape)}")
    return snr[:, None]


class AFModule(nn.Module):
    """Attention-feature module (Xu et al., ADJSCC): SNR-dependent channel scaling.

    ``forward(x, snr)``: x (B, c, H, W), snr (B, 1) in dB (see :func:`snr_column`) ->
    (B, c, H, W) = x * sigmoid(MLP([mean_hw(x), snr])) per channel.
    """

    def __init__(self, channels: int, bottleneck: str = "full"):
        super().__init__()
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels must be a positive integer, got {channels!r}")
        if bottleneck not in AF_BOTTLENECKS:
            raise ValueError(f"af_bottleneck must be one of {AF_BOTTLENECKS}, got {bottleneck!r}")
        self.channels, self.bottleneck = channels, bottleneck
        if bottleneck == "full":
            hidden, act = channels, nn.LeakyReLU()
        else:
            hidden, act = max(1, channels // 16), nn.ReLU()
        self.mlp = nn.Sequential(nn.Linear(channels + 1, hidden), act, nn.Linear(hidden, channels), nn.Sigmoid())

    def forward(self, x: Tensor, snr: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"AFModule({self.channels}) takes (B, {self.channels}, H, W), got {tuple(x.shape)}")
        if snr.shape != (x.shape[0], 1):
            raise ValueError(f"AFModule takes the SNR as a ({x.shape[0]}, 1) column, got {tuple(snr.shape)}")
        context = torch.cat([x.mean(dim=(2, 3)), snr.to(x.dtype)], dim=1)  # (B, c + 1)
        return x * self.mlp(context)[:, :, None, None]

    def extra_repr(self) -> str:
        return f"channels={self.channels}, bottleneck={self.bottleneck!r}"


class SNRSequential(nn.Sequential):
    """Blocks applied in order; :class:`AFModule` members also receive the SNR column.

    ``forward(x, snr)``: x (B, c, H, W), snr (B, 1) in dB.
    """

    def forward(self, x: Tensor, snr: Tensor) -> Tensor:
        for block in self:
            x = block(x, snr) if isinstance(block, AFModule) else block(x)
        return x
