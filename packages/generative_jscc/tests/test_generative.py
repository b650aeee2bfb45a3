"""GenerativeJSCC (GJSCC Fig. 5): shapes, latent start, frozen G, two-stage freezing, training, per-sample SNR."""
import pytest
import torch
import torch.nn.functional as F

from generative_jscc.blocks import AFModule
from generative_jscc.generative import (
    GenerativeJSCC,
    block_sides,
    latent_row_split,
    noise_assignment,
    stage1_parameters,
    stage2_param_groups,
)
from generative_jscc.objectives import jscc_loss
from generative_jscc.stylegan2 import Generator
from jscc_core.training import TrainSchedule, train

pytestmark = pytest.mark.usefixtures("one_thread")

CHANNELS = {4: 16, 8: 16, 16: 8, 32: 8}


def pooled_l1(x, y):
    """A small differentiable stand-in for LPIPS: per-image L1 distance of 4x4 average-pooled images."""
    return (F.avg_pool2d(x, 4) - F.avg_pool2d(y, 4)).abs().flatten(1).mean(1)


def _generator(size=32, seed=0):
    torch.manual_seed(seed)
    g = Generator(size, style_dim=16, n_mlp=2, channels=CHANNELS)
    with torch.no_grad():  # a random G has zero noise strengths; give them a value so N matters
        for name, p in g.named_parameters():
            if name.endswith("noise.weight"):
                p.fill_(0.5)
    return g


def _model(c_out=2, latent_map="mlp", size=32, image_size=None):
    model = GenerativeJSCC(c_out, 8, _generator(size), latent_map=latent_map, image_size=image_size,
                           mean_latent_samples=256)
    torch.manual_seed(1)
    return model


