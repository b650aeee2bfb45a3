"""Property-based tests of the 5G LDPC + QAM link: any code the link accepts is linear and, at high
SNR, gives back every codeword's bits exactly (random k, code rate, modulation, data and noise)."""

from fractions import Fraction
from functools import lru_cache

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("sionna.phy")

from jscc_core.digital.ldpc import LDPCQAMLink
from jscc_core.digital.mcs import codeword_length

pytestmark = pytest.mark.usefixtures("one_thread")  # BP: short memory-bound ops

#: Es/N0 (dB) from which uncoded Gray QAM has a bit error rate below about 1e-6: every error
#: pattern the channel then makes is one any of these codes corrects.
HIGH_SNR_DB = {2: 13.5, 4: 20.5, 6: 26.5, 8: 32.5}

codes = st.builds(
    lambda q, rate, k: (k, codeword_length(k, rate, q), q),
    st.sampled_from(sorted(HIGH_SNR_DB)),
    st.fractions(min_value=Fraction(1, 5), max_value=Fraction(9, 10), max_denominator=64),
    st.integers(min_value=12, max_value=2048),
).filter(lambda c: c[0] / c[1] >= 1 / 5)  # padding n up to whole symbols lowers the rate


@lru_cache(maxsize=None)
def link(k: int, n: int, q: int) -> LDPCQAMLink:
    return LDPCQAMLink(k, n, q)


def bits_of(seed: int, batch: int, k: int) -> torch.Tensor:
    return torch.randint(0, 2, (batch, k), generator=torch.Generator().manual_seed(seed))


@settings(max_examples=25, deadline=None)
@given(code=codes, batch=st.integers(1, 6), seed=st.integers(0, 2**31 - 1), data=st.data())
def test_high_snr_round_trip_is_exact(code, batch, seed, data):
    k, n, q = code
    lk = link(k, n, q)
    assert lk.num_symbols * q == n and lk.spectral_efficiency == pytest.approx(k * q / n)
    snr = data.draw(st.one_of(
        st.floats(HIGH_SNR_DB[q], 80.0),  # one SNR for the batch, up to the largest one accepted
        st.lists(st.floats(HIGH_SNR_DB[q], 80.0), min_size=batch, max_size=batch).map(torch.tensor),
    ), label="snr_db")
    bits = bits_of(seed, batch, k)
    out = lk(bits, snr, generator=torch.Generator().manual_seed(seed + 1))
    assert out.bits.shape == (batch, k)
    assert torch.equal(out.bits, bits.float())
    assert out.success.all() and out.syndrome_ok.all()


@settings(max_examples=20, deadline=None)
@given(code=codes, seed=st.integers(0, 2**31 - 1))
def test_encoder_is_linear_over_gf2(code, seed):
    k, n, q = code
    lk = link(k, n, q)
    a, b = bits_of(seed, 3, k), bits_of(seed + 1, 3, k)
    ca, cb, cab = lk.encode(a), lk.encode(b), lk.encode(a ^ b)
    assert ca.shape == (3, n) and set(ca.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(cab, (ca + cb) % 2)
    assert not lk.encode(torch.zeros(1, k, dtype=torch.long)).any()
