"""Banana source, rate quantisation Q', rate accounting and the FC models."""
import math

import pytest
import torch

from jscc_core.channels import RealAWGN
from ntscc.banana.models import NTC, NTSCC, DeepJSCC
from ntscc.banana.source import BananaSource
from ntscc.rate import RateQuantizer

V = list(range(1, 17))


def test_source_is_seeded_and_matches_its_definition():
    src = BananaSource()
    a, b = src.sample(50_000, seed=3), src.sample(50_000, seed=3)
    assert torch.equal(a, b)
    assert not torch.equal(a, src.sample(50_000, seed=4))
    g = src.to_gaussian(a)  # undoing bend, rotation and shift gives N(0, diag(3², 0.5²))
    assert torch.allclose(g.std(0).float(), torch.tensor([3.0, 0.5]), rtol=0.03)
    assert torch.allclose(g.mean(0).float(), torch.zeros(2), atol=0.05)


def test_source_density_integrates_to_one():
    xs, ys = torch.linspace(-14, 12, 500), torch.linspace(-30, 10, 700)
    a, b = torch.meshgrid(xs, ys, indexing="xy")
    p = BananaSource().log_prob(torch.stack([a.flatten(), b.flatten()], -1)).exp()
    assert float(p.sum() * (xs[1] - xs[0]) * (ys[1] - ys[0])) == pytest.approx(1.0, abs=2e-3)


def test_rate_quantizer_rounds_up_into_the_value_set_and_saturates():
    q = RateQuantizer([16, 32, 48, 64])
    k = torch.tensor([0.0, 16.0, 16.5, 40.0, 64.0, 1000.0])
    assert q.quantize(k).tolist() == [16, 16, 32, 48, 64, 64]
    assert RateQuantizer(V).k_q == 4  # 16 values -> 4 bits of rate index (paper: k_q = 4)
    with pytest.raises(ValueError, match="strictly increasing"):
        RateQuantizer([4, 4, 8])


def test_ntscc_transmits_exactly_k_bar_symbols_per_sample_at_unit_average_power():
    torch.manual_seed(0)
    model = NTSCC(V, hidden=32).train()
    x = BananaSource().sample(256, seed=1)
    sent = {}

    class Probe(RealAWGN):
        def forward(self, s, *a, **kw):
            sent["s"] = s
            return super().forward(s, *a, **kw)

    out = model(x, Probe(5.0), eta=0.5)
    s = sent["s"]
    k_bar = out["k"]
    # k (the bandwidth charged) is the number of channel symbols actually used by each sample
    assert torch.equal((s != 0).sum(-1).float(), k_bar)
    # average power 1 per real channel use over all uses of the batch (average power constraint)
    assert ((s**2).sum() / k_bar.sum()).item() == pytest.approx(1.0, rel=1e-5)
    assert len(torch.unique((s**2).sum(-1) / k_bar)) > 10  # amplitudes are not forced per sample
    # k̄ = Q'(eta * bits), eq. (28)
    assert torch.equal(k_bar, RateQuantizer(V).quantize(0.5 * out["bits"]).float())


def test_in_eval_mode_a_sample_is_coded_the_same_alone_or_in_a_batch():
    torch.manual_seed(0)
    model = NTSCC(V, hidden=32).eval()
    x = BananaSource().sample(64, seed=5)
    torch.manual_seed(1)
    together = model(x, RealAWGN(80.0), 0.5)["x_hat"][:1]
    torch.manual_seed(1)
    alone = model(x[:1], RealAWGN(80.0), 0.5)["x_hat"]
    assert torch.allclose(together, alone, atol=1e-3)


def test_larger_eta_costs_more_bandwidth():
    model = NTSCC(V, hidden=32).eval()
    x = BananaSource().sample(2000, seed=1)
    ch = RealAWGN(5.0)
    assert model(x, ch, 0.2)["k"].mean() < model(x, ch, 1.0)["k"].mean()


@pytest.mark.parametrize("model", [NTC(8), DeepJSCC(2, 8), NTSCC(V, 8)])
def test_wrong_shape_input_is_a_clear_error(model):
    x = torch.zeros(4, 3)
    args = () if isinstance(model, NTC) else (RealAWGN(5.0),) + (() if isinstance(model, DeepJSCC) else (1.0,))
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        model(x, *args)


def test_deep_jscc_needs_a_channel_use():
    with pytest.raises(ValueError, match="at least one channel use"):
        DeepJSCC(0)


def test_ntc_rate_is_information_content_in_bits():
    model = NTC(16).eval()
    out = model(BananaSource().sample(100, seed=2))
    y_bar, lik = model.latent_likelihoods(model.g_a(BananaSource().sample(100, seed=2)))
    assert torch.allclose(out["bits"], -torch.log2(lik).sum(-1))
    assert torch.equal(y_bar, torch.round(y_bar))  # eval mode quantises (medians start at 0)
    assert math.isfinite(out["bits"].mean().item())
