import math

import numpy as np
import pytest
import torch

from jscc_core.channels import (
    ChannelUseBudget,
    ComplexAWGN,
    GilbertElliottErasure,
    PowerNormalize,
    RayleighBlockFading,
    RealAWGN,
    bandwidth_ratio,
    check_noise_var,
    check_snr_db,
    complex_to_real_uses,
    real_to_complex_uses,
    snr_db_to_noise_var,
)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------ SNR / noise variance


def test_snr_db_to_noise_var():
    assert snr_db_to_noise_var(0.0) == pytest.approx(1.0)
    assert snr_db_to_noise_var(10.0) == pytest.approx(0.1)
    assert snr_db_to_noise_var(10.0, power=2.0) == pytest.approx(0.2)
    t = snr_db_to_noise_var(torch.tensor([0.0, 20.0]))
    assert torch.allclose(t, torch.tensor([1.0, 0.01]))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), -51.0, 81.0])
def test_bad_snr_rejected_with_value(bad):
    with pytest.raises(ValueError, match="snr_db"):
        check_snr_db(bad)
    with pytest.raises(ValueError):
        RealAWGN(snr_db=bad)
    with pytest.raises(ValueError):
        RealAWGN(snr_db=10.0)(torch.zeros(2, 4), snr_db=torch.tensor([10.0, bad]))


def test_bad_snr_message_names_value():
    with pytest.raises(ValueError, match="100"):
        check_snr_db(100.0)


@pytest.mark.parametrize("bad", [float("nan"), -1e-3, np.array([0.1, -0.2])])
def test_bad_noise_var_rejected(bad):
    with pytest.raises(ValueError, match="noise variance"):
        check_noise_var(bad)
    check_noise_var(0.0)  # noiseless is allowed


# ------------------------------------------------------------------ power normalisation


def test_power_normalize_real_and_complex():
    z = torch.randn(4, 8, 16, generator=gen()) * 5 + 1
    out = PowerNormalize(power=2.0)(z)
    assert torch.allclose(out.square().flatten(1).mean(1), torch.full((4,), 2.0), atol=1e-5)

    zc = torch.randn(3, 50, dtype=torch.complex64, generator=gen()) * 3
    outc = PowerNormalize()(zc)
    assert torch.allclose(outc.abs().square().mean(1), torch.ones(3), atol=1e-5)


def test_power_normalize_real_pairs_as_complex_uses():
    z = torch.randn(2, 10, 32, generator=gen())
    out = PowerNormalize(channel_use="complex")(z)
    per_use = out.reshape(2, -1, 2).square().sum(-1).mean(1)  # |s|^2 per complex use
    assert torch.allclose(per_use, torch.ones(2), atol=1e-5)
    assert torch.allclose(out.square().flatten(1).mean(1), torch.full((2,), 0.5), atol=1e-5)


def test_power_normalize_mask_and_zero_length():
    z = torch.randn(3, 20, generator=gen()) + 2
    mask = torch.zeros(3, 20, dtype=torch.bool)
    mask[0, :5] = True
    mask[1, :] = True  # sample 2: zero channel uses
    out = PowerNormalize(power=1.0)(z, mask)
    assert torch.isfinite(out).all()
    assert out[0, :5].square().mean().item() == pytest.approx(1.0, abs=1e-5)
    assert (out[0, 5:] == 0).all()
    assert out[1].square().mean().item() == pytest.approx(1.0, abs=1e-5)
    assert (out[2] == 0).all()


def test_power_normalize_zero_length_gradients_finite():
    z = torch.randn(2, 6, requires_grad=True)
    mask = torch.tensor([[True] * 6, [False] * 6])
    PowerNormalize()(z, mask).sum().backward()
    assert torch.isfinite(z.grad).all()


# ------------------------------------------------------------------ AWGN noise statistics


def test_real_awgn_noise_power_matches_snr():
    x = torch.zeros(8, 50_000)
    y = RealAWGN(snr_db=5.0, generator=gen(1))(x)
    assert y.var().item() == pytest.approx(10 ** -0.5, rel=0.02)


