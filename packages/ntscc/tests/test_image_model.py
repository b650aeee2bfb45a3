"""Image NTSCC (NTC + rate-adaptive JSCC): bandwidth accounting, real side information, ablations,
objectives and a short training run.

Tiny configurations at one thread; the training test uses a 64x64 Kodak crop from the data
mirror (JSCC_DATA_MIRROR) and skips without it.
"""
import math
import re

import numpy as np
import pytest
import torch

from jscc_core.digital.mcs import NTSCC_BPG_LDPC
from kodak_images import kodak_crop
from ntscc.image.deepjscc import DeepJSCC
from ntscc.image.jscc import JSCCConfig
from ntscc.image.model import ImageNTSCC, ImageNTSCCConfig, SideInfoLink
from ntscc.image.ntc import ImageNTC, NTCConfig, rd_loss
from ntscc.image.objectives import (
    deepjscc_objective,
    image_distortion,
    ntc_objective,
    ntscc_objective,
    rate_per_pixel,
)

NTC = NTCConfig(c=16, embed_dims=(16, 16), depths=(1, 1), heads=2, window=4, hyper_channels=8)
JSCC = JSCCConfig(c=16, d=16, n_e=1, n_d=1, heads=2, rate_values=(2, 4, 8, 16))
CONFIG = ImageNTSCCConfig(NTC, JSCC)
SNR = 10.0
CAPACITY = math.log2(1 + 10 ** (SNR / 10))
ETA = 0.05  # with updated_eval_model's y, patches spread over several values of V


pytestmark = pytest.mark.usefixtures("one_thread")


def model(config: ImageNTSCCConfig = CONFIG, seed: int = 0) -> ImageNTSCC:
    torch.manual_seed(seed)
    return ImageNTSCC(config)


def updated_eval_model(config: ImageNTSCCConfig = CONFIG) -> ImageNTSCC:
    m = model(config).eval()
    with torch.no_grad():  # spread y so that patches use several values of V, as after training
        m.ntc.g_a.head.weight.mul_(10)
    m.update(force=True)
    return m


