"""GAN training on a tiny case: finite losses, exact resume, named checkpoint errors, contact sheets."""
import math

import numpy as np
import pytest
import torch

from generative_jscc.gan_training import (
    CheckpointError,
    GANSchedule,
    contact_sheet,
    ema_beta,
    r1_penalty,
    sample_latents,
    train_gan,
)
from generative_jscc.stylegan2 import Discriminator, Generator

CH = {4: 8, 8: 8, 16: 4}


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("JSCC_PROGRESS", "0")


def nets(seed=0):
    torch.manual_seed(seed)
    return Generator(16, style_dim=8, n_mlp=2, channels=CH), Discriminator(16, CH)


def data():
    g = torch.Generator().manual_seed(5)
    return torch.randint(0, 256, (12, 3, 16, 16), dtype=torch.uint8, generator=g)


def schedule(steps=6, **kw):
    cfg = dict(steps=steps, batch_size=4, learning_rate=2e-3, betas=(0.0, 0.99), r1_gamma=0.1, r1_every=2,
               ema_half_life_images=50, ema_rampup=0.05, checkpoint_every=3, log_every=2)
    cfg.update(kw)
    return GANSchedule(**cfg)


def test_losses_are_finite_and_logged(tmp_path):
    G, D = nets()
    logged = []
    result = train_gan(G, D, data(), schedule(style_mixing=0.9), tmp_path / "c.pt", "fp",
                       on_log=lambda step, m: logged.append((step, m)))
    assert set(result.logs) >= {"loss_g", "loss_d"} and all(math.isfinite(v) for v in result.logs.values())
    assert [s for s, _ in logged] == [2, 4, 6] and "r1" in logged[0][1]
    assert result.steps_run == 6 and not result.G_ema.training
    assert not all(torch.equal(a, b) for a, b in zip(result.G_ema.parameters(), result.G.parameters()))


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    G, D = nets()
    torch.manual_seed(11)
    full = train_gan(G, D, data(), schedule(), tmp_path / "full.pt", "fp")
    G, D = nets()
    torch.manual_seed(11)
    train_gan(G, D, data(), schedule(steps=3), tmp_path / "part.pt", "fp")  # stops at its checkpoint (step 3)
    torch.manual_seed(999)  # the checkpoint's RNG state, not this one, drives the rest
    G, D = nets(seed=7)
    resumed = train_gan(G, D, data(), schedule(), tmp_path / "part.pt", "fp")
    assert resumed.steps_run == 3
    for a, b in [(full.G, resumed.G), (full.D, resumed.D), (full.G_ema, resumed.G_ema)]:
        for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
            torch.testing.assert_close(x, y, rtol=0, atol=0, msg=name)
    state = torch.load(tmp_path / "part.pt", weights_only=True)
    assert state["step"] == 6 and {"model", "discriminator", "model_ema", "optimizer", "optimizer_d"} <= set(state)


def test_a_finished_run_returns_without_training(tmp_path):
    G, D = nets()
    train_gan(G, D, data(), schedule(steps=2, checkpoint_every=2), tmp_path / "c.pt", "fp")
    first = torch.load(tmp_path / "c.pt", weights_only=True)["train_seconds"]
    again = train_gan(*nets(), data(), schedule(steps=2, checkpoint_every=2), tmp_path / "c.pt", "fp")
    assert again.steps_run == 0 and "loss_g" in again.logs
    # the training seconds behind G survive the rerun (the stage reports what its model cost)
    assert first > 0 and torch.load(tmp_path / "c.pt", weights_only=True)["train_seconds"] == first
    assert first <= again.train_seconds < first + 1.0


def test_corrupt_and_foreign_checkpoints_are_named_errors(tmp_path):
    bad = tmp_path / "c.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        train_gan(*nets(), data(), schedule(), bad, "fp")
    good = tmp_path / "g.pt"
    train_gan(*nets(), data(), schedule(steps=2, checkpoint_every=2), good, "fp")
    with pytest.raises(CheckpointError, match="another configuration"):
        train_gan(*nets(), data(), schedule(), good, "other")
    moved = train_gan(*nets(), data(), schedule(steps=2, checkpoint_every=2), good, "other", restart_foreign=True)
    assert moved.steps_run == 2 and (tmp_path / "g.fp.pt").exists()
    torch.save({"model": {}, "step": 1, "fingerprint": "fp"}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not a GAN checkpoint"):
        train_gan(*nets(), data(), schedule(), tmp_path / "plain.pt", "fp")


def test_schedule_checks_and_lazy_regularisation_correction():
    s = GANSchedule.from_mapping({"steps": 10, "batch_size": 4, "learning_rate": 1e-3, "betas": [0.0, 0.99],
                                  "r1_every": 16, "runtime_min": 5})
    assert s.betas == (0.0, 0.99) and s.d_correction() == pytest.approx(16 / 17)
    with pytest.raises(ValueError, match="batch_size"):
        GANSchedule(steps=1, batch_size=1, learning_rate=1e-3)
    with pytest.raises(ValueError, match="betas"):
        GANSchedule(steps=1, batch_size=2, learning_rate=1e-3, betas=(0.0, 1.0))


def test_ema_half_life_and_ramp_up():
    assert ema_beta(10, 10_000, half_life=10, rampup=None) == pytest.approx(0.5)
    assert ema_beta(16, 160, half_life=10_000, rampup=0.05) == pytest.approx(0.5 ** 2)  # capped at 160 * 0.05
    assert ema_beta(4, 4, half_life=0, rampup=None) == 0.0


def test_r1_is_the_squared_gradient_norm_and_mixing_keeps_shapes():
    G, D = nets()
    x = torch.randn(4, 3, 16, 16)
    r1 = r1_penalty(D, x)
    x2 = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(D(x2).sum(), x2)
    torch.testing.assert_close(r1, g.square().flatten(1).sum(1))
    w = sample_latents(G, 6, style_mixing=1.0)
    assert w.shape == (6, G.n_latent, 8)
    assert not torch.equal(w[:, 0], w[:, -1])  # every sample took a second w from its crossover on


def test_contact_sheet_is_deterministic():
    G, _ = nets()
    a, b = contact_sheet(G, n=6, seed=3, nrow=3), contact_sheet(G, n=6, seed=3, nrow=3)
    assert a.shape == (2 * 18 - 2, 3 * 18 - 2, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
