"""Property-based tests of NTSCC's real bitstreams (ImageNTC): random latents, scales and shapes
decode to exactly the quantised values the model computes, image by image."""

from functools import lru_cache

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ntscc.image.ntc import ImageNTC, NTCConfig

CONFIG = NTCConfig(c=16, embed_dims=(16, 24), depths=(1, 1), heads=2, window=4, hyper_channels=8)

pytestmark = pytest.mark.usefixtures("one_thread")


@lru_cache(maxsize=None)
def coder() -> ImageNTC:
    """A tiny NTC with its CDF tables built (the coding does not depend on training)."""
    torch.manual_seed(0)
    m = ImageNTC(CONFIG).eval()
    m.update(force=True)
    return m


@st.composite
def latents(draw) -> torch.Tensor:
    """y (B, c, h, w) with h, w multiples of 4 (z = h_a(y) is 4x smaller): Gaussian values of any
    scale from 1e-3 to 1e3 around any offset, a few of them outliers 1000x further out."""
    b = draw(st.integers(1, 3))
    h, w = (4 * draw(st.integers(1, 4)) for _ in range(2))
    scale = 10.0 ** draw(st.floats(-3, 3))
    offset = draw(st.floats(-100, 100))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    y = offset + scale * torch.randn(b, CONFIG.c, h, w, generator=g)
    outliers = torch.rand(y.shape, generator=g) < draw(st.sampled_from([0.0, 0.01, 0.2]))
    return torch.where(outliers, y * 1000, y)


@settings(max_examples=30, deadline=None)
@given(y=latents())
def test_latent_bitstreams_round_trip(y):
    m = coder()
    with torch.no_grad():
        prior = m.hyperprior(y)  # eval: z̄ = z rounded around the bottleneck's medians
        mu, sigma = m.entropy_parameters(prior["z_tilde"])
        y_bar = m.gaussian_conditional.quantize(y, "dequantize", means=mu)  # round(y - μ̄) + μ̄
    z_strings, shape = m.compress_z(y)
    assert len(z_strings) == y.shape[0] and shape == (y.shape[-2] // 4, y.shape[-1] // 4)
    z_bar = m.decompress_z(z_strings, shape)
    assert torch.equal(z_bar, prior["z_tilde"])
    # y given the decoded z̄, as compress/decompress code it
    indexes = m.gaussian_conditional.build_indexes(sigma)
    y_strings = m.gaussian_conditional.compress(y, indexes, means=mu)
    assert torch.equal(m.gaussian_conditional.decompress(y_strings, indexes, means=mu), y_bar)
    # each image's strings are self-contained: the receiver decodes one image without the others
    i = y.shape[0] - 1
    assert torch.equal(m.decompress_z([z_strings[i]], shape), z_bar[i:i + 1])
    one = m.gaussian_conditional.decompress([y_strings[i]], indexes[i:i + 1], means=mu[i:i + 1])
    assert torch.equal(one, y_bar[i:i + 1])


@settings(max_examples=15, deadline=None)
@given(b=st.integers(1, 2), h=st.sampled_from([16, 32, 48]), w=st.sampled_from([16, 32, 48]),
       seed=st.integers(0, 2**31 - 1), gain=st.sampled_from([1.0, 10.0]))
def test_image_bitstreams_reproduce_the_eval_forward_pass(b, h, w, seed, gain):
    m = coder()
    x = torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(seed))
    x = (0.5 + gain * (x - 0.5)).clamp(0, 1)  # gain 10: nearly binary, high-entropy images
    with torch.no_grad():
        out = m(x)
    enc = m.compress(x)
    y_strings, z_strings = enc["strings"]
    assert len(y_strings) == len(z_strings) == b and enc["shape"] == (h // 16, w // 16)
    dec = m.decompress(enc["strings"], enc["shape"])
    assert torch.equal(dec["y_hat"], out["y_tilde"])
    assert torch.allclose(dec["x_hat"], out["x_hat"], atol=1e-5)
