"""The CPU speed benchmark of the image models (pipelines/ntscc/benchmark.py) on tiny models."""
from __future__ import annotations

import torch

from ntscc.image.deepjscc import DeepJSCC
from ntscc.image.jscc import JSCCConfig
from ntscc.image.model import ImageNTSCC, ImageNTSCCConfig
from ntscc.image.ntc import NTCConfig
from pipelines.ntscc.benchmark import PARTS, time_model


def test_timing_reports_seconds_per_image_and_the_parts_inside_them():
    torch.manual_seed(0)
    ntc = NTCConfig(c=8, embed_dims=(8, 8, 8, 8), depths=(1, 1, 1, 1), heads=2, window=4, hyper_channels=8)
    model = ImageNTSCC(ImageNTSCCConfig(ntc, JSCCConfig(c=8, d=8, n_e=2, n_d=2, heads=2, rate_values=(4, 8, 16),
                                                        window=2)))
    model.update(force=True)
    images = [torch.rand(1, 3, 64, 128, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    out = time_model(model, images, 10.0, 0.2)
    assert out["images"] == 3 and out["parameters"] == sum(p.numel() for p in model.parameters())
    assert 0 < out["min_seconds"] <= out["median_seconds"] and out["median_cpu_seconds"] > 0
    parts = out["median_seconds_by_part"]
    assert set(parts) == set(PARTS) and all(v > 0 for v in parts.values())
    assert sum(parts.values()) < 3 * out["median_seconds"]  # medians of parts of the same calls
    assert not model.jscc.f_e._forward_hooks and not model.ntc.g_a._forward_pre_hooks  # hooks removed
    cnn = time_model(DeepJSCC(3, filters=4), images, 10.0, None)
    assert cnn["images"] == 3 and "median_seconds_by_part" not in cnn