def _images(n=4, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(n, 3, size // 8, size // 8, generator=g), size=(size, size), mode="bilinear",
                         align_corners=False)


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_latent_rows_and_noise_maps_cover_the_generator():
    assert latent_row_split(18) == [3, 3, 2, 2, 2, 2, 2, 2] and latent_row_split(10) == [2, 2, 1, 1, 1, 1, 1, 1]
    assert block_sides(64) == [4, 8, 8, 16, 16, 32, 32, 64]
    g64 = [4, 8, 8, 16, 16, 32, 32, 64, 64]
    assert noise_assignment(g64, block_sides(64)) == [0, 1, 2, 3, 4, 5, 6, 7, 7]  # every map from its own side
    g1024 = [4] + [s for r in (8, 16, 32, 64, 128, 256, 512, 1024) for s in (r, r)]
    assert noise_assignment(g1024, block_sides(512)) == [0] * 7 + [1, 2, 3, 4, 5, 6] + [7] * 4
    model = _model()
    x = _images(3)
    latent, noise = model.latents(model.channel(model.f_theta(x, 0.0), 0.0), 0.0)
    assert latent.shape == (3, model.G.n_latent, model.G.style_dim)
    assert [tuple(n.shape) for n in noise] == [(3, 1, s[2], s[3]) for s in model.G.noise_shapes()]


def test_the_latent_starts_at_the_mean_latent_and_noise_at_zero():
    model = _model()
    latent, noise = model.latents(model.channel(model.f_theta(_images(2), 3.0), 3.0), 3.0)
    w_avg = model.G.mean_latent(256, torch.Generator().manual_seed(0))
    assert torch.allclose(latent, w_avg.expand_as(latent), atol=1e-6)
    assert all(torch.count_nonzero(n) == 0 for n in noise)
    mapped = _model(latent_map="mapping")
    latent, _ = mapped.latents(mapped.channel(mapped.f_theta(_images(2), 3.0), 3.0), 3.0)
    assert latent.shape == (2, mapped.G.n_latent, mapped.G.style_dim)


def test_output_is_an_image_of_the_input_size_in_unit_range_and_g_is_resized():
    model = _model(size=32, image_size=16)  # G at 32 px for 16-px images (the paper: 1024 for 512)
    out = model(_images(2, 16), 0.0)
    assert out.shape == (2, 3, 16, 16) and 0 <= out.min() and out.max() <= 1
    with pytest.raises(ValueError, match="sends 16 x 16 images"):
        model(_images(2, 32), 0.0)
    with pytest.raises(ValueError, match="multiples of 16"):
        model(torch.rand(2, 3, 20, 16), 0.0)


def test_af_modules_make_the_decoder_follow_the_snr():
    model = _model()
    with torch.no_grad():  # leave the zero start, so the latent depends on the decoder's features
        model.latent_map.net[-1].weight.normal_(0, 0.5)
    z = model.f_theta(_images(2), 0.0)
    assert not torch.allclose(model.g_psi(z, -5.0), model.g_psi(z, 5.0))
    assert not torch.allclose(model.f_theta(_images(2), -5.0), z)
    model.g_psi(z, torch.tensor([-5.0, 5.0])).sum().backward()
    afs = [m for m in model.decoder.modules() if isinstance(m, AFModule)]
    assert len(afs) == 8 and all(af.mlp[0].weight.grad.abs().sum() > 0 for af in afs)


def test_per_sample_snr_is_each_sample_at_its_own_snr():
    model = _model().eval()
    with torch.no_grad():
        model.latent_map.net[-1].weight.normal_(0, 0.5)
    x = _images(2)
    snr = torch.tensor([-5.0, 5.0])
    noise = [torch.zeros(1, 1, s[2], s[3]) for s in model.G.noise_shapes()]
    latent_both, _ = model.latents(model.f_theta(x, snr), snr)
    latent_one, _ = model.latents(model.f_theta(x[:1], -5.0), -5.0)
    latent_two, _ = model.latents(model.f_theta(x[1:], 5.0), 5.0)
    assert torch.allclose(latent_both, torch.cat([latent_one, latent_two]), atol=1e-5)
    assert model.G(latent_both, noise).shape == (2, 3, 32, 32)


def test_the_generator_is_frozen_and_stays_in_eval_mode():
    model = _model()
    assert not any(p.requires_grad for p in model.G.parameters())
    model.train()
    assert model.training and not model.G.training
    assert not {id(p) for p in model.G.parameters()} & {id(p) for p in stage1_parameters(model)}


def test_two_stage_training_freezes_p_n_then_g_bit_for_bit(tmp_path):
    model = _model()
    x = _images(4)
    g_start, pn_start = _snapshot(model.G), _snapshot(model.decoder.P_n)
    enc_start = _snapshot(model.encoder)
    loss = jscc_loss([-5, 0, 5], pooled_l1)
    s1 = TrainSchedule(steps=4, batch_size=2, learning_rate=1e-2, checkpoint_every=4)
    train(model, loss, x, s1, tmp_path / "s1.pt", "s1", optimizer_groups=[{"params": stage1_parameters(model)}])
    assert _same(_snapshot(model.G), g_start) and _same(_snapshot(model.decoder.P_n), pn_start)
    assert not _same(_snapshot(model.encoder), enc_start)
    assert all(not p.requires_grad for p in model.decoder.P_n.parameters())

    groups = stage2_param_groups(model, 0.01)
    assert [g["lr_scale"] for g in groups] == [1.0, 0.01]
    assert {id(p) for p in groups[0]["params"]} == {id(p) for p in model.decoder.P_n.parameters()}
    s2 = TrainSchedule(steps=4, batch_size=2, learning_rate=1e-2, checkpoint_every=4)
    train(model, loss, x, s2, tmp_path / "s2.pt", "s2", optimizer_groups=groups)
    assert _same(_snapshot(model.G), g_start)
    assert not _same(_snapshot(model.decoder.P_n), pn_start)  # the noise projections learn in stage 2
    with pytest.raises(ValueError, match="backbone_lr_ratio"):
        stage2_param_groups(model, 0.0)


def test_a_few_training_steps_lower_the_loss(tmp_path):
    model = _model(c_out=8)
    data = _images(4)
    sched = TrainSchedule(steps=40, batch_size=4, learning_rate=3e-3, betas=(0.9, 0.99), log_every=10,
                          checkpoint_every=40)
    logs = []
    train(model, jscc_loss([5], pooled_l1), data, sched, tmp_path / "a.pt", "fp",
          optimizer_groups=[{"params": stage1_parameters(model)}], on_log=lambda step, m: logs.append(m["loss"]))
    assert logs[-1] < 0.8 * logs[0]
