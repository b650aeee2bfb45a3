"""Image NTC (Swin g_a/g_s, mean-scale hyperprior): shapes, rates, real bitstreams, training.

Tiny configurations keep every test to about a second on one thread; the training test uses a
64x64 Kodak crop from the data mirror (JSCC_DATA_MIRROR) and skips without it.
"""
import math
import re
from dataclasses import replace

import numpy as np
import pytest
import torch

from kodak_images import kodak_crop
from ntscc.image.ntc import ImageNTC, NTCConfig, count_parameters, rd_loss

TWO_STAGES = NTCConfig(c=16, embed_dims=(16, 24), depths=(1, 1), heads=2, window=4, hyper_channels=8)
FOUR_STAGES = NTCConfig(c=16, embed_dims=(8, 8, 16, 16), depths=(1, 1, 2, 1), heads=2, window=4, hyper_channels=8)


pytestmark = pytest.mark.usefixtures("one_thread")


def model(config: NTCConfig = TWO_STAGES, seed: int = 0) -> ImageNTC:
    torch.manual_seed(seed)
    return ImageNTC(config)


def updated_eval_model(config: NTCConfig = TWO_STAGES) -> ImageNTC:
    m = model(config).eval()
    m.update(force=True)
    return m


def test_paper_configs():
    kodak, cifar = NTCConfig.paper_kodak(), NTCConfig.paper_cifar()
    assert (kodak.c, kodak.depths, kodak.heads, kodak.multiple) == (256, (1, 1, 2, 6), (8, 8, 8, 8), 64)
    assert (cifar.c, cifar.depths, cifar.downsampling, cifar.multiple) == (256, (2, 6), 4, 16)
    assert 768 % kodak.multiple == 0 and 512 % kodak.multiple == 0 and 32 % cifar.multiple == 0


@pytest.mark.parametrize("change, field", [
    (dict(embed_dims=(16,)), "embed_dims"),
    (dict(heads=3), "heads"),
    (dict(heads=(2, 2, 2)), "heads"),
    (dict(window=0), "window"),
    (dict(c=0), "c"),
    (dict(depths=()), "depths"),
    (dict(hyper_channels=2.5), "hyper_channels"),
    (dict(hyper_tile=24), "hyper_tile"),  # not a multiple of 16 (2 stages x h_a's 4)
])
def test_config_validation_names_the_field(change, field):
    kwargs = dict(c=16, embed_dims=(16, 24), depths=(1, 1), heads=2, window=4, hyper_channels=8) | change
    with pytest.raises(ValueError, match=f"NTCConfig.{field}"):
        NTCConfig(**kwargs)


