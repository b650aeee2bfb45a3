"""StyleGAN-2 G and D: shapes at 64 and 1024 px, block-wise synthesis, latent and noise counts."""
import math

import pytest
import torch

from generative_jscc.stylegan2 import (
    Discriminator,
    Generator,
    default_channels,
    resize_to,
    to_unit,
    upfirdn2d,
)

TINY = {4: 16, 8: 16, 16: 8, 32: 8}


def tiny(size=32):
    torch.manual_seed(0)
    return Generator(size, style_dim=16, n_mlp=2, channels=TINY)


def w_plus(G, batch=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    return G.broadcast(G.mapping(torch.randn(batch, G.style_dim, generator=g)))


@pytest.mark.parametrize("size, n_latent, num_noise, blocks", [(16, 6, 5, 3), (64, 10, 9, 5), (1024, 18, 17, 9)])
def test_latent_and_noise_counts(size, n_latent, num_noise, blocks):
    G = Generator(size, style_dim=8, n_mlp=1, channels={4 * 2 ** b: 2 for b in range(blocks)})
    assert (G.n_latent, G.num_noise, G.num_blocks) == (n_latent, num_noise, blocks)
    assert G.n_latent == 2 * math.log2(size) - 2
    shapes = G.noise_shapes()
    assert len(shapes) == num_noise and shapes[0] == (1, 1, 4, 4) and shapes[-1] == (1, 1, size, size)


def test_shapes_at_64_px_with_the_mini_channels():
    ch = {4: 128, 8: 128, 16: 64, 32: 32, 64: 16}
    G, D = Generator(64, style_dim=128, n_mlp=2, channels=ch), Discriminator(64, ch)
    with torch.no_grad():
        img = G(w_plus(G, 3))
        assert img.shape == (3, 3, 64, 64)
        assert D(img).shape == (3,)
        w = G.mean_latent(16)
    assert w.shape == (1, 128)
    assert [n.shape for n in G.make_noise(2)] == [(2, 1, r, r) for r in (4, 8, 8, 16, 16, 32, 32, 64, 64)]


def test_shapes_at_1024_px_with_the_official_channels():
    """Config-f at 1024 px: style 512, 8 mapping layers, channels 512 ... 32; the whole 1024-px image from a
    G of the same depth and style size with narrow feature maps (the official width takes ~15 s on a CPU)."""
    G = Generator(1024)
    assert G.channels == {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128, 512: 64, 1024: 32}
    assert sum(p.numel() for p in G.parameters()) == pytest.approx(30.37e6, rel=0.01)  # the official G's size
    with torch.no_grad():
        w = G.broadcast(G.mapping(torch.randn(1, 512)))
        assert w.shape == (1, 18, 512)
        feats, img = G.synthesis(w, stop=3)  # up to 16 x 16
        assert feats.shape == (1, 512, 16, 16) and img.shape == (1, 3, 16, 16)
        narrow = Generator(1024, channels={r: 8 for r in default_channels(1024)})
        assert (narrow.n_latent, narrow.num_noise) == (18, 17)
        img = narrow(w)
    assert img.shape == (1, 3, 1024, 1024) and torch.isfinite(img).all()
    D = Discriminator(1024, {r: min(c, 32) for r, c in default_channels(1024).items()})  # narrow D, real depth
    with torch.no_grad():
        assert D(torch.zeros(2, 3, 1024, 1024)).shape == (2,)


def test_block_wise_synthesis_composes_to_forward():
    G = tiny()
    w = w_plus(G)
    noise = G.make_noise(2, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        full = G(w, noise)
        state = G.synthesis(w, noise, 0, 1)
        assert state[0].shape == (2, 16, 4, 4) and state[1].shape == (2, 3, 4, 4)
        state = G.synthesis(w, noise, 1, 3, state)
        assert state[0].shape == (2, 8, 16, 16)
        feats, img = G.synthesis(w, noise, 3, 4, state)
    assert feats.shape == (2, 8, 32, 32)
    torch.testing.assert_close(img, full, rtol=0, atol=0)


def test_fresh_noise_when_none_and_fixed_noise_is_deterministic():
    G = tiny()
    with torch.no_grad():
        G.convs[0].noise.weight.fill_(1.0)
        w = w_plus(G)
        noise = G.make_noise(1)
        torch.testing.assert_close(G(w, noise), G(w, noise))
        assert not torch.equal(G(w), G(w))


@pytest.mark.parametrize("row, first_block", [(0, 0), (1, 0), (2, 1), (4, 2), (5, 2), (7, 3)])
def test_w_rows_affect_their_blocks_only(row, first_block):
    """Changing w row r leaves every block before the first one using it untouched and changes the
    image from there on; an odd row is the ToRGB of block (r - 1) / 2 (features untouched there)
    and the upsampling conv of the next block (features changed)."""
    G = tiny()
    w = w_plus(G, 1)
    w2 = w.clone()
    w2[:, row] += 1.0
    noise = G.make_noise(1)
    with torch.no_grad():
        for b in range(G.num_blocks):
            (fa, ia), (fc, ic) = G.synthesis(w, noise, stop=b + 1), G.synthesis(w2, noise, stop=b + 1)
            if b < first_block:
                assert torch.equal(fa, fc) and torch.equal(ia, ic)
            else:
                assert not torch.equal(ia, ic)
            if b == first_block:
                assert torch.equal(fa, fc) == (row % 2 == 1)
            if b > first_block:
                assert not torch.equal(fa, fc)


def test_synthesis_rejects_bad_arguments():
    G = tiny()
    w = w_plus(G)
    with pytest.raises(ValueError, match="start"):
        G.synthesis(w, start=2, stop=2)
    with pytest.raises(ValueError, match="needs the state"):
        G.synthesis(w, start=1)
    with pytest.raises(ValueError, match="w_plus must be"):
        G.synthesis(w[:, :3])
    with pytest.raises(ValueError, match="noise must hold"):
        G.synthesis(w, noise=G.make_noise()[:2])
    with pytest.raises(ValueError, match="power of two"):
        Generator(48, style_dim=8, n_mlp=1)
    with pytest.raises(ValueError, match="no entry for resolution"):
        Generator(32, style_dim=8, n_mlp=1, channels={4: 8, 8: 8})


def test_discriminator_shape_and_wrong_size_error():
    torch.manual_seed(0)
    D = Discriminator(32, TINY)
    assert D(torch.randn(5, 3, 32, 32)).shape == (5,)  # a batch not divisible by the stddev group
    assert D(torch.randn(8, 3, 32, 32)).shape == (8,)
    with pytest.raises(ValueError, match="needs"):
        D(torch.randn(2, 3, 16, 16))


def test_parameter_names_follow_the_public_layout():
    names = set(tiny().state_dict())
    for name in ("style.1.weight", "style.2.bias", "input.input", "conv1.conv.weight", "conv1.conv.modulation.weight",
                 "conv1.noise.weight", "conv1.activate.bias", "to_rgb1.conv.weight", "to_rgb1.bias",
                 "convs.0.conv.weight", "convs.5.activate.bias", "to_rgbs.2.bias"):
        assert name in names
    assert not any(n.endswith("kernel") for n in names)  # FIR kernels are not weights
    d = set(Discriminator(32, TINY).state_dict())
    assert {"convs.0.0.weight", "convs.1.conv2.1.weight", "convs.1.skip.1.weight", "final_conv.0.weight",
            "final_linear.1.bias"} <= d


def test_fir_upsampling_keeps_a_constant_image_constant():
    x = torch.ones(1, 2, 4, 4)
    k = torch.tensor([1.0, 3, 3, 1])
    k = (k[:, None] * k[None, :]) / 64 * 4
    up = upfirdn2d(x, k, up=2, pad=(2, 1))
    assert up.shape == (1, 2, 8, 8)
    torch.testing.assert_close(up[:, :, 2:-2, 2:-2], torch.ones(1, 2, 4, 4))


def test_unit_range_and_area_resize():
    img = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0]).view(1, 1, 1, 5).expand(1, 3, 5, 5)
    u = to_unit(img)
    assert u.min() == 0 and u.max() == 1 and u[0, 0, 0, 2] == 0.5
    x = torch.rand(2, 3, 64, 64)
    assert resize_to(x, 64) is x
    torch.testing.assert_close(resize_to(x, 32), torch.nn.functional.avg_pool2d(x, 2))
