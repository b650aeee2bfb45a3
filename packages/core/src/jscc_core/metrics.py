"""Distortion and perception metrics: PSNR, MS-SSIM, SDR (NTSCC eq. 30) and LPIPS.

Images are batches (B, C, H, W) with values in [0, ``max_val``]; every metric is returned
per image, and curve points average per-image values as the papers do. The metrics never
clamp or quantise: do that on x_hat first if the paper does (e.g. to 8-bit).

LPIPS follows the weight policy of docs/conventions.md ("Data and pretrained weights"): the
torchvision backbone comes from a local file handed over by a resolver (data registry: mirror,
then official URL, sha256 checked). If it cannot be had, :func:`load_lpips` returns
:class:`Unavailable`; random or self-made backbone weights are never used under the name LPIPS.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "psnr",
    "mean_psnr",
    "MS_SSIM_WEIGHTS",
    "ms_ssim_scales",
    "ms_ssim",
    "ms_ssim_db",
    "MS_SSIM_DB_FLOOR",
    "sdr_db",
    "sdr_db_per_sample",
    "LPIPS_BACKBONES",
    "Unavailable",
    "LPIPSMetric",
    "load_lpips",
    "MetricValue",
    "lpips_or_unavailable",
]


def _check_pair(x: Tensor, x_hat: Tensor, min_dim: int = 2) -> None:
    if x.shape != x_hat.shape:
        raise ValueError(f"x and x_hat must have the same shape, got {tuple(x.shape)} and {tuple(x_hat.shape)}")
    if x.dim() < min_dim:
        raise ValueError(f"expected a batch with dim >= {min_dim} (batch first), got shape {tuple(x.shape)}")


# --------------------------------------------------------------------------- PSNR


def psnr(x: Tensor, x_hat: Tensor, max_val: float = 1.0) -> Tensor:
    """Per-image PSNR = 10 log10(max_val^2 / MSE) in dB, shape (B,); inf where x_hat == x."""
    _check_pair(x, x_hat)
    mse = (x.double() - x_hat.double()).square().flatten(1).mean(1)
    return (10 * torch.log10(max_val ** 2 / mse)).to(x.dtype if x.is_floating_point() else torch.float32)


def mean_psnr(x: Tensor, x_hat: Tensor, max_val: float = 1.0) -> float:
    """Mean over images of the per-image PSNR, the papers' PSNR of a data set.

    This is the mean of per-image PSNR, *not* the PSNR of the mean MSE (which is lower by
    Jensen's inequality). Curves built batch by batch should keep per-image values
    (:func:`psnr`) and average at the end.
    """
    return float(psnr(x, x_hat, max_val).double().mean())


# --------------------------------------------------------------------------- MS-SSIM

#: Wang et al. (2003) scale weights, fine to coarse, as in pytorch_msssim.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim_scales(min_side: int, win_size: int = 11) -> int:
    """Number of MS-SSIM scales for images whose smaller side is ``min_side`` pixels.

    Rule: the largest L <= 5 with min_side > (win_size - 1) 2^(L-1), i.e. the coarsest scale
    is still larger than the Gaussian window (the constraint pytorch_msssim asserts for
    L = 5). 256x256 and larger: 5 scales; Kodak-size crops of 128: 4; CIFAR 32x32: 2.
    """
    levels = 0
    while levels < len(MS_SSIM_WEIGHTS) and min_side > (win_size - 1) * 2 ** levels:
        levels += 1
    if levels == 0:
        raise ValueError(f"images with smaller side {min_side} px are too small for MS-SSIM with win_size={win_size}")
    return levels


def ms_ssim(x: Tensor, x_hat: Tensor, data_range: float = 1.0, win_size: int = 11, win_sigma: float = 1.5,
            weights: Sequence[float] | None = None) -> Tensor:
    """Per-image MS-SSIM (Wang et al. 2003) via pytorch_msssim, shape (B,).

    Images large enough for the standard 5 scales (smaller side > 160 px at win_size 11) go
    through ``pytorch_msssim.ms_ssim`` unchanged. Smaller images (e.g. CIFAR 32x32) use
    L = :func:`ms_ssim_scales` scales with the first L standard weights renormalised to sum
    to 1, computed with pytorch_msssim's own SSIM kernel, same window and constants.
    Values of small images are therefore comparable within this project, not necessarily
    with a paper that used a different small-image rule.
    """
    import pytorch_msssim
    from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim

    _check_pair(x, x_hat, min_dim=4)
    if weights is None:
        levels = ms_ssim_scales(min(x.shape[-2:]), win_size)
        if levels == len(MS_SSIM_WEIGHTS):
            return pytorch_msssim.ms_ssim(x, x_hat, data_range=data_range, size_average=False,
                                          win_size=win_size, win_sigma=win_sigma)
        w = torch.tensor(MS_SSIM_WEIGHTS[:levels], dtype=torch.float64)
        weights = (w / w.sum()).tolist()
    weights_t = x.new_tensor(list(weights))
    levels = len(weights)
    win = _fspecial_gauss_1d(win_size, win_sigma).repeat([x.shape[1]] + [1] * (x.dim() - 1))
    X, Y, mcs = x, x_hat, []
    for i in range(levels):
        ssim_per_channel, cs = _ssim(X, Y, data_range=data_range, win=win, size_average=False)
        if i < levels - 1:
            mcs.append(torch.relu(cs))
            padding = [s % 2 for s in X.shape[2:]]
            X = F.avg_pool2d(X, kernel_size=2, padding=padding)
            Y = F.avg_pool2d(Y, kernel_size=2, padding=padding)
    stack = torch.stack(mcs + [torch.relu(ssim_per_channel)], dim=0)
    return torch.prod(stack ** weights_t.view(-1, 1, 1), dim=0).mean(1)


MS_SSIM_DB_FLOOR = 1e-10  # 1 - MS-SSIM is clipped here: at most 100 dB


def ms_ssim_db(value):
    """MS-SSIM in dB, -10 log10(1 - MS-SSIM), as NTSCC plots it (Fig. 13). Float or tensor.

    1 - MS-SSIM is clipped below at ``MS_SSIM_DB_FLOOR`` (1e-10), so an MS-SSIM of 1 (or a
    rounding error above it) gives 100 dB, never inf or NaN; below 1 - 1e-10 there is no clipping.
    """
    if isinstance(value, Tensor):
        return -10 * torch.log10((1 - value).clamp_min(MS_SSIM_DB_FLOOR))
    return -10 * math.log10(max(1 - value, MS_SSIM_DB_FLOOR))


# --------------------------------------------------------------------------- SDR


def sdr_db(x: Tensor, x_hat: Tensor) -> float:
    """Signal-to-distortion ratio of a batch of vectors (NTSCC eq. 30), in dB:

    SDR = 10 log10( E||x||^2 / E||x - x_hat||^2 ), expectations = means over the batch.
    """
    _check_pair(x, x_hat)
    signal = x.double().square().flatten(1).sum(1).mean()
    error = (x.double() - x_hat.double()).square().flatten(1).sum(1).mean()
    return float(10 * torch.log10(signal / error))


def sdr_db_per_sample(x: Tensor, x_hat: Tensor) -> Tensor:
    """Per-sample SDR 10 log10(||x||^2 / ||x - x_hat||^2), shape (B,), for SDR maps (NTSCC Fig. 10)."""
    _check_pair(x, x_hat)
    signal = x.double().square().flatten(1).sum(1)
    error = (x.double() - x_hat.double()).square().flatten(1).sum(1)
    return 10 * torch.log10(signal / error)


# --------------------------------------------------------------------------- LPIPS

#: lpips net name -> registry entry of its torchvision backbone weights.
LPIPS_BACKBONES = {
    "alex": "lpips_alex_backbone",  # torchvision alexnet-owt-7be5be79.pth
    "vgg": "lpips_vgg_backbone",  # torchvision vgg16-397923af.pth
}


@dataclass(frozen=True)
class Unavailable:
    """A metric that could not be built, and why (recorded with the results, never hidden)."""

    name: str
    reason: str


class LPIPSMetric(nn.Module):
    """LPIPS v0.1 (Zhang et al. 2018) with frozen weights; per-image distance, shape (B,).

    Inputs in [0, ``data_range``]; gradients flow to the inputs, so it also serves as the
    perceptual loss term of GJSCC eq. (16) / NTSCC eq. (29). Build with :func:`load_lpips`.
    """

    def __init__(self, model: nn.Module, net: str, backbone_path: Path):
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.net = net
        self.backbone_path = Path(backbone_path)
        self.name = f"lpips_{net}"

    def train(self, mode: bool = True) -> "LPIPSMetric":
        # A metric: dropout stays off whatever the surrounding model's mode.
        super().train(mode)
        self.model.eval()
        return self

    def forward(self, x: Tensor, x_hat: Tensor, data_range: float = 1.0) -> Tensor:
        _check_pair(x, x_hat, min_dim=4)
        return self.model(x / data_range, x_hat / data_range, normalize=True).flatten()


def _backbone_state_dict(net_module: nn.Module, features: dict[str, Tensor], source: Path) -> dict[str, Tensor]:
    """Map torchvision ``features.<i>.<param>`` keys onto lpips's ``slice<s>.<i>.<param>``.

    lpips's backbones (lpips/pretrained_networks.py) register torchvision's ``features[i]``
    as child ``str(i)`` of ``slice1..sliceN``, so the layer index is kept and only the
    prefix changes; torchvision's ``classifier.*`` is not used.
    """
    mapped, missing, wrong_shape = {}, [], []
    for key, target in net_module.state_dict().items():
        _, rest = key.split(".", 1)  # "slice2.3.weight" -> "3.weight"
        src_key = f"features.{rest}"
        if src_key not in features:
            missing.append(src_key)
        elif tuple(features[src_key].shape) != tuple(target.shape):
            wrong_shape.append(f"{src_key}: {tuple(features[src_key].shape)} != {tuple(target.shape)}")
        else:
            mapped[key] = features[src_key]
    if missing or wrong_shape:
        raise ValueError(f"{source} is not the expected torchvision backbone: missing {missing}, "
                         f"wrong shapes {wrong_shape}")
    return mapped


def load_lpips(net: str = "alex", resolver: Callable[[str], Path] | None = None,
               device: str | torch.device = "cpu") -> LPIPSMetric | Unavailable:
    """Build LPIPS from the lpips package's linear weights and a locally resolved backbone.

    ``resolver(name) -> pathlib.Path`` returns the local file of registry entry
    ``LPIPS_BACKBONES[net]`` (torchvision checkpoint) or raises. If it raises, if no
    resolver is given, or if the lpips package is missing, an :class:`Unavailable` naming
    the reason is returned. A file that does not match the backbone raises ``ValueError``.
    """
    if net not in LPIPS_BACKBONES:
        raise ValueError(f"LPIPS net must be one of {sorted(LPIPS_BACKBONES)}, got {net!r}")
    name, entry = f"lpips_{net}", LPIPS_BACKBONES[net]
    if resolver is None:
        return Unavailable(name, f"no weight resolver given for {entry}")
    try:
        import lpips
    except ImportError as exc:
        return Unavailable(name, f"lpips package not installed (pip install 'jscc-core[lpips]'): {exc}")
    try:
        path = Path(resolver(entry))
    except Exception as exc:  # any resolver failure means "weights absent"
        return Unavailable(name, f"{entry} unavailable: {type(exc).__name__}: {exc}")

    features = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(features, dict):
        raise ValueError(f"{path} does not hold a state dict")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torchvision\..*")
        # pnet_rand=True: torchvision builds the backbone without downloading; its weights
        # are replaced below. pretrained=True loads lpips's own linear layers from the package.
        model = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False)
    model.net.load_state_dict(_backbone_state_dict(model.net, features, path), strict=True)
    return LPIPSMetric(model, net, path).to(device)


@dataclass(frozen=True)
class MetricValue:
    """One metric value for a results record: NaN in memory when unavailable, with the reason.

    :meth:`to_record` gives the JSON form ``{"name", "value", "available", "reason"}`` with
    ``value=None`` (JSON has no NaN) when unavailable; plots show such points as unavailable.
    """

    name: str
    value: float
    reason: str | None = None

    @property
    def available(self) -> bool:
        return self.reason is None and not math.isnan(self.value)

    def to_record(self) -> dict:
        return {"name": self.name, "value": self.value if self.available else None,
                "available": self.available, "reason": self.reason}


def lpips_or_unavailable(metric: LPIPSMetric | Unavailable, x: Tensor, x_hat: Tensor,
                         data_range: float = 1.0) -> MetricValue:
    """Mean per-image LPIPS of a batch, or NaN with the reason if LPIPS is unavailable."""
    if isinstance(metric, Unavailable):
        return MetricValue(metric.name, math.nan, metric.reason)
    with torch.no_grad():
        value = metric(x, x_hat, data_range).double().mean().item()
    return MetricValue(metric.name, value)
