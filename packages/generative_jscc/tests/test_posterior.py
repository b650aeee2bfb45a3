"""Posterior sampling (generative_jscc.posterior) on a tiny generator and a tiny DeepJSCC."""

import math

import pytest
import torch

from generative_jscc.deepjscc import DeepJSCC
from generative_jscc.posterior import PosteriorJSCC, step_sizes
from generative_jscc.stylegan2 import Generator

# many small ops: on 2 shared cores a second thread only waits
pytestmark = pytest.mark.usefixtures("one_thread")

TINY_CHANNELS = {4: 16, 8: 16, 16: 8, 32: 8}
SNR_DB = 20.0


def faces(g, n: int, gen: torch.Generator | None = None) -> torch.Tensor:
    """n faces of G in [0, 1], (n, 3, 32, 32)."""
    with torch.no_grad():
        w_plus = g.broadcast(g.mapping(torch.randn(n, 16, generator=gen)))
        return ((g(w_plus, g.make_noise(n, gen)) + 1) / 2).clamp(0, 1)


@pytest.fixture(scope="module")
def tiny():
    """(G, DeepJSCC, y): y = f_theta(x) + n for two faces x of G, k = 8 complex symbols each.  The DeepJSCC gets
    30 MSE steps on G's faces: a random f_theta sends every image to almost the same symbols (nothing to infer)."""
    torch.manual_seed(0)
    g = Generator(32, style_dim=16, n_mlp=2, channels=TINY_CHANNELS).eval().requires_grad_(False)
    a = DeepJSCC(c_out=8, filters=8)
    opt = torch.optim.Adam(a.parameters(), 3e-3)
    for _ in range(30):
        x = faces(g, 8)
        loss = (a(x, SNR_DB) - x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    a.eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        y = a.channel(a.f_theta(faces(g, 2, gen), SNR_DB), SNR_DB, generator=gen)
    return g, a, y

def sampler(tiny, **kw):
    g, a, _ = tiny
    settings = {"samples": 3, "init_steps": 0, "steps": 12, "step_size": 1e-3, "latent_samples": 500} | kw
    return PosteriorJSCC(g, a, **settings)


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_shapes(tiny):
    s = sampler(tiny, steps=2)
    r = s.sample(tiny[2], SNR_DB, generator=seeded(0))
    assert s.symbol_shape() == (8, 2, 2)
    assert r.x.shape == r.x_init.shape == (2, 3, 3, 32, 32)
    assert r.x.min() >= 0 and r.x.max() <= 1
    for e in (r.energy, r.energy_init, r.energy_start, r.data, r.data_init):
        assert e.shape == (2, 3) and torch.isfinite(e).all()
    assert r.v.shape == (2, 3, tiny[0].n_latent, 16)


def test_data_term_is_the_awgn_log_likelihood(tiny):
    """U's data term is ||y - f_theta(G(v, n))||^2 / sigma^2, sigma^2 = 10^(-SNR/10): 0 at y = f_theta(G(v, n)),
    the exact squared distance elsewhere; the prior term is ||v||^2 / 2 + sum ||n_l||^2 / 2."""
    g, a, _ = tiny
    s = sampler(tiny)
    gen = seeded(3)
    v = torch.randn(2, g.n_latent, 16, generator=gen)
    noise = g.make_noise(2, gen)
    with torch.no_grad():
        x = s.energy(v, noise, tiny[2], SNR_DB)[2]
        z = a.f_theta(x, SNR_DB)
        u, data, _ = s.energy(v, noise, z, SNR_DB)
        prior = 0.5 * v.pow(2).sum((1, 2)) + 0.5 * sum(n.pow(2).sum((1, 2, 3)) for n in noise)
        assert torch.allclose(data, torch.zeros(2), atol=1e-6)
        assert torch.allclose(u, prior)
        snr = torch.tensor([0.0, 10.0])                                   # sigma^2 = 1 and 0.1 per complex use
        shifted = s.energy(v, noise, a.f_theta(x, snr) + 0.1, snr)[1]     # 32 reals off by 0.1: 0.32 / sigma^2
        assert torch.allclose(shifted, torch.tensor([0.32, 3.2]), rtol=1e-4)

def test_langevin_lowers_the_energy_from_a_random_start(tiny):
    r = sampler(tiny, steps=20, step_size=3e-3).sample(tiny[2], SNR_DB, generator=seeded(0))
    assert (r.data < 0.9 * r.data_init).all(), (r.data_init, r.data)
    assert (r.energy < r.energy_start).all(), (r.energy_start, r.energy)


def test_csgm_start_lowers_the_energy(tiny):
    r = sampler(tiny, init_steps=10, steps=1).sample(tiny[2], SNR_DB, generator=seeded(0))
    assert (r.energy_init < r.energy_start).all(), (r.energy_start, r.energy_init)


def test_seeded_and_not_a_no_op(tiny):
    s = sampler(tiny, init_steps=3, steps=4)
    a, b = (s.sample(tiny[2], SNR_DB, generator=seeded(0)) for _ in range(2))
    c = s.sample(tiny[2], SNR_DB, generator=seeded(1))
    assert torch.equal(a.x, b.x) and torch.equal(a.energy, b.energy)
    assert (a.x - c.x).abs().amax((2, 3, 4)).min() > 1e-3                  # other seed: every chain differs
    assert (a.x[:, 0] - a.x[:, 1]).abs().amax() > 1e-3                     # chains of one y differ
    assert (a.x - a.x_init).abs().amax((2, 3, 4)).min() > 1e-4             # Langevin moved every chain


def test_step_sizes():
    assert step_sizes(0.1, 1, 0.5) == [0.1]
    eps = step_sizes(0.1, 5, 0.01)
    assert eps[0] == 0.1 and math.isclose(eps[-1], 1e-3) and all(u > w for u, w in zip(eps, eps[1:]))


@pytest.mark.parametrize("snr", [math.nan, 200.0, torch.tensor([1.0, 2.0, 3.0])])
def test_bad_snr_is_named(tiny, snr):
    with pytest.raises(ValueError, match="snr_db"):
        sampler(tiny).sample(tiny[2], snr)


@pytest.mark.parametrize("shape", [(2, 6, 2, 2), (2, 8, 4, 4), (8, 2, 2), (0, 8, 2, 2)])
def test_wrong_shape_y_is_named(tiny, shape):
    with pytest.raises(ValueError, match=r"received symbols y must be .*\(B, 8, 2, 2\)"):
        sampler(tiny).sample(torch.zeros(shape), SNR_DB)


def test_non_finite_y_is_named(tiny):
    y = tiny[2].clone()
    y[0, 0, 0, 0] = math.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        sampler(tiny).sample(y, SNR_DB)


@pytest.mark.parametrize("setting", [{"step_size": 0.0}, {"temperature": -1.0}, {"samples": 0}, {"steps": 0},
                                     {"init_steps": -1}, {"step_size_final_ratio": math.inf}, {"image_size": 40}])
def test_bad_settings_are_named(tiny, setting):
    with pytest.raises(ValueError, match=next(iter(setting))):
        sampler(tiny, **setting)