def test_complex_awgn_noise_complex_tensor():
    x = torch.zeros(4, 50_000, dtype=torch.complex64)
    n = ComplexAWGN(snr_db=3.0, generator=gen(2))(x)
    sigma2 = 10 ** -0.3
    assert n.abs().square().mean().item() == pytest.approx(sigma2, rel=0.02)
    assert n.real.var().item() == pytest.approx(sigma2 / 2, rel=0.02)
    assert n.imag.var().item() == pytest.approx(sigma2 / 2, rel=0.02)
    assert abs((n.real * n.imag).mean().item()) < 0.01  # circular symmetry: Re, Im uncorrelated


def test_complex_awgn_real_pairs_half_variance_per_dim():
    x = torch.zeros(4, 100_000)
    n = ComplexAWGN(snr_db=0.0, generator=gen(3))(x)
    assert n.var().item() == pytest.approx(0.5, rel=0.02)  # sigma^2 / 2 per real dim
    per_use = n.reshape(4, -1, 2).square().sum(-1).mean().item()
    assert per_use == pytest.approx(1.0, rel=0.02)


def test_end_to_end_measured_snr_complex_pairs():
    z = PowerNormalize(channel_use="complex")(torch.randn(4, 40_000, generator=gen(4)))
    y = ComplexAWGN(snr_db=10.0, generator=gen(5))(z)
    signal = z.reshape(4, -1, 2).square().sum(-1).mean()
    noise = (y - z).reshape(4, -1, 2).square().sum(-1).mean()
    assert 10 * math.log10(signal / noise) == pytest.approx(10.0, abs=0.1)


def test_per_sample_snr():
    x = torch.zeros(2, 100_000)
    y = RealAWGN()(x, snr_db=torch.tensor([0.0, 20.0]), generator=gen(6))
    assert y[0].var().item() == pytest.approx(1.0, rel=0.03)
    assert y[1].var().item() == pytest.approx(0.01, rel=0.03)
    with pytest.raises(ValueError, match="per-sample"):
        RealAWGN()(x, snr_db=torch.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="no SNR"):
        RealAWGN()(x)


