"""Inter-packet Reed-Solomon erasure FEC: recovery, failure, parity rule and bit accounting."""

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jscc_core.digital.erasure import (
    HEADER_BITS,
    FecDecodeResult,
    FecPacket,
    FecParameterError,
    MalformedPacketError,
    fec_decode,
    fec_encode,
    packet_length,
    parity_count,
    transmitted_bits,
)


def test_every_k_subset_recovers_and_every_k_minus_1_subset_fails():
    data = bytes(range(37)) * 3  # 111 bytes: 4 packets of 28 bytes, 1 byte of padding
    packets = fec_encode(data, k=4, r=2)
    assert [p.index for p in packets] == list(range(6))
    assert {len(p.payload) for p in packets} == {28} and packets[0].padding == 1
    assert [p.is_parity for p in packets] == [False] * 4 + [True] * 2
    assert b"".join(p.payload for p in packets[:4])[:111] == data  # systematic
    for subset in itertools.combinations(packets, 4):
        result = fec_decode(reversed(subset))
        assert result.recovered and result.data == data, [p.index for p in subset]
    for subset in itertools.combinations(packets, 3):
        result = fec_decode(subset)
        assert result == FecDecodeResult(False, None, 3, 4, "received 3 of the 4 packets needed")


def test_duplicates_count_once_and_nothing_received_is_a_failure():
    packets = fec_encode(b"hello world", k=3, r=1)
    result = fec_decode([packets[0], packets[0], packets[3], packets[3]])
    assert not result.recovered and result.received == 2 and result.needed == 3
    assert fec_decode([]) == FecDecodeResult(False, None, 0, None, "no packet received")


@settings(max_examples=25, deadline=None)
@given(data=st.binary(min_size=1, max_size=600), k=st.integers(1, 12), r=st.integers(0, 8),
       seed=st.integers(0, 2**32 - 1))
def test_random_subsets_round_trip_through_bytes(data, k, r, seed):
    packets = fec_encode(data, k, r)
    assert len(packets) == k + r
    rng = random.Random(seed)
    wire = [packets[i].to_bytes() for i in rng.sample(range(k + r), rng.randint(k, k + r))]
    result = fec_decode(FecPacket.from_bytes(raw) for raw in wire)
    assert result.recovered and result.data == data
    lost = rng.sample(range(k + r), r + 1)
    assert not fec_decode(p for p in packets if p.index not in lost).recovered


def test_bits_accounting_equals_packets_on_the_wire():
    for n, k, r in [(1, 1, 0), (111, 4, 2), (5000, 13, 7), (3, 8, 3)]:
        packets = fec_encode(bytes(n), k, r)
        wire_bits = sum(8 * len(p.to_bytes()) for p in packets)
        assert transmitted_bits(n, k, r) == wire_bits
        assert wire_bits == (k + r) * HEADER_BITS + 8 * sum(len(p.payload) for p in packets)
        assert packet_length(n, k) * k - n == packets[0].padding < k


@pytest.mark.parametrize("n, p, k, r", [
    (1, 0.139, 20, 3),   # 2.78 -> 3
    (2, 0.1, 10, 2),     # 2.0000000000000004 in floats, still 2
    (4, 0.25, 16, 16),
    (1.5, 0.3, 7, 4),    # 3.15 -> 4
    (0, 0.3, 10, 0),
    (3, 0.0, 10, 0),
])
def test_parity_count_rule(n, p, k, r):
    assert parity_count(n, p, k) == r


@pytest.mark.parametrize("call, match", [
    (lambda: parity_count(-1, 0.1, 10), "provisioning=-1 must be >= 0"),
    (lambda: parity_count(1, 1.5, 10), r"predicted_loss=1.5 must be a loss rate in \[0, 1\]"),
    (lambda: parity_count(1, float("nan"), 10), "predicted_loss must be a finite number"),
    (lambda: parity_count(1, 0.1, 0), "k=0 must be >= 1"),
    (lambda: fec_encode(b"", 4, 2), "data is empty"),
    (lambda: fec_encode(b"abc", 200, 100), r"k \+ r = 200 \+ 100 = 300 packets exceeds 256"),
    (lambda: fec_encode(b"abc", 2.5, 1), "k must be an integer, got 2.5"),
    (lambda: transmitted_bits(10, 4, -1), "r=-1 must be >= 0"),
])
def test_bad_parameters_are_named(call, match):
    with pytest.raises(FecParameterError, match=match):
        call()


def test_malformed_packets_are_named():
    a = fec_encode(b"x" * 40, k=4, r=1)
    b = fec_encode(b"y" * 41, k=4, r=1)
    with pytest.raises(MalformedPacketError, match="packet 1 .* does not belong to the code of packet 0"):
        fec_decode([a[0], b[1]])
    with pytest.raises(MalformedPacketError, match="too short"):
        FecPacket.from_bytes(b"\x00\x03\x01")
    with pytest.raises(MalformedPacketError, match=r"index=9, k=4, r=1.*is invalid"):
        FecPacket.from_bytes(bytes((9, 3, 1, 0)) + b"abc")
