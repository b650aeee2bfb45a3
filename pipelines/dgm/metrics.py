"""Per-image quality of a reconstruction: PSNR and MS-SSIM (jscc_core.metrics) of uint8 or [0, 1] images."""
from __future__ import annotations

import numpy as np
import torch

from jscc_core.images import to_tensor
from jscc_core.metrics import ms_ssim, psnr


def quality(x: np.ndarray, x_hat: np.ndarray | torch.Tensor) -> tuple[float, float]:
    """(PSNR dB, MS-SSIM) of uint8 (H, W, 3) ``x`` and ``x_hat`` (uint8 (H, W, 3) or float (1, 3, H, W) in [0, 1])."""
    ref = to_tensor(x)
    rec = to_tensor(x_hat) if isinstance(x_hat, np.ndarray) else x_hat.detach().float().clamp(0, 1)
    rec = torch.round(rec * 255) / 255  # what a display shows: 8-bit pixels
    return float(psnr(ref, rec)[0]), float(ms_ssim(ref, rec, data_range=1.0)[0])