def test_seeded_noise_reproducible():
    x = torch.randn(2, 64)
    ch = ComplexAWGN(snr_db=5.0)
    a = ch(x, generator=gen(7))
    b = ch(x, generator=gen(7))
    c = ch(x, generator=gen(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_complex_awgn_rejects_odd_real_dim():
    with pytest.raises(ValueError, match="even"):
        ComplexAWGN(snr_db=1.0)(torch.zeros(1, 5))


# ------------------------------------------------------------------ Rayleigh block fading


def test_rayleigh_csi_high_snr_recovers_x():
    x = PowerNormalize()(torch.randn(4, 256, dtype=torch.complex64, generator=gen(9)))
    y = RayleighBlockFading(snr_db=70.0, block_length=16, csi=True, generator=gen(10))(x)
    assert torch.allclose(y, x, atol=5e-2)
    assert (y - x).abs().square().mean().item() < 1e-4


def test_rayleigh_block_structure_and_no_csi():
    x = torch.ones(2, 64)  # real pairs: 32 complex uses
    ch = RayleighBlockFading(snr_db=80.0, block_length=8, csi=False)
    y, h = ch(x, generator=gen(11), return_h=True)
    assert h.shape == (2, 32) and h.is_complex()
    blocks = h.reshape(2, 4, 8)
    assert torch.allclose(blocks, blocks[..., :1].expand_as(blocks))
    assert not torch.allclose(blocks[:, 0], blocks[:, 1])
    expected = torch.view_as_real(h * torch.complex(torch.ones(2, 32), torch.ones(2, 32))).reshape(2, 64)
    assert torch.allclose(y, expected, atol=1e-2)  # raw h x + n, not equalised


def test_rayleigh_gain_unit_power_and_mmse():
    h = RayleighBlockFading(snr_db=10.0, block_length=1)(torch.zeros(1, 20_000, dtype=torch.complex64),
                                                         generator=gen(12), return_h=True)[1]
    assert h.abs().square().mean().item() == pytest.approx(1.0, rel=0.05)
    x = torch.ones(1, 512, dtype=torch.complex64)
    y = RayleighBlockFading(snr_db=70.0, block_length=4, equalizer="mmse")(x, generator=gen(13))
    assert torch.allclose(y, x, atol=5e-2)


# ------------------------------------------------------------------ bandwidth accounting


def test_bandwidth_ratio_and_budget():
    m = 32 * 32 * 3
    assert bandwidth_ratio(m / 6, m) == pytest.approx(1 / 6)
    assert real_to_complex_uses(128) == 64
    assert complex_to_real_uses(64) == 128
    budget = ChannelUseBudget("complex")
    assert budget.axis_label == "bandwidth ratio ρ = k/m (k complex channel uses)"
    assert budget.uses_from(128, "real") == 64
    assert ChannelUseBudget("real").ratio(complex_to_real_uses(m / 16), m) == pytest.approx(1 / 8)
    with pytest.raises(ValueError):
        ChannelUseBudget("quaternion")
    with pytest.raises(ValueError):
        bandwidth_ratio(10, 0)


# ------------------------------------------------------------------ Gilbert-Elliott erasures


def test_gilbert_elliott_reproducible_and_stationary():
    ge = GilbertElliottErasure(p_gb=0.05, p_bg=0.3, loss_good=0.01, loss_bad=0.8)
    a, b = ge.trace(200_000, seed=42), ge.trace(200_000, seed=42)
    assert a.dtype == bool and a.shape == (200_000,)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, ge.trace(200_000, seed=43))
    pb = 0.05 / 0.35
    assert ge.stationary_loss_rate == pytest.approx((1 - pb) * 0.01 + pb * 0.8)
    assert a.mean() == pytest.approx(ge.stationary_loss_rate, abs=0.01)


def test_gilbert_burst_length():
    ge = GilbertElliottErasure(p_gb=0.02, p_bg=0.25)  # classic Gilbert: loss iff bad
    assert ge.mean_burst_length == pytest.approx(4.0)
    t = ge.trace(300_000, seed=1)
    starts = np.flatnonzero(t & ~np.r_[False, t[:-1]])
    assert t.sum() / len(starts) == pytest.approx(4.0, rel=0.08)


@pytest.mark.parametrize("kwargs", [dict(p_gb=-0.1, p_bg=0.5), dict(p_gb=0.1, p_bg=1.5),
                                    dict(p_gb=0.1, p_bg=0.5, loss_bad=float("nan"))])
def test_gilbert_rejects_bad_probabilities(kwargs):
    with pytest.raises(ValueError, match="probability"):
        GilbertElliottErasure(**kwargs)


def test_power_normalize_per_use_mask_for_real_pairs():
    z = torch.randn(2, 16, generator=gen(14)) + 1  # 8 complex uses as (Re, Im) pairs
    use_mask = torch.tensor([[True] * 3 + [False] * 5, [True] * 8])
    out = PowerNormalize(power=1.0, channel_use="complex")(z, use_mask)
    per_use = out.reshape(2, 8, 2).square().sum(-1)
    assert per_use[0, :3].mean().item() == pytest.approx(1.0, abs=1e-5)
    assert (per_use[0, 3:] == 0).all()
    assert per_use[1].mean().item() == pytest.approx(1.0, abs=1e-5)


def test_batch_power_normalisation_meets_the_average_constraint_and_keeps_amplitudes():
    norm = PowerNormalize(2.0, over="batch")
    z = torch.randn(4096, 1) * 3 + 1
    out = norm(z)
    assert float((out**2).mean()) == pytest.approx(2.0, rel=1e-5)
    assert len(torch.unique(out.abs())) > 100  # one real use still carries an amplitude
    for _ in range(2000):
        norm(torch.randn(4096, 1) * 3 + 1)
    norm.eval()  # eval mode uses the running average, not the batch's own power
    single = norm(torch.tensor([[1.0]]))
    assert float(single.abs()) == pytest.approx((2.0 / 10.0) ** 0.5, rel=0.03)
    with pytest.raises(ValueError, match="over"):
        PowerNormalize(over="image")
