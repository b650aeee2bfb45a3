"""Property-based test of NTSCC's bandwidth accounting (docs/bandwidth.md): for random image sizes,
batches, η, SNRs, side-information links and ablations, k = k_y + k_z + k_q is what is sent.

k_y is checked against the symbols that actually enter the channel, k_z against the real z̄
bitstream (which must decode to the z̄ the receiver uses), k_q against the rate indices, and the
receiver must read nothing but the symbols counted.
"""

import math
from functools import lru_cache

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from jscc_core.digital.mcs import NTSCC_BPG_LDPC
from ntscc.image.jscc import JSCCConfig
from ntscc.image.model import ImageNTSCC, ImageNTSCCConfig
from ntscc.image.ntc import NTCConfig

NTC = NTCConfig(c=16, embed_dims=(16, 16), depths=(1, 1), heads=2, window=4, hyper_channels=8)
JSCC = JSCCConfig(c=16, d=16, n_e=1, n_d=1, heads=2, rate_values=(2, 4, 8, 16))
FIXED_RATE = 6  # Comparison-II: real symbols per patch
LINKS = ("capacity", NTSCC_BPG_LDPC.name, "MCS5")
VARIANTS = ("ntscc", "comparison_i", "comparison_ii")

pytestmark = pytest.mark.usefixtures("one_thread")


@lru_cache(maxsize=None)
def model(variant: str, side_info: str) -> ImageNTSCC:
    config = ImageNTSCCConfig(NTC, JSCC, side_info=side_info)
    config = {"ntscc": config, "comparison_i": config.comparison_i(),
              "comparison_ii": config.comparison_ii(FIXED_RATE)}[variant]
    torch.manual_seed(0)
    m = ImageNTSCC(config).eval()
    with torch.no_grad():  # spread y so that patches use several values of V, as after training
        m.ntc.g_a.head.weight.mul_(10)
    m.update(force=True)
    return m


class Recording:
    """A noiseless channel that keeps its input; ``garbage`` fills every slot left empty (0)."""

    def __init__(self, garbage: float | None = None):
        self.garbage, self.input = garbage, None

    def __call__(self, s: torch.Tensor) -> torch.Tensor:
        self.input = s.detach().clone()
        return s if self.garbage is None else torch.where(s == 0, torch.full_like(s, self.garbage), s)


def side_info_uses(m: ImageNTSCC, bits: torch.Tensor, snr_db: float) -> torch.Tensor:
    """Complex uses of one side-information message per image, from docs/bandwidth.md."""
    mcs = m.link.mcs
    if mcs is None:
        return bits / math.log2(1 + 10 ** (snr_db / 10))
    return torch.where(bits > 0, torch.ceil((bits + 24) / mcs.k) * mcs.num_symbols, torch.zeros_like(bits))


@settings(max_examples=25, deadline=None)
@given(variant=st.sampled_from(VARIANTS), side_info=st.sampled_from(LINKS), b=st.integers(1, 3),
       h=st.sampled_from([16, 32, 48]), w=st.sampled_from([16, 32, 48]), snr_db=st.floats(-10, 40),
       eta=st.one_of(st.floats(1e-3, 20), st.lists(st.floats(1e-3, 20), min_size=3, max_size=3)),
       seed=st.integers(0, 2**31 - 1))
def test_k_is_what_is_sent(variant, side_info, b, h, w, snr_db, eta, seed):
    m = model(variant, side_info)
    x = torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(seed))
    if isinstance(eta, list):
        eta = torch.tensor(eta[:b])
    eta = None if variant == "comparison_ii" else eta
    with torch.no_grad():
        a = m.transmitter(x)
        sent = Recording()
        out = m(x, snr_db, eta, channel=sent, analysis=a)
    ph, pw = h // 4, w // 4  # patches of y (two 2x stages)
    values = torch.tensor(JSCC.values)

    # k_y: the real symbols that enter the channel, two per complex use
    real_sent = (sent.input != 0).sum(1)
    assert torch.equal(real_sent, 2 * out["symbols"])
    assert torch.equal(out["k_y"], real_sent.float() / 2)
    assert torch.equal(out["k_bar"].flatten(1).sum(1), real_sent)
    power = sent.input.square().sum(1) / out["k_y"]  # per complex use, over the symbols sent only
    assert torch.allclose(power, torch.ones(b), rtol=1e-4)
    if variant == "comparison_ii":
        assert (out["k_bar"] == FIXED_RATE).all()
    else:  # eq. (28): the smallest value of V >= η · bits, saturating at max V
        eta_t = torch.as_tensor(eta, dtype=torch.float32).reshape(-1, 1, 1)
        wanted = eta_t * a["bits_y_per_patch"]
        k_bar = out["k_bar"]
        below = values[(torch.searchsorted(values, k_bar) - 1).clamp(min=0)]
        assert ((k_bar >= wanted) | (k_bar == values[-1])).all()
        assert ((k_bar == values[0]) | (below < wanted)).all()

    # k_z: the real z̄ bitstream, which decodes to the z̄ the receiver used
    if variant == "ntscc":
        strings, shape = m.ntc.compress_z(a["y"])
        assert torch.equal(out["bits_z"], torch.tensor([8.0 * len(s) for s in strings]))
        assert torch.equal(m.ntc.decompress_z(strings, shape), out["z_hat"])
    else:
        assert (out["bits_z"] == 0).all() and "z_hat" not in out
    assert torch.allclose(out["k_z"], side_info_uses(m, out["bits_z"], snr_db), rtol=1e-6)

    # k_q: log2 |V| = 2 bits per patch, over the same link (nothing in Comparison-II)
    bits_q = torch.full((b,), 0.0 if variant == "comparison_ii" else 2.0 * ph * pw)
    assert torch.equal(out["bits_q"], bits_q)
    assert torch.allclose(out["k_q"], side_info_uses(m, bits_q, snr_db), rtol=1e-6)

    assert torch.equal(out["k"], out["k_y"] + out["k_z"] + out["k_q"])
    assert torch.allclose(out["cbr"], out["k"] / (3 * h * w))

    # the receiver reads only the symbols counted: filling every empty slot changes nothing
    with torch.no_grad():
        filled = m(x, snr_db, eta, channel=Recording(garbage=1e3), analysis=a)
    assert torch.equal(filled["x_hat"], out["x_hat"])


@settings(max_examples=30, deadline=None)
@given(values=st.lists(st.integers(0, 4096), min_size=1, max_size=16, unique=True).map(sorted),
       dtype=st.sampled_from([torch.float32, torch.float64]), data=st.data())
def test_rate_quantizer_rounds_up_into_v(values, dtype, data):
    """Q' (eq. 28) never gives a patch fewer symbols than it asks for, below the saturation at max V,
    also for costs a hair above a value of V."""
    from ntscc.rate import RateQuantizer

    near = st.builds(lambda v, e: v + e, st.sampled_from(values), st.floats(-1e-4, 1e-4))
    k_y = data.draw(st.lists(st.one_of(st.floats(0, 5000), near), min_size=1, max_size=20), label="k_y")
    q = RateQuantizer(values)
    k = torch.tensor(k_y, dtype=dtype)
    got = q.quantize(k)
    for want, v in zip(k.tolist(), got.tolist()):
        expected = next((u for u in values if u >= want), values[-1])
        assert v == expected, (want, v)
    assert q.k_q == max(1, math.ceil(math.log2(len(values))))