def images(b: int = 2, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, 3, size, size, generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------- configuration


def test_config_validation_and_paper_configs():
    with pytest.raises(ValueError, match=r"JSCCConfig.c=32.*NTCConfig.c=16"):
        ImageNTSCCConfig(NTC, JSCCConfig(c=32, d=16, n_e=1, n_d=1, heads=2, rate_values=(2, 4)))
    with pytest.raises(ValueError, match="refine must be False"):
        ImageNTSCCConfig(NTC, JSCCConfig(c=16, d=16, n_e=1, n_d=1, heads=2, rate_values=(), rate_adaptive=False,
                                         fixed_rate=4))
    with pytest.raises(ValueError, match="side_info"):
        ImageNTSCCConfig(NTC, JSCC, side_info="turbo")
    kodak, cifar = ImageNTSCCConfig.paper_kodak(), ImageNTSCCConfig.paper_cifar()
    assert kodak.ntc == NTCConfig.paper_kodak() and cifar.ntc == NTCConfig.paper_cifar()
    assert kodak.jscc == cifar.jscc == JSCCConfig.paper() and kodak.variant == "ntscc"
    assert CONFIG.comparison_i().variant == "comparison_i"
    assert CONFIG.comparison_ii(8).variant == "comparison_ii"
    assert kodak.fixed_rate_for_cbr(1 / 16) == 96  # 48 complex uses per 16x16x3 patch
    assert ImageNTSCCConfig(NTC, JSCC, side_info="MCS5").link.mcs.bits_per_symbol == 2


def test_side_info_link_formulas():
    bits = torch.tensor([0.0, 100.0, 4096.0 - 24, 4096.0 - 23])
    cap = SideInfoLink()
    assert torch.allclose(cap.channel_uses(bits, SNR), bits / CAPACITY)
    mcs = SideInfoLink(NTSCC_BPG_LDPC)
    assert mcs.channel_uses(bits, SNR).tolist() == [0, 1536, 1536, 3072]  # codewords x 6144/4 symbols
    assert torch.allclose(mcs.channel_uses_relaxed(bits, SNR), bits / (4096 / 1536))


# --------------------------------------------------------------------------- accounting


def test_training_forward_shapes_and_accounting():
    m = model().train()
    x = images()
    out = m(x, SNR, 0.2)
    assert out["x_hat"].shape == out["x_hat_ntc"].shape == x.shape
    assert out["rate_index"].shape == out["k_bar"].shape == (2, 8, 8)
    for key in ("k_y", "k_z", "k_q", "k", "cbr", "k_y_relaxed", "k_z_relaxed", "bits_z"):
        assert out[key].shape == (2,), key
    assert torch.equal(out["k"], out["k_y"] + out["k_z"] + out["k_q"])
    assert torch.allclose(out["cbr"], out["k"] / (3 * 32 * 32))
    assert torch.equal((out["s"] != 0).flatten(1).sum(1).float(), 2 * out["k_y"])  # real symbols sent
    assert torch.equal(out["k_y"], out["k_bar"].flatten(1).sum(1).float() / 2)
    assert torch.allclose(out["k_q"], torch.full((2,), 2 * 8 * 8 / CAPACITY))  # log2|V| = 2 bits per patch
    assert torch.allclose(out["k_z"], out["bits_z"] / CAPACITY)
    assert torch.allclose(out["k_z_relaxed"], out["k_z"]) and out["k_z_relaxed"].requires_grad
    assert torch.allclose(out["k_y_relaxed"], 0.2 * out["bits_y"] / 2) and out["k_y_relaxed"].requires_grad


@pytest.mark.parametrize("side_info", ["capacity", NTSCC_BPG_LDPC.name])
def test_eval_k_z_is_the_real_z_bitstream(side_info):
    config = ImageNTSCCConfig(NTC, JSCC, side_info=side_info)
    m = updated_eval_model(config)
    x = images()
    with torch.no_grad():
        out = m(x, SNR, ETA)
        strings, _ = m.ntc.compress_z(m.ntc.latent(x))
    bits = torch.tensor([8.0 * len(s) for s in strings])
    assert torch.equal(out["bits_z"], bits)
    if side_info == "capacity":
        assert torch.allclose(out["k_z"], bits / CAPACITY)
        assert torch.allclose(out["k_q"], torch.full((2,), 128 / CAPACITY))
    else:
        expected = torch.ceil((bits + 24) / 4096) * 1536
        assert torch.equal(out["k_z"], expected) and (out["k_q"] == 1536).all()
    assert torch.equal(out["k"], out["k_y"] + out["k_z"] + out["k_q"])
    assert len(out["rate_index"].unique()) > 1  # the map is not constant


def test_eval_needs_update_for_real_bitstreams():
    with pytest.raises(RuntimeError, match="update"):
        with torch.no_grad():
            model().eval()(images(), SNR, ETA)


# --------------------------------------------------------------------------- transmission


def test_transmit_decodes_z_bar_and_is_reproducible():
    m = updated_eval_model()
    x = images()
    with torch.no_grad():
        out = m(x, SNR, ETA, generator=5)
        encoder = m.ntc.analyse(x)
    assert torch.equal(out["z_hat"], encoder["z_tilde"])  # receiver's z̄ = transmitter's z̄

    first = m.transmit(x, SNR, ETA, generator=5)
    assert first == m.transmit(x, SNR, ETA, generator=torch.Generator().manual_seed(5))
    assert first != m.transmit(x, SNR, ETA, generator=6)
    assert not m.training and len(first) == 2
    for i, r in enumerate(first):
        assert math.isfinite(r["psnr"]) and 0 <= r["ms_ssim"] <= 1
        assert r["k"] == pytest.approx(r["k_y"] + r["k_z"] + r["k_q"])
        assert r["k"] == pytest.approx(out["k"][i].item()) and r["cbr"] == pytest.approx(r["k"] / (3 * 32 * 32))
        assert 8 * r["z_bytes"] == out["bits_z"][i].item()

    # the receiver's μ̄, σ̄ come from the decoded z̄: corrupt it and only the receiver changes
    decode = m.ntc.decompress_z
    m.ntc.decompress_z = lambda strings, shape: decode(strings, shape) + 3
    try:
        with torch.no_grad():
            bad = m(x, SNR, ETA, generator=5)
    finally:
        del m.ntc.decompress_z
    assert torch.equal(bad["rate_index"], out["rate_index"]) and torch.equal(bad["s"], out["s"])
    assert not torch.allclose(bad["x_hat"], out["x_hat"])


@pytest.mark.parametrize("variant", ["ntscc", "comparison_i", "comparison_ii"])
def test_a_shared_transmitter_analysis_changes_nothing(variant):
    config = {"ntscc": CONFIG, "comparison_i": CONFIG.comparison_i(),
              "comparison_ii": CONFIG.comparison_ii(fixed_rate=6)}[variant]
    m = updated_eval_model(config)
    x, eta = images(), None if variant == "comparison_ii" else ETA
    with torch.no_grad():
        analysis = m.transmitter(x)
    for snr, seed in ((SNR, 5), (1.0, 6)):  # one analysis, several operating points
        assert m.transmit(x, snr, eta, generator=seed, analysis=analysis) == m.transmit(x, snr, eta, generator=seed)


def test_rate_map_matches_the_allocated_lengths():
    m = updated_eval_model()
    x = images()
    with torch.no_grad():
        out = m(x, SNR, ETA)
    maps = m.rate_map(x, ETA)
    assert maps.shape == (2, 8, 8) and m.rate_map(x[1], ETA).shape == (8, 8)
    assert torch.equal(maps, out["k_bar"].float() / 2)
    assert torch.allclose(maps.flatten(1).sum(1), out["k_y"])
    assert (m.rate_map(x, 0.4).sum() >= maps.sum()) and not m.training


# --------------------------------------------------------------------------- ablations


def test_comparison_i_sends_no_z_and_has_no_refinement():
    m = model(CONFIG.comparison_i()).train()
    assert m.jscc.f_d.refinement is None and not [n for n, _ in m.named_parameters() if "refinement" in n]
    out = m(images(), SNR, 0.2)
    assert (out["k_z"] == 0).all() and (out["bits_z"] == 0).all() and (out["k_q"] > 0).all()
    assert torch.equal(out["k"], out["k_y"] + out["k_q"])
    assert (out["k_z_relaxed"] > 0).all()  # still charged in the objective (module docstring)
    with torch.no_grad():  # nothing to entropy-code: eval works without update()
        assert (m.eval()(images(), SNR, 0.2)["k_z"] == 0).all()


def test_comparison_ii_has_constant_k_and_no_side_information():
    m = model(CONFIG.comparison_ii(fixed_rate=6)).train()
    out = m(images(), SNR)
    assert (out["k_z"] == 0).all() and (out["k_q"] == 0).all() and "x_hat_ntc" not in out
    assert (out["k"] == 8 * 8 * 6 / 2).all() and (out["k"] == out["k_y"]).all()
    assert torch.equal(m.rate_map(images(1)[0]), torch.full((8, 8), 3.0))
    loss, logs = deepjscc_objective(SNR)(m, images())
    loss.backward()
    assert logs["cbr"] == pytest.approx(192 / 3072)
    with pytest.raises(ValueError, match="deepjscc_objective"):
        ntscc_objective(16, SNR, 0.2)(m, images())


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("x, shape", [
    (torch.rand(1, 3, 40, 32), "(1, 3, 40, 32)"),
    (torch.rand(3, 32, 32), "(3, 32, 32)"),
    (torch.rand(1, 1, 32, 32), "(1, 1, 32, 32)"),
])
def test_wrong_input_shape_raises_naming_it(x, shape):
    with pytest.raises(ValueError, match=re.escape(shape)):
        model()(x, SNR, 0.2)


def test_invalid_snr_and_missing_eta_raise():
    m = model()
    with pytest.raises(ValueError, match=r"snr_db=.*100"):
        m(images(), 100.0, 0.2)
    with pytest.raises(ValueError, match="snr_db"):
        ntscc_objective(16, float("nan"), 0.2)
    with pytest.raises(ValueError, match="eta"):
        m(images(), SNR)
    with pytest.raises(ValueError, match="eta_range"):
        ntscc_objective(16, SNR, (0.3, 0.1))


# --------------------------------------------------------------------------- checkpoints, objectives


def test_pretrained_ntc_and_checkpoint_round_trip():
    torch.manual_seed(1)
    ntc = ImageNTC(NTC)
    m = ImageNTSCC.from_pretrained_ntc(CONFIG, ntc)
    assert all(torch.equal(a, b) for a, b in zip(m.ntc.state_dict().values(), ntc.state_dict().values()))
    with pytest.raises(ValueError, match="pretrained NTC config"):
        ImageNTSCC.from_pretrained_ntc(CONFIG, ImageNTC(NTCConfig(c=16, embed_dims=(16, 16), depths=(1, 1), heads=2,
                                                                   window=4, hyper_channels=4)))
    src = updated_eval_model()
    fresh = ImageNTSCC(CONFIG).eval()  # un-updated: the state dict brings the CDF tables
    fresh.load_state_dict(src.state_dict())
    x = images()
    assert src.transmit(x, SNR, ETA, generator=2) == fresh.transmit(x, SNR, ETA, generator=2)


def test_objective_terms_and_units():
    m = model().train()
    x = images(size=32)
    torch.manual_seed(3)
    loss, logs = ntscc_objective(16.0, SNR, 0.2)(m, x)  # the quantiles train apart
    torch.manual_seed(3)
    out = m(x, SNR, 0.2)
    rate = rate_per_pixel(out, 32, 32)
    bpp_y = out["bits_y"].mean() / (32 * 32)
    bpp_z = out["k_z_relaxed"].mean() * CAPACITY / (32 * 32)
    assert rate.item() == pytest.approx((0.2 * bpp_y + 2 * bpp_z / CAPACITY).item(), rel=1e-5)  # η·bpp_y + 2k̃_z/HW
    d, d_ntc = image_distortion(x, out["x_hat"]), image_distortion(x, out["x_hat_ntc"])
    assert loss.item() == pytest.approx((d + d_ntc + 16.0 * rate).item(), rel=1e-5)
    assert logs["distortion"] == pytest.approx(d.item(), rel=1e-5) and logs["rate"] == pytest.approx(rate.item())
    assert set(logs) >= {"loss", "distortion", "distortion_ntc", "cbr", "psnr"}
    loss.backward()
    assert all(p.grad is not None for n, p in m.named_parameters() if n.startswith(("jscc.", "ntc.g_a", "ntc.h_")))

    ntc_out = m.ntc(x)
    assert image_distortion(x, ntc_out["x_hat"]) == rd_loss(ntc_out, x, 1.0)["distortion"]
    ms, ms_logs = ntscc_objective(1 / 32, SNR, (0.2, 0.4), distortion="ms_ssim")(m, x)
    assert torch.isfinite(ms) and 0.2 <= ms_logs["eta"] <= 0.4 and 0 <= ms_logs["distortion"] <= 1
    n_loss, n_logs = ntc_objective(64.0)(m, x)
    assert n_loss.item() == pytest.approx(n_logs["loss"], rel=1e-5) and n_logs["aux"] > 0  # quantiles train apart
    cnn_loss, cnn_logs = deepjscc_objective(SNR)(DeepJSCC(c_out=3, filters=8), x)
    assert cnn_logs["cbr"] == pytest.approx(1 / 16) and cnn_loss.requires_grad


def test_adam_steps_lower_the_ntscc_loss_on_a_kodak_crop():
    crop = kodak_crop(23, 200, 300, size=64)
    x = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)[None].float() / 255
    m = model().train()
    loss_fn = ntscc_objective(16.0, SNR, (0.1, 0.3))

    def fixed_noise_loss() -> float:
        torch.manual_seed(7)
        with torch.no_grad():
            return loss_fn(m, x)[1]["loss"]

    before = fixed_noise_loss()
    opt = torch.optim.Adam(m.parameters(), lr=2e-3)
    for _ in range(25):
        loss, _ = loss_fn(m, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = fixed_noise_loss()
    assert math.isfinite(after) and after < 0.5 * before, (before, after)


def test_windowed_ntscc_runs_on_the_training_crop_and_on_a_kodak_image():
    """The mini profile's window (4 patches) on a 128-px crop (y 8 x 8) and a 512 x 768 image (y 32 x 48)."""
    ntc = NTCConfig(c=8, embed_dims=(8, 8, 8, 8), depths=(1, 1, 1, 1), heads=2, window=4, hyper_channels=8)
    jscc = JSCCConfig(c=8, d=8, n_e=2, n_d=2, heads=2, rate_values=(4, 8, 16, 32), window=4)
    m = model(ImageNTSCCConfig(ntc, jscc)).eval()
    m.update(force=True)
    with torch.no_grad():
        for h, w in ((128, 128), (512, 768)):
            out = m(torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(h)), SNR, 0.2)
            assert out["x_hat"].shape == (1, 3, h, w) and torch.isfinite(out["x_hat"]).all()
            assert out["rate_index"].shape == (1, h // 16, w // 16)