@pytest.mark.parametrize("config, size, stages", [(TWO_STAGES, (32, 48), 2), (FOUR_STAGES, (64, 128), 4)])
def test_shapes(config, size, stages):
    m = model(config)
    H, W = size
    out = m(torch.rand(2, 3, H, W))
    h, w = H // 2 ** stages, W // 2 ** stages
    assert out["y"].shape == out["y_tilde"].shape == out["mu"].shape == out["sigma"].shape == (2, 16, h, w)
    assert out["likelihoods_y"].shape == (2, 16, h, w)
    assert out["z_tilde"].shape == out["likelihoods_z"].shape == (2, 8, h // 4, w // 4)
    assert out["bits_y_per_patch"].shape == (2, h, w) and out["bits_z"].shape == (2,)
    assert out["x_hat"].shape == (2, 3, H, W)
    assert (out["sigma"] > 0).all()
    assert set(m.analyse(torch.rand(1, 3, H, W))) == set(out) - {"x_hat"}


def test_training_adds_noise_and_eval_rounds_around_mu():
    m = model()
    x = torch.rand(1, 3, 32, 32)
    out = m.train()(x)
    assert 0 < (out["y_tilde"] - out["y"]).abs().max() <= 0.5
    assert not torch.allclose(out["y_tilde"] - out["mu"], torch.round(out["y_tilde"] - out["mu"]))
    out = m.eval()(x)
    assert torch.equal(out["y_tilde"], torch.round(out["y"] - out["mu"]) + out["mu"])


@pytest.mark.parametrize("x, shape", [
    (torch.rand(1, 3, 40, 32), "(1, 3, 40, 32)"),
    (torch.rand(3, 32, 32), "(3, 32, 32)"),
    (torch.rand(1, 1, 32, 32), "(1, 1, 32, 32)"),
    (torch.zeros(1, 3, 32, 32, dtype=torch.uint8), "(1, 3, 32, 32)"),
])
def test_wrong_input_raises_naming_shape_and_multiple(x, shape):
    with pytest.raises(ValueError, match=rf"multiples of 16.*{re.escape(shape)}"):
        model()(x)


def test_bits_per_patch_add_up_and_match_the_real_bitstream():
    m = model().eval()
    with torch.no_grad():  # spread y (std ~1) and widen σ (~2) so y carries ~10^4 bits, as after training
        m.g_a.head.weight.mul_(10)
        m.h_s[-1].bias[TWO_STAGES.c:] += 2
    m.update(force=True)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        out = m(x)
    total_y = -torch.log2(out["likelihoods_y"]).sum(dim=(1, 2, 3))
    assert torch.allclose(out["bits_y_per_patch"].sum(dim=(1, 2)), total_y, rtol=1e-5)
    assert torch.allclose(out["bits_z"], -torch.log2(out["likelihoods_z"]).sum(dim=(1, 2, 3)), rtol=1e-5)
    strings = m.compress(x)["strings"]
    for i in range(2):  # range coder output is the estimated information up to a few bytes
        assert total_y[i] > 5000
        assert abs(8 * len(strings[0][i]) - total_y[i].item()) <= 0.04 * total_y[i].item() + 64
        assert abs(8 * len(strings[1][i]) - out["bits_z"][i].item()) <= 0.05 * out["bits_z"][i].item() + 64


def test_z_round_trip_is_exact():
    m = updated_eval_model()
    x = torch.rand(2, 3, 64, 32)
    with torch.no_grad():
        out = m.analyse(x)
    strings, shape = m.compress_z(out["y"])
    assert len(strings) == 2 and all(isinstance(s, bytes) for s in strings) and shape == (4, 2)
    z_bar = m.decompress_z(strings, shape)
    assert torch.equal(z_bar, out["z_tilde"])
    assert torch.equal(z_bar - m.entropy_bottleneck._get_medians().view(1, -1, 1, 1),
                       torch.round(z_bar - m.entropy_bottleneck._get_medians().view(1, -1, 1, 1)))


@pytest.mark.parametrize("config, size", [(TWO_STAGES, (32, 64)), (FOUR_STAGES, (64, 64)),
                                          (replace(TWO_STAGES, hyper_tile=16), (32, 64))])
def test_compress_decompress_reproduces_eval_y_bar(config, size):
    m = updated_eval_model(config)
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        out = m(x)
    enc = m.compress(x)
    dec = m.decompress(enc["strings"], enc["shape"])
    assert torch.equal(dec["y_hat"], out["y_tilde"])
    assert torch.allclose(dec["x_hat"], out["x_hat"], atol=1e-6)


def test_hyper_tile_gives_each_tile_the_hyperprior_of_that_tile_alone():
    whole = updated_eval_model()
    tiled = updated_eval_model(replace(TWO_STAGES, hyper_tile=16))  # same seed, same weights
    x = torch.rand(1, 3, 32, 64)  # y is 8 x 16: 2 x 4 tiles of 4 x 4
    with torch.no_grad():
        y = tiled.latent(x)
        t = tiled.hyperprior(y)
        assert t["z_tilde"].shape == (1, 8, 2, 4) and t["mu"].shape == y.shape
        for i in range(2):
            for j in range(4):
                part = whole.hyperprior(y[..., 4 * i:4 * i + 4, 4 * j:4 * j + 4])
                assert torch.equal(t["z_tilde"][..., i:i + 1, j:j + 1], part["z_tilde"])
                assert torch.allclose(t["mu"][..., 4 * i:4 * i + 4, 4 * j:4 * j + 4], part["mu"], atol=1e-6)
                assert torch.allclose(t["sigma"][..., 4 * i:4 * i + 4, 4 * j:4 * j + 4], part["sigma"], atol=1e-6)
        assert not torch.allclose(t["mu"], whole.hyperprior(y)["mu"])  # tiles differ from the whole image
    strings, shape = tiled.compress_z(y)  # z̄ stays one bitstream per image, decoded exactly
    assert len(strings) == 1 and torch.equal(tiled.decompress_z(strings, shape), t["z_tilde"])
    with pytest.raises(ValueError, match=r"hyper_tile = 32.*\(48, 64\)"):
        model(replace(TWO_STAGES, hyper_tile=32))(torch.rand(1, 3, 48, 64))  # 48 > 32, not a multiple of it


def test_decoder_from_checkpoint_reads_the_encoders_bitstream():
    enc_model = updated_eval_model()
    dec_model = ImageNTC(TWO_STAGES).eval()  # fresh, un-updated: the state dict brings the CDF tables
    dec_model.load_state_dict(enc_model.state_dict())
    x = torch.rand(1, 3, 32, 32)
    enc = enc_model.compress(x)
    assert torch.equal(dec_model.decompress(enc["strings"], enc["shape"])["y_hat"], enc_model.eval()(x)["y_tilde"])


def test_compress_needs_update():
    with pytest.raises(RuntimeError, match="update"):
        model().compress(torch.rand(1, 3, 32, 32))


def test_rd_loss_terms():
    m = model()
    x = torch.rand(2, 3, 64, 64)
    out = m(x)
    r = rd_loss(out, x, lmbda=10.0)
    bpp_y = out["bits_y_per_patch"].sum(dim=(1, 2)).mean() / (64 * 64)
    assert torch.allclose(r["bpp_y"], bpp_y) and torch.allclose(r["bpp"], r["bpp_y"] + r["bpp_z"])
    assert torch.allclose(r["distortion"], ((x - out["x_hat"]) * 255).square().mean())
    assert torch.allclose(r["loss"], r["distortion"] + 10.0 * r["bpp"])
    s = rd_loss(out, x, lmbda=0.1, distortion="ms_ssim")
    assert 0 <= s["distortion"] <= 1 and torch.isfinite(s["loss"])
    s["loss"].backward()
    with pytest.raises(ValueError, match="distortion"):
        rd_loss(out, x, 1.0, distortion="psnr")


def test_adam_steps_lower_the_rd_loss_on_a_kodak_crop():
    crop = kodak_crop(23, 200, 300, size=64)
    x = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)[None].float() / 255
    m = model()
    lmbda = 100.0  # at init y ≈ 0: d ≈ 1.6e4 (8-bit MSE) dominates λ·bpp ≈ 17

    def eval_loss() -> float:
        m.eval()
        with torch.no_grad():
            return rd_loss(m(x), x, lmbda)["loss"].item()

    before = eval_loss()
    opt = torch.optim.Adam(m.main_parameters(), lr=1e-3)
    aux = torch.optim.Adam(m.aux_parameters(), lr=1e-3)
    m.train()
    for step in range(30):
        opt.zero_grad()
        aux.zero_grad()
        rd_loss(m(x), x, lmbda)["loss"].backward()
        if step == 0:  # eq. (13) reaches every parameter: g_a, g_s, h_a, h_s, the z prior
            assert not [n for n, p in m.named_parameters() if not n.endswith(".quantiles")
                        and (p.grad is None or not p.grad.abs().sum() > 0)]
        m.aux_loss().backward()
        opt.step()
        aux.step()
    after = eval_loss()
    assert math.isfinite(after) and after < 0.5 * before, (before, after)


def test_parameter_count_of_the_paper_model():
    m = ImageNTC(NTCConfig.paper_kodak())
    n = count_parameters(m)
    assert 24e6 < n < 27e6  # Table III: 32.94 M for NTSCC, which adds f_e, f_d (~7 M) to these
    assert count_parameters(m.g_a) == pytest.approx(count_parameters(m.g_s), rel=0.01)
