import math

import pytest
import torch

from jscc_core.metrics import (
    RANGE_TOLERANCE,
    ImageRangeError,
    LPIPSMetric,
    MetricValue,
    Unavailable,
    load_lpips,
    lpips_or_unavailable,
    mean_psnr,
    ms_ssim,
    ms_ssim_db,
    ms_ssim_label,
    ms_ssim_scales,
    psnr,
    sdr_db,
    sdr_db_per_sample,
)


def images(b, h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    # smooth-ish images: a low-resolution pattern upsampled, values in [0, 1]
    low = torch.rand(b, 3, max(h // 8, 1), max(w // 8, 1), generator=g)
    return torch.nn.functional.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)


# ------------------------------------------------------------------ PSNR


def test_psnr_known_pairs():
    x = torch.full((2, 3, 8, 8), 0.5)
    x_hat = x + torch.tensor([0.1, 0.01]).view(2, 1, 1, 1)
    assert torch.allclose(psnr(x, x_hat), torch.tensor([20.0, 40.0]), atol=1e-4)
    assert psnr(x * 255, x_hat * 255, max_val=255.0)[0].item() == pytest.approx(20.0, abs=1e-4)
    assert math.isinf(psnr(x, x)[0].item())


def test_mean_psnr_is_mean_of_per_image_psnr():
    x = torch.zeros(2, 1, 4, 4)
    x_hat = x + torch.tensor([0.1, 0.01]).view(2, 1, 1, 1)  # 20 dB and 40 dB
    assert mean_psnr(x, x_hat) == pytest.approx(30.0, abs=1e-4)
    psnr_of_mean_mse = 10 * math.log10(1 / ((0.01 + 0.0001) / 2))
    assert abs(mean_psnr(x, x_hat) - psnr_of_mean_mse) > 5


def test_psnr_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        psnr(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 5))


def _uint8_pair(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (2, 3, 32, 32), generator=g, dtype=torch.uint8)
    noise = torch.randint(-6, 7, x.shape, generator=g)
    return x, (x.int() + noise).clamp(0, 255).to(torch.uint8)


def test_psnr_reads_uint8_on_its_own_scale():
    x, y = _uint8_pair()
    expected = psnr(x.double() / 255, y.double() / 255)
    assert 30 < float(expected.min()) < 40
    assert torch.allclose(psnr(x, y).double(), expected, atol=1e-4)  # not the -9.5 dB of 0-255 values read as [0, 1]
    assert torch.allclose(psnr(x, y, max_val=255).double(), expected, atol=1e-4)
    with pytest.raises(ImageRangeError, match="uint8 images are on the 0-255 scale, not max_val=1"):
        psnr(x, y, max_val=1.0)


@pytest.mark.parametrize("which", ["x", "x_hat"])
def test_psnr_refuses_0_255_floats_and_mixed_scales(which):
    x, y = (t.float() / 255 for t in _uint8_pair())
    pair = {"x": x, "x_hat": y}
    pair[which] = pair[which] * 255
    with pytest.raises(ImageRangeError, match=rf"psnr: {which} has values in \[0, 25\d\], outside \[0, max_val=1\]: "
                                              "divide 0-255 images by 255"):
        psnr(pair["x"], pair["x_hat"])
    assert psnr(x * 255, y * 255, max_val=255).allclose(psnr(x, y), atol=1e-3)  # the scale said is accepted
    with pytest.raises(ImageRangeError, match="x is torch.uint8 and x_hat is torch.float32"):
        psnr(_uint8_pair()[0], y)
    with pytest.raises(ImageRangeError, match="torch.int16 images need max_val"):
        psnr(_uint8_pair()[0].to(torch.int16), _uint8_pair()[1].to(torch.int16))


def test_psnr_range_tolerance_and_unclamped_estimate():
    x = torch.full((1, 3, 4, 4), 0.5)
    near = x.clone()
    near[0, 0, 0, 0] = 1 + RANGE_TOLERANCE / 2  # rounding above 1 is not a scale mistake
    assert math.isfinite(psnr(x, near).item())
    over = x.clone()
    over[0, 0, 0, 0] = 1.2  # a decoder's output, not clamped
    with pytest.raises(ImageRangeError, match=r"x_hat has values in \[0.5, 1.2\].*clamp x_hat to \[0, 1\] first"):
        psnr(x, over)
    assert math.isfinite(psnr(x, over.clamp(0, 1)).item())


# ------------------------------------------------------------------ MS-SSIM


def test_ms_ssim_scales_rule():
    assert ms_ssim_scales(32) == 2
    assert ms_ssim_scales(128) == 4
    assert ms_ssim_scales(161) == 5
    assert ms_ssim_scales(512) == 5
    with pytest.raises(ValueError):
        ms_ssim_scales(8)


@pytest.mark.parametrize("size", [32, 64])
def test_ms_ssim_small_images(size):
    x = images(3, size, size)
    noisy = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    same = ms_ssim(x, x)
    assert same.shape == (3,)
    assert torch.allclose(same, torch.ones(3), atol=1e-5)
    v = ms_ssim(x, noisy)
    assert (v < 0.99).all() and (v > 0).all()


def test_ms_ssim_full_size_matches_reduced_rule_path():
    import pytorch_msssim

    x = images(1, 176, 176)
    y = (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    ref = pytorch_msssim.ms_ssim(x, y, data_range=1.0, size_average=False)
    assert torch.allclose(ms_ssim(x, y), ref)
    # our own multi-scale loop with the standard 5 weights reproduces pytorch_msssim exactly
    own = ms_ssim(x, y, weights=[0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
    assert torch.allclose(own, ref, atol=1e-6)


def test_ms_ssim_fixed_scales():
    import pytorch_msssim

    x = images(2, 256, 256)
    y = (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(3))).clamp(0, 1)
    five = ms_ssim(x, y, scales=5)
    assert torch.equal(five, ms_ssim(x, y))  # 5 scales at 256 px: the existing result, unchanged
    assert torch.allclose(five, pytorch_msssim.ms_ssim(x, y, data_range=1.0, size_average=False))
    w = torch.tensor([0.0448, 0.2856, 0.3001], dtype=torch.float64)
    assert torch.allclose(ms_ssim(x, y, scales=3), ms_ssim(x, y, weights=(w / w.sum()).tolist()))

    small = images(2, 64, 64)
    noisy = (small + 0.1 * torch.randn(small.shape, generator=torch.Generator().manual_seed(4))).clamp(0, 1)
    assert torch.allclose(ms_ssim(small, small, scales=3), torch.ones(2), atol=1e-5)
    three = ms_ssim(small, noisy, scales=3)
    assert torch.equal(three, ms_ssim(small, noisy))  # 3 is also the size rule's choice at 64 px
    assert ((three > 0) & (three < 0.99)).all()
    with pytest.raises(ValueError, match="at most 3 MS-SSIM scales"):
        ms_ssim(small, noisy, scales=5)
    with pytest.raises(AssertionError):  # the reason for fewer scales: pytorch_msssim refuses 64 px
        pytorch_msssim.ms_ssim(small, noisy, data_range=1.0)
    with pytest.raises(ValueError, match="1..5"):
        ms_ssim(small, noisy, scales=0)


def test_ms_ssim_scale_of_the_images():
    x, y = _uint8_pair()
    expected = ms_ssim(x.float() / 255, y.float() / 255)
    assert torch.allclose(ms_ssim(x, y), expected, atol=1e-5)  # uint8: data range 255
    with pytest.raises(ImageRangeError, match=r"ms_ssim: x has values in \[0, 25\d\], outside \[0, data_range=1\]"):
        ms_ssim(x.float(), y.float(), data_range=1.0)
    # x_hat may overshoot: MS-SSIM is also a training loss on unclamped decoder outputs
    overshoot = (y.float() / 255 * 1.1 - 0.05)
    assert torch.isfinite(ms_ssim(x.float() / 255, overshoot)).all()


def test_ms_ssim_label():
    assert ms_ssim_label(3) == "MS-SSIM (3-scale)"
    assert ms_ssim_label(5) == "MS-SSIM"
    with pytest.raises(ValueError):
        ms_ssim_label(6)


def test_ms_ssim_db():
    assert ms_ssim_db(0.9) == pytest.approx(10.0)
    assert ms_ssim_db(0.99) == pytest.approx(20.0)
    assert torch.allclose(ms_ssim_db(torch.tensor([0.9, 0.999])), torch.tensor([10.0, 30.0]))
    assert ms_ssim_db(1.0) == pytest.approx(100.0)  # 1 - MS-SSIM clipped at 1e-10
    assert ms_ssim_db(1.0 + 1e-7) == pytest.approx(100.0)  # rounding above 1: no math domain error
    assert ms_ssim_db(torch.tensor([1.0])).item() == pytest.approx(100.0)


# ------------------------------------------------------------------ SDR (NTSCC eq. 30)


def test_sdr_known_pair():
    x = torch.tensor([[3.0, 4.0], [0.0, 5.0]])  # ||x||^2 = 25 each
    x_hat = torch.tensor([[3.0, 3.5], [0.0, 4.0]])  # errors 0.25 and 1.0
    assert sdr_db(x, x_hat) == pytest.approx(10 * math.log10(25 / 0.625))
    per = sdr_db_per_sample(x, x_hat)
    assert torch.allclose(per, torch.tensor([20.0, 10 * math.log10(25)], dtype=torch.float64))


# ------------------------------------------------------------------ LPIPS weight policy


def test_lpips_unavailable_when_resolver_raises():
    def resolver(name):
        raise FileNotFoundError(f"{name}: not in mirror and offline")

    metric = load_lpips("alex", resolver=resolver)
    assert isinstance(metric, Unavailable)
    assert metric.name == "lpips_alex"
    assert "lpips_alex_backbone" in metric.reason and "offline" in metric.reason

    record = lpips_or_unavailable(metric, torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))
    assert math.isnan(record.value) and not record.available
    assert record.to_record() == {"name": "lpips_alex", "value": None, "available": False,
                                  "reason": metric.reason}


def test_lpips_unavailable_without_resolver():
    assert isinstance(load_lpips("vgg"), Unavailable)
    with pytest.raises(ValueError):
        load_lpips("resnet", resolver=lambda n: n)


def test_lpips_backbone_key_mapping_plumbing(tmp_path):
    """Plumbing only: SELF-MADE random torchvision-shaped weights prove that the checkpoint's
    `features.*` keys land in lpips's slice modules. No LPIPS value is computed or reported
    with these weights."""
    torchvision = pytest.importorskip("torchvision")
    pytest.importorskip("lpips")
    fake = torchvision.models.alexnet(weights=None).state_dict()
    path = tmp_path / "alexnet-owt-7be5be79.pth"
    torch.save(fake, path)
    asked = []
    metric = load_lpips("alex", resolver=lambda name: asked.append(name) or path)
    assert asked == ["lpips_alex_backbone"]  # the torchvision file is the first choice
    assert isinstance(metric, LPIPSMetric) and metric.backbone_entry == "lpips_alex_backbone"
    loaded = metric.model.net.state_dict()
    assert len(loaded) == 10
    for key, value in loaded.items():
        assert torch.equal(value, fake["features." + key.split(".", 1)[1]])
    assert all(not p.requires_grad for p in metric.parameters())
    with pytest.raises(ImageRangeError, match="lpips_alex: expects float images in \\[0, 1\\], got torch.uint8"):
        metric(*_uint8_pair())

    # A file with the wrong layout is an error, never silently used.
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="bad.pth: 1 conv parameters, expected 2,469,696"):
        load_lpips("alex", resolver=lambda name: tmp_path / "bad.pth")
    shuffled = {k.replace("features.3.", "features.4."): v for k, v in fake.items()}  # right count, wrong layer
    torch.save(shuffled, tmp_path / "shuffled.pth")
    with pytest.raises(ValueError, match="not the expected torchvision backbone"):
        load_lpips("alex", resolver=lambda name: tmp_path / "shuffled.pth")


def test_metric_value_record():
    assert MetricValue("psnr", 30.0).to_record() == {"name": "psnr", "value": 30.0, "available": True,
                                                     "reason": None}
