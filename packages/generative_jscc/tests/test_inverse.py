"""InverseJSCC (eqs. 12-14) and its latent geometry on a tiny generator and forward operator."""

import math

import pytest
import torch
import torch.nn.functional as F

from generative_jscc.deepjscc import DeepJSCC
from generative_jscc.inverse import InverseJSCC, distance_to, lr_schedule
from generative_jscc.latent import (
    fit_latent_stats,
    geocross,
    project_l1_ball,
    project_to_sphere,
    sphere_radii,
)
from generative_jscc.stylegan2 import Generator

# many small ops: on 2 shared cores a second thread only waits
pytestmark = pytest.mark.usefixtures("one_thread")

TINY_CHANNELS = {4: 16, 8: 16, 16: 8, 32: 8}


def perceptual(x, y):
    """Differentiable stand-in for LPIPS: mean absolute difference of 4x4-pooled images, (B,)."""
    return (F.avg_pool2d(x, 4) - F.avg_pool2d(y, 4)).abs().flatten(1).mean(1)


def tiny_setup(seed: int = 0):
    torch.manual_seed(seed)
    g = Generator(32, style_dim=16, n_mlp=2, channels=TINY_CHANNELS)
    a = DeepJSCC(c_out=4, filters=8)
    return g, a


def measurement(g, a, batch: int, seed: int, snr_db: float = 0.0):
    """x_hat = A(x) for faces x = G(w) of random latents: the DeepJSCC output the receiver sees."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        w = g.broadcast(g.mapping(torch.randn(batch, g.style_dim, generator=gen)))
        x = ((g(w, g.make_noise(batch, generator=gen)) + 1) / 2).clamp(0, 1)
        return a(x, snr_db, generator=gen).clamp(0, 1)


def make_inverse(g, a, steps=(4, 4, 3, 3), **kw):
    return InverseJSCC(g, a, perceptual, lambdas=(1.0, 1.0, 1.0, 0.1, 0.01), steps=steps, learning_rate=0.1,
                       lr_rampup=0.05, latent_samples=256, **kw)


# --------------------------------------------------------------------------- latent geometry


def test_geocross_zero_for_identical_rows_and_positive_otherwise():
    torch.manual_seed(0)
    row = torch.randn(2, 1, 16)
    same = row.expand(2, 6, 16).clone()
    assert geocross(same).shape == (2,)
    assert torch.allclose(geocross(same), torch.zeros(2), atol=1e-6)
    assert torch.equal(geocross(torch.randn(3, 1, 16)), torch.zeros(3))
    differ = same.clone()
    differ[1, 3] = torch.randn(16)
    value = geocross(differ)
    assert value[0].abs() < 1e-6 and value[1] > 1e-3
    # opposite rows are the farthest apart: angle pi between the two rows
    opposite = torch.stack([row[0, 0], -row[0, 0]])[None]
    assert torch.allclose(geocross(opposite), torch.tensor([16 * 2 * math.pi ** 2 / 4 / 8]), rtol=1e-4)
    # finite gradient even for identical rows
    same.requires_grad_(True)
    geocross(same).sum().backward()
    assert torch.isfinite(same.grad).all()


def test_latent_stats_gaussianise_the_mapping_network():
    g, _ = tiny_setup()
    stats = fit_latent_stats(g.mapping, g.style_dim, samples=4000, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        w = g.mapping(torch.randn(4000, g.style_dim, generator=torch.Generator().manual_seed(2)))
    v = stats.from_w(w)
    assert v.mean(0).abs().max() < 0.1 and (v.std(0) - 1).abs().max() < 0.1
    assert torch.allclose(stats.to_w(v), w, atol=1e-5)
    with pytest.raises(ValueError, match="at least 2 samples"):
        fit_latent_stats(g.mapping, g.style_dim, samples=1)


def test_sphere_and_l1_ball_projections():
    torch.manual_seed(0)
    t = torch.randn(3, 5, 16)
    radii = torch.rand(3, 5, 1) + 0.5
    assert torch.allclose(sphere_radii(project_to_sphere(t, radii)), radii, atol=1e-5)
    noise = torch.randn(2, 1, 8, 8)
    assert sphere_radii(noise).shape == (2, 1, 1, 1)

    delta = torch.randn(4, 3, 8)
    delta[0] *= 1e-3                                       # inside the ball: unchanged
    out = project_l1_ball(delta, 2.0)
    assert torch.equal(out[0], delta[0])
    norms = out.flatten(1).abs().sum(1)
    assert torch.allclose(norms[1:], torch.full((3,), 2.0), atol=1e-5)
    # Euclidean projection: soft thresholding with one theta per sample, signs kept
    for k in range(1, 4):
        theta = (delta[k].abs() - out[k].abs())[out[k] != 0]
        assert torch.allclose(theta, theta[0].expand_as(theta), atol=1e-5)
        assert ((out[k] == 0) | (out[k].sign() == delta[k].sign())).all()
    with pytest.raises(ValueError, match="radius"):
        project_l1_ball(delta, 0.0)


def test_lr_schedule_ramps_as_ilo():
    assert lr_schedule(0.0, 0.1) == 0.0
    assert lr_schedule(0.2, 0.1) == pytest.approx(0.1)              # flat until the last 3/4 ramps down
    assert lr_schedule(0.5, 0.1) == pytest.approx(0.075)
    assert lr_schedule(0.99, 0.1) < 0.001
    assert lr_schedule(0.0, 0.1, rampup=0.0) == pytest.approx(0.1)


# --------------------------------------------------------------------------- inversion


@pytest.mark.filterwarnings("ignore::UserWarning:torchvision")
def test_distance_to_a_fixed_reference_equals_the_perceptual_loss():
    torch.manual_seed(0)
    ref, x = torch.rand(2, 3, 32, 32), torch.rand(4, 3, 32, 32)
    expected = perceptual(x, ref.repeat(2, 1, 1, 1))
    assert torch.allclose(distance_to(perceptual, ref)(x), expected)
    lpips = pytest.importorskip("lpips")
    from jscc_core.metrics import LPIPSMetric

    # LPIPS with its own linear layers and a random backbone: the cached reference features
    # must give LPIPS's value and its gradient
    metric = LPIPSMetric(lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False), "alex", "random")
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    direct, cached = metric(xa, ref.repeat(2, 1, 1, 1)), distance_to(metric, ref)(xb)
    assert torch.allclose(cached, direct, rtol=1e-4, atol=1e-6)
    direct.sum().backward()
    cached.sum().backward()
    assert torch.allclose(xa.grad, xb.grad, rtol=1e-3, atol=1e-7)



def test_inversion_lowers_its_objective():
    g, a = tiny_setup()
    x_hat = measurement(g, a, batch=2, seed=3)
    inv = make_inverse(g, a, steps=(8, 6, 4, 4))
    res = inv.invert(x_hat, 0.0, generator=torch.Generator().manual_seed(4))
    assert res.x.shape == x_hat.shape and res.loss.shape == (2,)
    assert res.x.min() >= 0 and res.x.max() <= 1
    assert [h.shape for h in res.history] == [(8, 2), (6, 2), (4, 2), (4, 2)]
    initial = res.history[0][0]                            # objective of the initial (CSGM) latent
    assert (res.loss < 0.5 * initial).all()
    assert (res.history[-1].mean(0) < initial).all()       # lower on average too, not only the best draw


def test_batch_images_are_independent_problems():
    """Image 0's result must not depend on the other images of its batch.

    Random draws are made for the whole batch, so the same seed gives image 1 other draws than
    a run of one image; with the same batch size the draws of image 0 are the same, so changing
    image 1 must leave image 0's inversion bit-identical.
    """
    g, a = tiny_setup()
    x = measurement(g, a, batch=3, seed=5)
    inv = make_inverse(g, a, steps=(5, 4, 3))
    snr = torch.tensor([-2.0, 3.0])
    r1 = inv.invert(x[[0, 1]], snr, generator=torch.Generator().manual_seed(7))
    r2 = inv.invert(x[[0, 2]], snr, generator=torch.Generator().manual_seed(7))
    assert torch.equal(r1.x[0], r2.x[0]) and torch.equal(r1.loss[0], r2.loss[0])
    assert all(torch.equal(h1[:, 0], h2[:, 0]) for h1, h2 in zip(r1.history, r2.history))
    assert not torch.equal(r1.x[1], r2.x[1])
    # each image keeps its own lowest-objective step
    for res in (r1, r2):
        flat = torch.cat(res.history)                      # (total steps, B)
        assert torch.equal(res.loss, flat.min(0).values)
        offsets = torch.tensor([0, 5, 9])
        assert torch.equal(offsets[res.best_round] + res.best_step, flat.argmin(0))


def _recorded_run(g, a, x_hat, steps, **radii):
    """Run an inversion; return it and, per round and step, (start block, latent, noise maps, features, image)."""
    seen = []

    class Recording(InverseJSCC):
        def objective(self, v, noise, x_hat, snr_db, start=0, state=None, generator=None, distance=None):
            loss, x_g = super().objective(v, noise, x_hat, snr_db, start, state, generator, distance)
            seen.append((start, v.detach().clone(), [n.detach().clone() for n in noise],
                         None if state is None else state[0].detach().clone(), x_g.detach().clone()))
            return loss, x_g

    inv = Recording(g, a, perceptual, steps=steps, latent_samples=256, **radii)
    inv.invert(x_hat, 1.0, generator=torch.Generator().manual_seed(9))
    rounds, begin = [], 0
    for n in steps:
        rounds.append(seen[begin:begin + n])
        begin += n
    return inv, rounds


def l1(t):
    return t.flatten(1).abs().sum(1)


def test_spherical_reprojection_keeps_latent_rows_and_noise_on_their_spheres():
    g, a = tiny_setup()
    inv, rounds = _recorded_run(g, a, measurement(g, a, batch=2, seed=8), steps=(5, 4, 3))
    _, v_init, noise_init, _, _ = rounds[0][0]
    for r, seen in enumerate(rounds):
        for start, v, noise, _, _ in seen:
            assert start == r
            assert torch.allclose(sphere_radii(v), sphere_radii(v_init), atol=1e-4)
            for n, n0 in zip(noise, noise_init):
                assert torch.allclose(sphere_radii(n), sphere_radii(n0), atol=1e-4)
        assert not torch.equal(seen[-1][1], seen[0][1])                        # it did move
        if r == 1:
            # round 1 starts from the image round 0 ended with: G = G_4 o G_3 o G_2 o G_1 exactly (eq. 14),
            # the skip image of block 0 included
            _, v, noise, _, x_g = seen[0]
            with torch.no_grad():
                whole = (g.synthesis(inv.stats.to_w(v), noise)[1] + 1) / 2
            assert torch.allclose(x_g, whole, atol=1e-5)


def test_l1_ball_projections_keep_deviations_within_their_radii():
    g, a = tiny_setup()
    latent_r, noise_r, state_r = [3.0, 2.0, 1.0], 1.5, [None, 4.0, 2.0]
    _, rounds = _recorded_run(g, a, measurement(g, a, batch=2, seed=8), steps=(5, 4, 4), latent_radius=latent_r,
                              noise_radius=noise_r, state_radius=state_r)
    for r, seen in enumerate(rounds):
        _, v0, noise0, feat0, _ = seen[0]
        for _, v, noise, feat, _ in seen:
            assert (l1(v - v0) <= latent_r[r] + 1e-3).all()
            assert all((l1(n - m) <= noise_r + 1e-3).all() for n, m in zip(noise, noise0))
            if r >= 1:
                assert (l1(feat - feat0) <= state_r[r] + 1e-3).all()
        assert (l1(seen[-1][1] - v0) > 0.5 * latent_r[r]).all()                # the ball was reached
        if r >= 1:
            assert not torch.equal(seen[-1][3], feat0)                         # features optimised


def test_generator_image_is_resized_to_the_input_size_and_no_grad_callers_work():
    g, a = tiny_setup()
    x_hat = F.interpolate(measurement(g, a, batch=1, seed=10), size=16, mode="area")
    a16 = DeepJSCC(c_out=4, filters=8)
    with torch.no_grad():                                   # as an evaluation loop may call it
        res = make_inverse(g, a16, steps=(3, 2)).invert(x_hat, 5.0, generator=torch.Generator().manual_seed(1))
    assert res.x.shape == (1, 3, 16, 16)
    assert res.history[-1][-1] < res.history[0][0]


def test_bad_input_is_refused_with_a_named_error():
    g, a = tiny_setup()
    inv = make_inverse(g, a, steps=(2,))
    x = measurement(g, a, batch=2, seed=11)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        inv.invert(x[:, :1], 0.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        inv.invert(x * 2 - 1, 0.0)
    with pytest.raises(ValueError, match="snr_db"):
        inv.invert(x, torch.zeros(3))
    with pytest.raises(ValueError, match="snr_db"):
        inv.invert(x, float("nan"))
    with pytest.raises(ValueError, match="synthesis blocks"):
        make_inverse(g, a, steps=(1, 1, 1, 1, 1))
    with pytest.raises(ValueError, match="lambdas"):
        InverseJSCC(g, a, perceptual, lambdas=(1.0, 1.0), latent_samples=16)
    with pytest.raises(ValueError, match="one radius per ILO round"):
        make_inverse(g, a, steps=(2, 2), latent_radius=[1.0])
