"""Perceptual NTSCC (eq. 29): the conditional discriminator, the loss's three distortion terms and
the discriminator's own loss, trained by the one training loop."""
import pytest
import torch

from jscc_core.training import TrainSchedule, train
from ntscc.image.jscc import JSCCConfig
from ntscc.image.model import ImageNTSCC, ImageNTSCCConfig
from ntscc.image.ntc import NTCConfig
from ntscc.image.objectives import PerceptualWeights, perceptual_objective, quantile_training
from ntscc.image.perceptual import (
    ConditionalDiscriminator,
    PerceptualNTSCC,
    discriminator_gan_loss,
    generator_gan_loss,
)

CONFIG = ImageNTSCCConfig(NTCConfig(c=16, embed_dims=(16, 16), depths=(1, 1), heads=2, window=4, hyper_channels=8),
                          JSCCConfig(c=16, d=16, n_e=1, n_d=1, heads=2, rate_values=(2, 4, 8, 16)))
WEIGHTS = PerceptualWeights(beta_m=1.0, beta_l=426.67, beta_d=64.0)

pytestmark = pytest.mark.usefixtures("one_thread")


def l1(x, x_hat):  # a differentiable stand-in for LPIPS: (B,), zero for identical images
    return (x - x_hat).abs().flatten(1).mean(1)


def _model(seed: int = 0) -> PerceptualNTSCC:
    torch.manual_seed(seed)
    return PerceptualNTSCC(ImageNTSCC(CONFIG), ConditionalDiscriminator(16, (4, 4, 8, 8), 2))


def test_discriminator_gives_one_logit_per_patch_conditioned_on_the_latent():
    torch.manual_seed(0)
    d = ConditionalDiscriminator(16, (4, 4, 8, 8), 2)
    x, y = torch.rand(2, 3, 32, 48), torch.randn(2, 16, 2, 3)
    logits = d(x, y)
    assert logits.shape == (2, 1, 3, 5)  # H / 8 - 1, W / 8 - 1
    assert not torch.equal(logits, d(x, y + 1.0))  # D looks at ỹ as well as x̂
    with pytest.raises(ValueError, match="expected x"):
        d(x, y[:1])


def test_gan_losses_are_the_conditional_gan_terms():
    real, fake = torch.tensor([[2.0]]), torch.tensor([[-1.0]])
    assert generator_gan_loss(fake).item() == pytest.approx(-torch.log(torch.sigmoid(fake)).item())
    assert discriminator_gan_loss(real, fake).item() == pytest.approx(
        (-torch.log(torch.sigmoid(real)) - torch.log(1 - torch.sigmoid(fake))).item())


def _grads(weights: PerceptualWeights, lpips=l1) -> tuple[dict, list, list]:
    """(logs, NTSCC gradients, D gradients) of one loss evaluation on a fresh model and batch."""
    model, x = _model(), torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(1)
    loss, logs = perceptual_objective(64.0, 10.0, 0.2, weights, lpips)(model, x)
    loss.backward()
    grad = [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in model.ntscc.main_parameters()]
    return logs, grad, [p.grad.clone() for p in model.discriminator.parameters()]


def test_each_term_of_eq_29_reaches_only_its_own_part():
    """d = β_M MSE + β_L LPIPS - β_D log D(x̂, ỹ); the generator's GAN term moves the NTSCC, never D."""
    logs, g_ntscc, g_disc = _grads(WEIGHTS)
    assert logs["lpips"] > 0 and logs["gan_g"] > 0 and logs["gan_d"] > 0
    assert logs["distortion"] == pytest.approx(logs["mse"] + 426.67 * logs["lpips"] + 64.0 * logs["gan_g"], rel=1e-5)
    logs0, g_ntscc0, g_disc0 = _grads(PerceptualWeights(1.0, 426.67, 0.0))
    assert logs0["gan_g"] == pytest.approx(logs["gan_g"])  # same draws, same D
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(g_disc, g_disc0))  # D learns from its own loss only
    assert any(not torch.allclose(a, b) for a, b in zip(g_ntscc, g_ntscc0))  # the GAN term reaches the NTSCC
    # a zero LPIPS (identical images) drops the β_L term exactly
    logs_z, _, _ = _grads(WEIGHTS, lambda a, b: torch.zeros(a.shape[0]))
    assert logs_z["lpips"] == 0
    assert logs_z["distortion"] == pytest.approx(logs_z["mse"] + 64.0 * logs_z["gan_g"], rel=1e-5)


def test_training_moves_the_discriminator_and_saves_both_in_the_checkpoint(tmp_path):
    model = _model()
    before = {k: v.clone() for k, v in model.discriminator.state_dict().items()}
    sched = TrainSchedule(steps=3, batch_size=2, learning_rate=1e-3, checkpoint_every=3, log_every=1)
    logs = train(model, perceptual_objective(64.0, 10.0, (0.1, 0.3), WEIGHTS, l1), torch.rand(4, 3, 32, 32), sched,
                 tmp_path / "ckpt.pt", "fp", aux=quantile_training(model))
    after = model.discriminator.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert {"gan_d", "d_real", "d_fake"} <= set(logs)
    state = torch.load(tmp_path / "ckpt.pt", weights_only=True)["model"]
    assert any(k.startswith("discriminator.") for k in state) and any(k.startswith("ntscc.") for k in state)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="beta_l"):
        PerceptualWeights(1.0, -1.0, 0.1)
    with pytest.raises(ValueError, match="widths"):
        ConditionalDiscriminator(16, (4, 4, 8))
    with pytest.raises(ValueError, match="PerceptualNTSCC"):
        perceptual_objective(64.0, 10.0, 0.2, WEIGHTS, l1)(ImageNTSCC(CONFIG), torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match="Comparison-II"):
        PerceptualNTSCC(ImageNTSCC(CONFIG.comparison_ii(8)), ConditionalDiscriminator(16))
