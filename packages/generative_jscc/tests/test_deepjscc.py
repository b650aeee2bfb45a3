"""DeepJSCC forward operator A (GJSCC Fig. 4): AF modules follow the SNR, rho accounting, power per image, training."""
import pytest
import torch
import torch.nn.functional as F

from generative_jscc.blocks import AFModule, snr_column
from generative_jscc.deepjscc import DeepJSCC
from generative_jscc.objectives import draw_snr, jscc_loss, mse_lpips
from jscc_core.training import TrainSchedule, train

pytestmark = pytest.mark.usefixtures("one_thread")


def pooled_l1(x, y):
    """A small differentiable stand-in for LPIPS: per-image L1 distance of 4x4 average-pooled images."""
    return (F.avg_pool2d(x, 4) - F.avg_pool2d(y, 4)).abs().flatten(1).mean(1)


def _images(n=4, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 3, size // 8, size // 8, generator=g)  # smooth images: learnable in a few steps
    return F.interpolate(base, size=(size, size), mode="bilinear", align_corners=False)


def test_af_module_scales_channels_by_the_snr_and_its_layers_get_gradients():
    torch.manual_seed(0)
    af = AFModule(8)
    x = torch.randn(2, 8, 4, 4)
    low, high = af(x, snr_column(-5.0, 2, x)), af(x, snr_column(5.0, 2, x))
    assert not torch.allclose(low, high)
    ratio = low / x  # one factor per image and channel, in (0, 1)
    assert torch.allclose(ratio, ratio[:, :, :1, :1].expand_as(ratio), atol=1e-5)
    assert 0 < ratio.min() and ratio.max() < 1
    (low - high).square().sum().backward()
    for layer in (af.mlp[0], af.mlp[2]):
        assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
    c16 = AFModule(32, "c16")
    assert c16.mlp[0].out_features == 2 and isinstance(c16.mlp[1], torch.nn.ReLU)
    with pytest.raises(ValueError, match="af_bottleneck"):
        AFModule(8, "c8")


def test_encoder_and_decoder_outputs_change_with_the_snr_and_every_af_module_learns():
    torch.manual_seed(0)
    model = DeepJSCC(2, 8)
    x = _images(2)
    z_low, z_high = model.f_theta(x, -5.0), model.f_theta(x, 5.0)
    assert not torch.allclose(z_low, z_high)
    assert not torch.allclose(model.g_phi(z_low, -5.0), model.g_phi(z_low, 5.0))  # same z_hat, other SNR
    model(x, torch.tensor([-5.0, 5.0])).sum().backward()
    afs = [m for m in model.modules() if isinstance(m, AFModule)]
    assert len(afs) == 8
    for af in afs:
        assert af.mlp[0].weight.grad.abs().sum() > 0 and af.mlp[2].weight.grad.abs().sum() > 0


@pytest.mark.parametrize(("c_out", "rho"), [(2, 0.0013), (8, 0.0052)])
def test_bandwidth_ratio_counts_complex_uses_of_the_actual_channel_input(c_out, rho):
    model = DeepJSCC(c_out, 8)
    assert round(model.bandwidth_ratio, 4) == rho
    for h, w in ((32, 32), (64, 48)):
        z = model.f_theta(_images(1, 32) if h == w else torch.rand(1, 3, h, w), 0.0)
        complex_uses = z[0].numel() / 2  # consecutive real pairs are one complex symbol
        assert complex_uses == model.channel_uses(h, w)
        assert complex_uses / (3 * h * w) == pytest.approx(model.bandwidth_ratio) == model.rho(h, w)


def test_power_per_image_is_one_per_complex_use_and_the_channel_adds_the_stated_noise():
    torch.manual_seed(0)
    model = DeepJSCC(8, 8)
    x = torch.cat([_images(2), 0.01 * _images(2, seed=1)])  # very different input scales
    z = model.f_theta(x, 0.0)
    per_image = z.flatten(1).square().sum(1) / (z[0].numel() / 2)
    assert torch.allclose(per_image, torch.ones(4), atol=1e-5)
    big = torch.rand(2, 3, 256, 256)  # 2 * 8 * 16 * 16 / 2 uses per image: enough to measure sigma^2
    z = model.f_theta(big, 0.0).detach()
    snr = torch.tensor([0.0, 10.0])
    noise = model.channel(z, snr, torch.Generator().manual_seed(1)) - z
    var = noise.flatten(1).square().sum(1) / (z[0].numel() / 2)  # per complex use
    assert var.tolist() == pytest.approx([1.0, 0.1], rel=0.1)


def test_bad_inputs_are_named():
    model = DeepJSCC(2, 8)
    with pytest.raises(ValueError, match="multiples of 16"):
        model(torch.rand(1, 3, 30, 32), 0.0)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        model(torch.rand(2, 3, 32, 32), torch.zeros(3))
    with pytest.raises(ValueError, match="snr_db"):
        model(torch.rand(1, 3, 32, 32), float("nan"))
    with pytest.raises(ValueError, match="even"):
        DeepJSCC(3, 8)


def test_per_sample_snr_is_each_sample_at_its_own_snr():
    torch.manual_seed(0)
    model = DeepJSCC(2, 8).eval()
    x = _images(2)
    both = model.g_phi(model.f_theta(x, torch.tensor([-5.0, 5.0])), torch.tensor([-5.0, 5.0]))
    first = model.g_phi(model.f_theta(x[:1], -5.0), -5.0)
    second = model.g_phi(model.f_theta(x[1:], 5.0), 5.0)
    assert torch.allclose(both, torch.cat([first, second]), atol=1e-5)
    assert 0 <= both.min() and both.max() <= 1


def test_mse_lpips_and_the_snr_draws():
    x, y = _images(3), _images(3, seed=1)
    d = mse_lpips(x, y, pooled_l1, 2.0, 0.5)
    assert d.shape == (3,)
    assert torch.allclose(d, 2 * (x - y).square().flatten(1).mean(1) + 0.5 * pooled_l1(x, y))
    assert torch.allclose(mse_lpips(x, y, None, 1.0, 0.0), (x - y).square().flatten(1).mean(1))
    with pytest.raises(ValueError, match="perceptual"):
        mse_lpips(x, y, None)
    torch.manual_seed(5)
    a = draw_snr([-5, 0, 5], 200)
    torch.manual_seed(5)
    assert torch.equal(a, draw_snr([-5, 0, 5], 200)) and set(a.tolist()) == {-5.0, 0.0, 5.0}


def test_a_few_training_steps_lower_the_loss(tmp_path):
    torch.manual_seed(0)
    model = DeepJSCC(8, 8)
    data = _images(4, 16)
    sched = TrainSchedule(steps=60, batch_size=4, learning_rate=5e-3, betas=(0.9, 0.99), log_every=10,
                          checkpoint_every=60)
    logs = []
    # the whole set every step at one SNR: a smooth loss curve (the SNR must not tell the images apart,
    # or the decoder learns them from the SNR alone, without the channel)
    train(model, jscc_loss([10], pooled_l1), lambda n: data, sched, tmp_path / "a.pt", "fp",
          on_log=lambda step, m: logs.append(m["loss"]))
    assert logs[-1] < 0.85 * logs[0]


def test_channels_last_images_train():
    # images permuted from (B, H, W, 3) arrays; torch's CPU backward of a stride-2 1x1 convolution
    # crashes on such inputs, so f_theta makes them contiguous
    model = DeepJSCC(2, 8)
    x = torch.rand(2, 32, 32, 3).permute(0, 3, 1, 2)
    model(x, 0.0).square().mean().backward()
    assert model.encoder.net[0].skip.weight.grad is not None
