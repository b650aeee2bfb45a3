"""The resilient codec's bitstream: exact per-packet round trips, coding modes, and no crash on any
loss pattern or damaged packet (a damaged packet is a counted loss)."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from resilient_transport import ResilientCodec
from resilient_transport.mixture import bin_probability, pmf_table
from resilient_transport.order import bayer_rank, packet_positions, step_bounds
from resilient_transport.packets import HEADER_BYTES, MD_PREFIX_BYTES, redundant_carrier, redundant_set

TINY = dict(n=16, m=8, units=1, dim=16, depth=2, heads=2, window=4)


@pytest.fixture(scope="module")
def codec():
    torch.manual_seed(0)
    return ResilientCodec(**TINY).eval()


@pytest.fixture(scope="module")
def image():
    g = torch.Generator().manual_seed(1)
    return torch.rand(1, 3, 80, 112, generator=g)  # 5 x 7 tokens


@pytest.fixture(scope="module")
def packets(codec, image):
    return codec.compress(image, n_packets=10)


@pytest.fixture(scope="module")
def md_packets(codec, image):
    return codec.compress(image, n_packets=10, mode="multiple-description", step=0.5, redundant_step=1.0)


def test_order_is_a_spread_permutation():
    r = bayer_rank(5, 7)
    assert sorted(r.ravel()) == list(range(35))
    first = np.argwhere(r < 4)  # the first four positions are in four different quadrants
    assert len({(int(y) >= 3, int(x) >= 4) for y, x in first}) == 4
    pos = packet_positions(5, 7, 10)
    assert sorted(np.concatenate(pos)) == list(range(35)) and [len(p) for p in pos] == [4] * 5 + [3] * 5
    b = step_bounds(100, 12, 2.0)
    assert b[0] == 0 and b[-1] == 100 and len(b) == 13 and np.all(np.diff(b) >= 1)
    assert b[6] == 25  # the power schedule: (6 / 12) ** 2 of the tokens after half the steps


def test_pmf_table_matches_the_training_likelihood():
    g = torch.Generator().manual_seed(0)
    w = torch.softmax(torch.randn(6, 3, generator=g), 1)
    mu, s = 3 * torch.randn(6, 3, generator=g), torch.rand(6, 3, generator=g) + 0.2
    table = pmf_table(w, mu, s, 40, 0.5)
    assert np.allclose(table.sum(1), 1) and table.shape == (6, 81)
    q = torch.tensor([-3.0, 0.0, 2.0, 5.0, -1.0, 1.0])
    p = bin_probability(q.reshape(6, 1, 1, 1), *(t.reshape(6, 3, 1, 1, 1) for t in (w, mu, s)), 0.5)
    assert np.allclose(p.flatten().numpy(), table[np.arange(6), q.long().numpy() + 40], atol=1e-6)


def test_round_trip_is_exact_per_packet(codec, image, packets):
    q = codec.quantise(image)[0]
    y, decoded, report, _ = codec.decode_latent(packets)
    assert report.usable == list(range(10)) and report.concealed_tokens == 0 and bool(decoded.all())
    assert torch.equal(y, q.float())
    x_hat, _ = codec.decompress(packets)
    assert torch.equal(x_hat, codec.g_s(q.float()[None]).clamp(0, 1)[..., :80, :112])
    pos = packet_positions(5, 7, 10)
    for p in range(10):  # each packet alone decodes its own tokens exactly
        alone = [raw if i == p else None for i, raw in enumerate(packets)]
        y, decoded, report, _ = codec.decode_latent(alone)
        flat = decoded.flatten()
        assert report.usable == [p] and sorted(np.flatnonzero(flat.numpy())) == sorted(pos[p])
        assert torch.equal(y.reshape(8, -1)[:, flat], q.float().reshape(8, -1)[:, flat])


def test_layered_enhancement_needs_its_base(codec, image):
    layered = codec.compress(image, n_packets=10, mode="layered")
    y, _, report, _ = codec.decode_latent(layered)
    assert torch.equal(y, codec.quantise(image)[0].float())
    damaged = [None if i == 0 else raw for i, raw in enumerate(layered)]
    _, _, report, _ = codec.decode_latent(damaged)
    assert report.usable == [1, 2, 3, 4]  # packets 5..9 are coded given packets 0..4
    assert sum(map(len, layered)) < sum(map(len, codec.compress(image, n_packets=10))) + 10  # context helps or ties


@settings(max_examples=15, deadline=None)
@given(st.lists(st.sampled_from(["keep", "lose", "truncate", "flip", "garbage", "empty"]), min_size=10,
                max_size=10), st.integers(0, 2 ** 16), st.booleans())
def test_any_loss_or_damage_is_a_counted_loss(codec, packets, md_packets, fates, seed, md):
    rng = np.random.default_rng(seed)
    sent = []
    for raw, fate in zip(md_packets if md else packets, fates):
        if fate == "lose":
            sent.append(None)
        elif fate == "truncate":
            sent.append(raw[:int(rng.integers(0, len(raw)))])
        elif fate == "flip":
            b = bytearray(raw)
            b[int(rng.integers(0, len(b)))] ^= 1 << int(rng.integers(0, 8))
            sent.append(bytes(b))
        elif fate == "garbage":
            sent.append(rng.bytes(int(rng.integers(1, 40))))
        else:
            sent.append(b"" if fate == "empty" else raw)
    x_hat, report = codec.decompress(sent, shape=(80, 112))
    assert x_hat.shape == (1, 3, 80, 112) and bool(torch.isfinite(x_hat).all())
    kept = [i for i, f in enumerate(fates) if f == "keep"]
    assert report.usable == kept
    assert report.corrupt == sum(f in ("truncate", "flip", "garbage", "empty") for f in fates)
    assert len(report.reasons) == report.corrupt
    if md:  # a missing set comes from its redundant description exactly when that packet is intact
        assert report.redundant == [s for s in range(10) if s not in kept and redundant_carrier(s, 10) in kept]


def test_duplicates_and_foreign_packets_are_counted(codec, image, packets):
    other = codec.compress(torch.rand(1, 3, 48, 48), n_packets=10)
    _, report = codec.decompress([packets[0], packets[0], other[1]] + list(packets[2:]))
    assert report.corrupt == 2 and report.usable == [0] + list(range(2, 10))
    with pytest.raises(ValueError, match="no usable packet"):
        codec.decompress([None] * 10)


def test_multiple_descriptions_recover_a_lost_set_coarsely(codec, image, md_packets):
    fine, coarse = 0.5 * codec.quantise(image, 0.5)[0].float(), codec.quantise(image, 1.0)[0].float()
    y, decoded, report, _ = codec.decode_latent(md_packets)
    assert torch.equal(y, fine) and report.redundant == [] and bool(decoded.all())
    assert not torch.equal(fine, coarse)
    independent = codec.compress(image, n_packets=10, step=0.5)
    extra = [len(a) - len(b) for a, b in zip(md_packets, independent)]  # prefix + a redundant stream each
    assert all(e >= MD_PREFIX_BYTES for e in extra) and sum(extra) > 10 * MD_PREFIX_BYTES
    assert all(len(raw) > HEADER_BYTES for raw in md_packets)
    pos = packet_positions(5, 7, 10)
    for p in (0, 3):
        got = [None if i == p else raw for i, raw in enumerate(md_packets)]
        y, decoded, report, _ = codec.decode_latent(got)
        assert report.redundant == [p] and report.concealed_tokens == 0 and bool(decoded.all())
        lost = torch.from_numpy(pos[p])
        assert torch.equal(y.reshape(8, -1)[:, lost], coarse.reshape(8, -1)[:, lost])  # set p, coarsely
        kept = torch.from_numpy(np.setdiff1d(np.arange(35), pos[p]))
        assert torch.equal(y.reshape(8, -1)[:, kept], fine.reshape(8, -1)[:, kept])
    carrier = redundant_carrier(2, 10)
    assert redundant_set(carrier, 10) == 2
    both = [None if i in (2, carrier) else raw for i, raw in enumerate(md_packets)]
    _, _, report, _ = codec.decode_latent(both)  # each lost set's copy rode in the other lost packet
    assert report.redundant == [] and report.concealed_tokens == len(pos[2]) + len(pos[carrier])
