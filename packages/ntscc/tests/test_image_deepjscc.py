"""CNN deep JSCC baseline: shapes, bandwidth arithmetic, power constraint, trainability."""
from __future__ import annotations

from fractions import Fraction

import pytest
import torch

from jscc_core.channels import ComplexAWGN
from ntscc.image.deepjscc import DeepJSCC

torch.set_num_threads(1)


class Probe:
    def __init__(self):
        self.sent: torch.Tensor | None = None

    def __call__(self, s: torch.Tensor) -> torch.Tensor:
        self.sent = s.detach().clone()
        return s


def test_shapes_and_output_range():
    model = DeepJSCC(c_out=3, filters=8)
    x = torch.rand(2, 3, 16, 12)
    out = model(x, ComplexAWGN(10.0))
    assert out["x_hat"].shape == x.shape
    assert ((out["x_hat"] >= 0) & (out["x_hat"] <= 1)).all()
    assert out["k"].shape == out["cbr"].shape == (2,)


def test_channel_uses_and_bandwidth_ratio():
    model = DeepJSCC(c_out=3, filters=8)
    probe = Probe()
    out = model(torch.rand(2, 3, 16, 12), probe)
    k = (16 // 4) * (12 // 4) * 3
    assert model.channel_uses(16, 12) == k and (out["k"] == k).all()
    assert probe.sent.shape == (2, 2 * k)  # k complex uses = 2k real symbols
    assert model.bandwidth_ratio == Fraction(1, 16)
    assert torch.allclose(out["cbr"], torch.full((2,), k / (3 * 16 * 12)))
    assert DeepJSCC.channels_for_ratio(1 / 16) == (3, 1 / 16)
    assert DeepJSCC.channels_for_ratio(1 / 6) == (8, 1 / 6)
    c_out, achieved = DeepJSCC.channels_for_ratio(0.1)
    assert c_out == 5 and achieved == pytest.approx(5 / 48)
    assert DeepJSCC.channels_for_ratio(1e-4) == (1, 1 / 48)
    assert DeepJSCC.for_bandwidth_ratio(1 / 12, filters=4).c_out == 4


def test_per_image_power_is_one_per_complex_use():
    torch.manual_seed(0)
    model = DeepJSCC(c_out=2, filters=8)
    probe = Probe()
    x = torch.rand(3, 3, 8, 8) * torch.tensor([0.01, 1.0, 5.0]).reshape(-1, 1, 1, 1)
    out = model(x, probe)
    per_use = probe.sent.square().sum(1) / out["k"]
    assert torch.allclose(per_use, torch.ones(3), atol=1e-5)


def test_a_few_steps_lower_the_mse_on_a_fixed_batch():
    torch.manual_seed(0)
    model = DeepJSCC(c_out=4, filters=16)
    x = torch.nn.functional.interpolate(torch.rand(4, 3, 4, 4), size=(16, 16), mode="bilinear")  # smooth images
    channel = ComplexAWGN(20.0, generator=torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def mse() -> torch.Tensor:
        return (model(x, channel)["x_hat"] - x).square().mean()

    with torch.no_grad():
        first = float(mse())
    for _ in range(50):
        opt.zero_grad()
        loss = mse()
        loss.backward()
        opt.step()
    with torch.no_grad():
        assert float(mse()) < 0.5 * first


@pytest.mark.parametrize("shape", [(2, 3, 10, 16), (2, 1, 16, 16), (3, 16, 16), (2, 3, 16, 18)])
def test_bad_shapes_raise_value_error_naming_the_shape(shape):
    model = DeepJSCC(c_out=2, filters=4)
    with pytest.raises(ValueError, match=r"shape \(" + ", ".join(str(n) for n in shape)):
        model(torch.rand(*shape), Probe())


def test_integer_images_and_bad_constructor_arguments_are_rejected():
    with pytest.raises(ValueError, match="float"):
        DeepJSCC(c_out=2, filters=4)(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), Probe())
    with pytest.raises(ValueError, match="c_out"):
        DeepJSCC(c_out=0)
    with pytest.raises(ValueError, match="target_cbr"):
        DeepJSCC.channels_for_ratio(0.0)
