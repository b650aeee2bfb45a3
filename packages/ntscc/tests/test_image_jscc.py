"""Rate-adaptive deep JSCC codec f_e / f_d* of NTSCC for images (eqs. 19-21, 28)."""
from __future__ import annotations

import pytest
import torch

from jscc_core.channels import ComplexAWGN, bandwidth_ratio
from ntscc.image.jscc import JSCCConfig, RateAdaptiveJSCC, RateAllocator, run_blocks
from ntscc.rate import RateQuantizer

torch.set_num_threads(1)

V = (4, 8, 12, 16)
B, C, H, W = 3, 8, 4, 5


def tiny(**overrides) -> JSCCConfig:
    base = dict(c=C, d=16, n_e=1, n_d=1, heads=2, rate_values=V)
    base.update(overrides)
    return JSCCConfig(**base)


def inputs(seed: int = 0, bits_scale: float = 80.0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randn(B, C, H, W, generator=g)
    mu = torch.randn(B, C, H, W, generator=g)
    sigma = torch.rand(B, C, H, W, generator=g) + 0.1
    bits = torch.rand(B, H, W, generator=g) * bits_scale
    return y, mu, sigma, bits


class Probe:
    """Identity channel that records what is written into it."""

    def __init__(self, channel=None):
        self.channel = channel
        self.sent: torch.Tensor | None = None

    def __call__(self, s: torch.Tensor) -> torch.Tensor:
        self.sent = s.detach().clone()
        return s if self.channel is None else self.channel(s)


def test_paper_config_and_validation():
    cfg = JSCCConfig.paper()
    assert (cfg.c, cfg.d, cfg.n_e, cfg.n_d, cfg.heads, cfg.window) == (256, 256, 4, 4, 8, 16)
    assert cfg.rate_values == tuple(range(16, 257, 16)) and len(cfg.rate_values) == 16
    assert RateAdaptiveJSCC(tiny()).k_q == 2 and RateAllocator(cfg.rate_values).k_q == 4
    for overrides, field in [
        (dict(c=0), "c"),
        (dict(d=15), "heads"),
        (dict(n_e=-1), "n_e"),
        (dict(rate_values=(4, 4, 8)), "rate_values"),
        (dict(rate_values=(4, 7)), "rate_values"),
        (dict(rate_values=()), "rate_values"),
        (dict(fixed_rate=8), "fixed_rate"),
        (dict(rate_adaptive=False), "fixed_rate"),
        (dict(rate_adaptive=False, fixed_rate=5), "fixed_rate"),
        (dict(refine_hidden=0), "refine_hidden"),
        (dict(window=0), "window"),
        (dict(window=2.5), "window"),
    ]:
        with pytest.raises(ValueError, match=field):
            tiny(**overrides)


def test_output_shapes_and_side_information():
    model = RateAdaptiveJSCC(tiny())
    y, mu, sigma, bits = inputs()
    out = model(y, mu, sigma, bits, Probe(), eta=0.1)
    assert out["y_hat"].shape == out["y_check"].shape == (B, C, H, W)
    assert out["rate_index"].shape == out["k_bar"].shape == (B, H, W)
    assert out["k_y"].shape == out["k_y_relaxed"].shape == out["symbols"].shape == (B,)
    assert out["s"].shape == out["mask"].shape == (B, H * W, max(V))
    assert model.rate_index_bits(H, W) == 2 * H * W
    assert RateAdaptiveJSCC(JSCCConfig.paper(c=8, d=16, n_e=1, n_d=1, heads=2)).rate_index_bits(16, 16) == 4 * 256


def test_rate_indices_follow_q_prime_of_eta_bits_and_are_monotone():
    model = RateAdaptiveJSCC(tiny())
    y, mu, sigma, bits = inputs(bits_scale=200.0)
    q = RateQuantizer(V)
    out = model(y, mu, sigma, bits, Probe(), eta=0.1)
    assert torch.equal(out["rate_index"], q.index(0.1 * bits))
    assert torch.equal(out["k_bar"], q.quantize(0.1 * bits))
    assert len(out["rate_index"].unique()) > 1
    previous = None
    for eta in (0.01, 0.05, 0.1, 0.2, 1.0):
        idx = model(y, mu, sigma, bits, Probe(), eta=eta)["rate_index"]
        if previous is not None:
            assert (idx >= previous).all()
        previous = idx
    idx_more_bits = model(y, mu, sigma, bits + 30.0, Probe(), eta=0.1)["rate_index"]
    assert (idx_more_bits >= out["rate_index"]).all() and (idx_more_bits > out["rate_index"]).any()
    per_image = model(y, mu, sigma, bits, Probe(), eta=torch.tensor([0.01, 0.1, 1.0]))["rate_index"]
    assert torch.equal(per_image[1], out["rate_index"][1])
    assert (per_image[0] <= per_image[1]).all() and (per_image[1] <= per_image[2]).all()


@pytest.mark.parametrize("shared_head", [False, True])
def test_transmitted_symbols_equal_reported_k_y_and_masked_slots_are_zero(shared_head):
    model = RateAdaptiveJSCC(tiny(shared_head=shared_head))
    y, mu, sigma, bits = inputs(bits_scale=200.0)
    probe = Probe()
    out = model(y, mu, sigma, bits, probe, eta=0.1)
    sent = probe.sent.reshape(B, H * W, max(V))
    k_bar = out["k_bar"].flatten(1)
    slots = torch.arange(max(V))
    beyond = slots >= k_bar.unsqueeze(-1)
    assert (sent[beyond] == 0).all()
    real_sent = (sent != 0).flatten(1).sum(1)
    assert torch.equal(real_sent, 2 * out["symbols"])  # one complex use = 2 real symbols
    assert torch.equal(out["symbols"].float(), out["k_y"])
    assert torch.equal(out["k_y"], k_bar.sum(1).float() / 2)
    assert torch.equal(out["mask"], ~beyond)
    # R = k / (3 H W) with the image 4x larger than the latent in each direction
    assert bandwidth_ratio(float(out["k_y"][0]), 3 * (4 * H) * (4 * W)) == float(out["k_y"][0]) / (48 * H * W)


def test_per_image_power_is_one_per_complex_use():
    model = RateAdaptiveJSCC(tiny())
    y, mu, sigma, bits = inputs(bits_scale=200.0)
    y = y * torch.tensor([0.1, 1.0, 30.0]).reshape(-1, 1, 1, 1)  # very different image energies
    probe = Probe()
    out = model(y, mu, sigma, bits, probe, eta=0.1)
    energy = probe.sent.square().sum(1)
    assert torch.allclose(energy / out["k_y"], torch.ones(B), atol=1e-5)


@pytest.mark.parametrize("shared_head", [False, True])
def test_decoder_reads_only_the_first_k_bar_received_symbols(shared_head):
    torch.manual_seed(0)
    model = RateAdaptiveJSCC(tiny(shared_head=shared_head))
    y, mu, sigma, bits = inputs(bits_scale=200.0)
    clean = model(y, mu, sigma, bits, lambda s: s, eta=0.1)
    garbage = model(y, mu, sigma, bits, lambda s: s + 1e3 * (s == 0), eta=0.1)
    assert torch.allclose(clean["y_hat"], garbage["y_hat"], atol=1e-5)


def test_k_y_relaxed_is_the_differentiable_eta_bits_sum():
    model = RateAdaptiveJSCC(tiny())
    y, mu, sigma, bits = inputs()
    bits.requires_grad_(True)
    out = model(y, mu, sigma, bits, Probe(), eta=0.25)
    assert torch.allclose(out["k_y_relaxed"], 0.25 * bits.detach().flatten(1).sum(1) / 2)
    out["k_y_relaxed"].sum().backward()
    assert torch.allclose(bits.grad, torch.full_like(bits, 0.125))


def test_noiseless_channel_training_reduces_latent_error():
    torch.manual_seed(0)
    model = RateAdaptiveJSCC(tiny(d=32, rate_values=(8, 16)))
    y, mu, sigma, bits = inputs(bits_scale=150.0)
    channel = ComplexAWGN(80.0, generator=torch.Generator().manual_seed(1))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def loss() -> torch.Tensor:
        return (model(y, mu, sigma, bits, channel, eta=0.1)["y_hat"] - y).square().mean()

    with torch.no_grad():
        first = float(loss())
    for _ in range(40):
        opt.zero_grad()
        value = loss()
        value.backward()
        opt.step()
    with torch.no_grad():
        assert float(loss()) < 0.1 * first


def test_shared_head_is_one_fc_layer_for_every_rate():
    per_value, shared = RateAdaptiveJSCC(tiny()), RateAdaptiveJSCC(tiny(shared_head=True))
    d, n = 16, max(V)
    assert shared.f_e.heads.weight.shape == (n, d) and shared.f_d.heads.weight.shape == (d, n)
    assert per_value.f_e.heads.weight.shape == (len(V), n, d)
    saved = sum(p.numel() for p in per_value.parameters()) - sum(p.numel() for p in shared.parameters())
    assert saved == (len(V) - 1) * (2 * n * d + n + d)  # |V| - 1 heads fewer on each side


def test_refinement_flag_changes_parameters_and_outputs():
    torch.manual_seed(0)
    with_refine = RateAdaptiveJSCC(tiny())
    torch.manual_seed(0)
    without = RateAdaptiveJSCC(tiny(refine=False))
    names_with = {n for n, _ in with_refine.named_parameters()}
    names_without = {n for n, _ in without.named_parameters()}
    assert names_without < names_with
    assert all(n.startswith("f_d.refinement.") for n in names_with - names_without)
    y, mu, sigma, bits = inputs()
    a = with_refine(y, mu, sigma, bits, Probe(), eta=0.1)
    b = without(y, None, None, bits, Probe(), eta=0.1)  # Comparison-I: μ̄, σ̄ are not needed
    assert torch.allclose(a["y_check"], b["y_check"])  # same seed, same f_e / f_d trunk
    assert not torch.allclose(a["y_hat"], a["y_check"])
    assert torch.equal(b["y_hat"], b["y_check"])
    sigma_changed = with_refine(y, mu, sigma * 3, bits, Probe(), eta=0.1)["y_hat"]
    assert not torch.allclose(sigma_changed, a["y_hat"])


def test_comparison_ii_uses_a_fixed_length_and_no_rate_tokens():
    model = RateAdaptiveJSCC(tiny(rate_adaptive=False, fixed_rate=6, rate_values=()))
    assert model.k_q == 0 and model.rate_index_bits(H, W) == 0
    assert not any("rate_tokens" in n for n, _ in model.named_parameters())
    y, mu, sigma, _ = inputs()
    probe = Probe()
    out = model(y, mu, sigma, None, probe)
    assert (out["k_bar"] == 6).all() and (out["rate_index"] == 0).all()
    assert torch.equal(out["k_y"], torch.full((B,), H * W * 6 / 2))
    assert torch.equal(out["k_y_relaxed"], out["k_y"])
    assert ((probe.sent != 0).sum(1) == H * W * 6).all()
    assert torch.allclose(probe.sent.square().sum(1) / out["k_y"], torch.ones(B), atol=1e-5)


@pytest.mark.parametrize(
    "which, bad",
    [
        ("y", torch.randn(B, C + 1, H, W)),
        ("y", torch.randn(C, H, W)),
        ("mu", torch.randn(B, C, H, W + 1)),
        ("sigma", torch.randn(B, C, H + 1, W)),
        ("bits", torch.rand(B, H, W + 1)),
    ],
)
def test_wrong_shapes_raise_value_error_naming_the_shape(which, bad):
    model = RateAdaptiveJSCC(tiny())
    y, mu, sigma, bits = inputs()
    args = dict(y=y, mu=mu, sigma=sigma, bits=bits)
    args[which] = bad
    with pytest.raises(ValueError, match=r"shape \(" + ", ".join(str(n) for n in bad.shape)):
        model(args["y"], args["mu"], args["sigma"], args["bits"], Probe(), eta=0.1)


def test_missing_inputs_and_bad_eta_raise():
    model = RateAdaptiveJSCC(tiny())
    y, mu, sigma, bits = inputs()
    with pytest.raises(ValueError, match="mu"):
        model(y, None, sigma, bits, Probe(), eta=0.1)
    with pytest.raises(ValueError, match="bits_per_patch"):
        model(y, mu, sigma, None, Probe(), eta=0.1)
    with pytest.raises(ValueError, match="eta"):
        model(y, mu, sigma, bits, Probe(), eta=-1.0)


# --------------------------------------------------------------------------- windowed attention


def test_a_token_of_a_non_shifted_block_sees_only_its_window():
    torch.manual_seed(0)
    codec = RateAdaptiveJSCC(tiny(window=2, n_e=1))
    block = codec.f_e.blocks[0]
    assert not block.shifted and block.attn.bias_table.shape == (3 * 3, 2)  # (2w-1)² offsets x heads
    x = torch.randn(1, 4 * 6, 16)
    changed = x.clone()
    changed[0, 0] += 1.0  # token (0, 0): window rows 0-1, columns 0-1
    with torch.no_grad():
        diff = (run_blocks(codec.f_e.blocks, changed, (4, 6)) - run_blocks(codec.f_e.blocks, x, (4, 6))).abs()
    moved = diff.reshape(4, 6, 16).amax(-1) > 0
    window = torch.zeros(4, 6, dtype=torch.bool)
    window[:2, :2] = True
    assert torch.equal(moved, window)


def test_a_shifted_block_mixes_neighbouring_windows():
    torch.manual_seed(0)
    blocks = RateAdaptiveJSCC(tiny(window=2, n_e=2)).f_e.blocks
    assert [b.shifted for b in blocks] == [False, True]
    x = torch.randn(1, 4 * 6, 16)
    changed = x.clone()
    changed[0, 0] += 1.0
    with torch.no_grad():
        diff = (run_blocks(blocks, changed, (4, 6)) - run_blocks(blocks, x, (4, 6))).abs()
    moved = diff.reshape(4, 6, 16).amax(-1) > 0
    assert moved[:3, :3].all() and not moved[3:].any() and not moved[:, 3:].any()


@pytest.mark.parametrize("grid", [(2, 2), (4, 4), (8, 12), (5, 7)])
def test_windowed_codec_runs_on_training_and_test_grids(grid):
    """Mini: 128-px crops give a 2 x 2 grid of 4 x 4 windows, Kodak 32 x 48 (here at 1/4 scale)."""
    torch.manual_seed(0)
    codec = RateAdaptiveJSCC(tiny(window=2, n_e=2, n_d=2))
    g = torch.Generator().manual_seed(1)
    y = torch.randn(2, C, *grid, generator=g)
    mu, sigma = torch.randn_like(y), torch.rand_like(y) + 0.1
    bits = torch.rand(2, *grid, generator=g) * 80
    out = codec(y, mu, sigma, bits, ComplexAWGN(10.0), 0.2)
    assert out["y_hat"].shape == y.shape and torch.isfinite(out["y_hat"]).all()
