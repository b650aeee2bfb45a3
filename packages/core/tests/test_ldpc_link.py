"""Exact 5G LDPC + QAM link, fast BP decoder vs Sionna, MCS tables and the link abstraction."""

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

pytest.importorskip("sionna.phy")

from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
from sionna.phy.mapping import Demapper, Mapper

from jscc_core.channels import snr_db_to_noise_var
from jscc_core.digital.abstraction import (
    BlerTable,
    clopper_pearson,
    compare_image_loss,
    image_loss_probability,
    measure_bler,
)
from jscc_core.digital.ldpc import (
    FastLDPCDecoder,
    FastLDPCEncoder,
    LDPCQAMLink,
    SeparableQAMDemapper,
)
from jscc_core.digital.mcs import (
    AWGN_ENVELOPE,
    MCS,
    NTSCC_BPG_LDPC,
    RAYLEIGH_ENVELOPE,
    TS38214_MCS_TABLE,
    select_mcs,
    snr_threshold_db,
    ts38214_mcs,
)


def gen(seed):
    return torch.Generator().manual_seed(seed)


pytestmark = pytest.mark.usefixtures("one_thread")  # BP: short memory-bound ops


@pytest.fixture(scope="module")
def link_16qam():
    """NTSCC's BPG+LDPC link: rate-2/3 (6144, 4096) 5G LDPC, 16-QAM."""
    return LDPCQAMLink(4096, 6144, 4)


def channel_llrs(link, bits, snr_db, seed):
    """Sionna mapper -> ComplexAWGN -> Sionna app demapper: the reference LLRs."""
    x = Mapper("qam", link.bits_per_symbol)(link.encode(bits))
    y = link.channel(x, snr_db=snr_db, generator=gen(seed))
    return Demapper("app", "qam", link.bits_per_symbol)(y, torch.tensor(snr_db_to_noise_var(snr_db)))


# ------------------------------------------------------------------ exact link


@pytest.mark.parametrize("k,n,q,low,mid,high", [(4096, 8192, 2, -1.0, 1.0, 4.0),
                                                (4096, 6144, 4, 6.0, 8.75, 12.0)])
def test_round_trip_and_bler_falls_with_snr(k, n, q, low, mid, high):
    link = LDPCQAMLink(k, n, q)
    bits = torch.randint(0, 2, (32, k), generator=gen(1))
    cw = link.encode(bits)
    res = {snr: link(bits, snr, generator=gen(2), codewords=cw) for snr in (low, mid, high)}
    assert torch.equal(res[high].bits, bits.float()) and bool(res[high].success.all())
    assert not bool(res[low].success.any())
    bler = [1 - res[s].success.float().mean().item() for s in (low, mid, high)]
    assert bler[0] == 1.0 and 0.0 < bler[1] < 1.0 and bler[2] == 0.0
    # success flag is exactly "decoded == transmitted"
    assert torch.equal(res[mid].success, (res[mid].bits == bits).all(1))


def test_link_inputs(link_16qam):
    bits = np.random.default_rng(0).integers(0, 2, (4, 4096))  # numpy in
    a = link_16qam(bits, 12.0, generator=gen(3))
    b = link_16qam(torch.as_tensor(bits), 12.0, generator=gen(3), codewords=link_16qam.encode(bits))
    assert torch.equal(a.bits, b.bits) and bool(a.success.all())
    per_cw = link_16qam(bits, torch.tensor([12.0, 12.0, 3.0, 3.0]), generator=gen(3))
    assert per_cw.success.tolist() == [True, True, False, False]
    with pytest.raises(ValueError, match="multiple of bits_per_symbol"):
        LDPCQAMLink(4096, 6145, 4)
    with pytest.raises(ValueError, match="0/1"):
        link_16qam(np.full((1, 4096), 2), 10.0)
    assert link_16qam.num_symbols == 1536 and link_16qam.spectral_efficiency == pytest.approx(8 / 3)


@pytest.mark.parametrize("k,n,q", [(4096, 6144, 4), (4096, 12288, 2), (4096, 8196, 6), (1000, 3000, 2),
                                   (500, 600, None)])
def test_fast_encoder_equals_sionna(k, n, q):
    enc = LDPC5GEncoder(k, n, num_bits_per_symbol=q)
    bits = torch.randint(0, 2, (16, k), generator=gen(k + n)).float()
    assert torch.equal(FastLDPCEncoder(enc)(bits), enc(bits))


@pytest.mark.parametrize("q", [2, 4, 6])
def test_separable_demapper_equals_sionna_app(q):
    bits = torch.randint(0, 2, (8, 120 * q), generator=gen(q))
    x = Mapper("qam", q)(bits)
    for no in (1.0, 0.05, 1e-3):
        y = x + math.sqrt(no / 2) * torch.complex(torch.randn(x.shape, generator=gen(7)),
                                                  torch.randn(x.shape, generator=gen(8)))
        ref = Demapper("app", "qam", q)(y, torch.tensor(no))
        ours = SeparableQAMDemapper(q)(y, no)
        assert ((ours - ref).abs() / (1 + ref.abs())).max() < 1e-4


# ------------------------------------------------------------------ fast decoder vs Sionna


def test_fast_decoder_same_bits_as_sionna_at_good_snr(link_16qam):
    bits = torch.randint(0, 2, (16, 4096), generator=gen(10))
    llr = channel_llrs(link_16qam, bits, 10.0, seed=11)
    ref = LDPC5GDecoder(link_16qam.encoder, num_iter=20)(llr)  # Sionna: boxplus-phi, 20 iterations
    fast = FastLDPCDecoder(link_16qam.encoder, num_iter=20)
    assert torch.equal(ref, bits.float())
    assert torch.equal(fast(llr), ref)
    no_stop = FastLDPCDecoder(link_16qam.encoder, num_iter=20, early_stop=False)
    assert torch.equal(no_stop(llr), ref)
    # full codeword output goes through Sionna's own output selection / de-interleaving too
    cw_ref = LDPC5GDecoder(link_16qam.encoder, num_iter=20, return_infobits=False)(llr[:4])
    assert torch.equal(FastLDPCDecoder(link_16qam.encoder, return_infobits=False)(llr[:4]), cw_ref)
    assert torch.equal(cw_ref, link_16qam.encode(bits[:4]))


def test_fast_decoder_bler_matches_sionna_in_waterfall(link_16qam):
    n = 48
    bits = torch.randint(0, 2, (n, 4096), generator=gen(20))
    llr = channel_llrs(link_16qam, bits, 8.85, seed=21)
    ok_ref = (LDPC5GDecoder(link_16qam.encoder, num_iter=20)(llr) == bits).all(1)
    ok_fast = (FastLDPCDecoder(link_16qam.encoder, num_iter=20)(llr) == bits).all(1)
    p = 1 - ok_ref.float().mean().item()
    assert 0.05 < p < 0.95, "8.85 dB should be inside the waterfall"
    # same LLRs, same update rule: per-codeword outcomes agree, so do the BLERs
    assert (ok_ref == ok_fast).float().mean() >= 0.9
    tol = 3 * math.sqrt(n * p * (1 - p))
    assert abs(int((~ok_ref).sum()) - int((~ok_fast).sum())) <= tol


def test_early_stopping_saves_iterations(link_16qam):
    bits = torch.randint(0, 2, (64, 4096), generator=gen(30))
    llr = channel_llrs(link_16qam, bits, 12.0, seed=31)
    out = FastLDPCDecoder(link_16qam.encoder, num_iter=20, batch_size=16).decode(llr)
    assert torch.equal(out.bits, bits.float()) and bool(out.syndrome_ok.all())
    assert out.num_iter.float().mean() < 8 and int(out.num_iter.min()) >= 1
    full = FastLDPCDecoder(link_16qam.encoder, num_iter=20, early_stop=False).decode(llr)
    assert bool((full.num_iter == 20).all()) and torch.equal(full.bits, out.bits)


# ------------------------------------------------------------------ MCS


def test_mcs_sets():
    assert NTSCC_BPG_LDPC.n == 6144 and NTSCC_BPG_LDPC.k == 4096 and NTSCC_BPG_LDPC.bits_per_symbol == 4
    got = {(m.bits_per_symbol, m.code_rate) for m in AWGN_ENVELOPE}
    assert got == {(2, Fraction(1, 3)), (2, Fraction(1, 2)), (2, Fraction(2, 3)),
                   (4, Fraction(1, 2)), (4, Fraction(2, 3)), (6, Fraction(1, 2))}
    assert {(m.bits_per_symbol, m.code_rate) for m in RAYLEIGH_ENVELOPE} == {
        (2, Fraction(1, 3)), (2, Fraction(1, 2)), (2, Fraction(2, 3)), (4, Fraction(1, 2))}
    for m in AWGN_ENVELOPE + RAYLEIGH_ENVELOPE:
        assert m.k == 4096 and m.n % m.bits_per_symbol == 0 and m.rate <= m.code_rate
        assert m.spectral_efficiency == pytest.approx(m.rate * m.bits_per_symbol)
    m64 = next(m for m in AWGN_ENVELOPE if m.bits_per_symbol == 6)
    assert m64.n == 8196 and m64.num_symbols == 1366  # 8192 padded to whole 64-QAM symbols
    assert MCS.from_dict(m64.to_dict()) == m64


def test_ts38214_table():
    from sionna.phy.nr.utils import decode_mcs_index

    se = np.array([e.spectral_efficiency for e in TS38214_MCS_TABLE])
    for e in TS38214_MCS_TABLE:
        assert e.spectral_efficiency == pytest.approx(e.qm * e.rate_x1024 / 1024, abs=6e-5)
        qm, r = decode_mcs_index(e.index, table_index=1, is_pusch=False)
        assert int(qm) == e.qm and float(r) == pytest.approx(e.rate_x1024 / 1024)
    steps = np.diff(se)
    # increasing with the index, except the standard's own 16QAM -> 64QAM step (I_MCS 16 -> 17)
    assert np.all(np.delete(steps, 16) > 0) and -0.005 < steps[16] < 0
    for qm in (2, 4, 6):
        assert np.all(np.diff(se[[e.qm == qm for e in TS38214_MCS_TABLE]]) > 0)
    m = ts38214_mcs(16)
    assert m.bits_per_symbol == 4 and m.code_rate == Fraction(658, 1024)


def _synthetic_table(mcs, threshold_db):
    snr = np.round(np.arange(threshold_db - 1.0, threshold_db + 1.01, 0.25), 2)
    p = 1 / (1 + np.exp((snr - threshold_db) * 8))
    n = np.full(len(snr), 1000)
    return BlerTable(mcs, snr, n, np.round(p * n).astype(int))


def test_select_mcs_monotone_in_snr():
    grid = np.arange(-10.0, 20.0, 0.1)
    thresholds = [snr_threshold_db(m) for m in AWGN_ENVELOPE]
    assert np.all(np.diff([thresholds[i] for i in np.argsort([m.spectral_efficiency for m in AWGN_ENVELOPE])]) > 0)
    tables = {m.name: _synthetic_table(m, t) for m, t in zip(AWGN_ENVELOPE, thresholds)}
    table_38214 = [ts38214_mcs(i) for i in range(29)]
    for kwargs, table in (({}, AWGN_ENVELOPE), ({"bler_table": tables}, AWGN_ENVELOPE), ({}, table_38214),
                          ({"target_bler": 0.01}, AWGN_ENVELOPE)):
        chosen = [select_mcs(s, table, **kwargs) for s in grid]
        se = [0.0 if c is None else c.spectral_efficiency for c in chosen]
        assert np.all(np.diff(se) >= 0), kwargs
        assert chosen[0] is None and chosen[-1].spectral_efficiency == max(m.spectral_efficiency for m in table)
    # the threshold rule sits at or above capacity
    for m in table_38214:
        assert snr_threshold_db(m) > 10 * math.log10(2 ** m.spectral_efficiency - 1)


# ------------------------------------------------------------------ abstraction


def test_bler_table_interpolation_and_json(tmp_path):
    t = BlerTable(NTSCC_BPG_LDPC, [8.5, 8.75, 9.0, 9.25], [200, 200, 400, 400], [190, 90, 12, 0],
                  metadata={"seed": 1})
    assert t.bler(8.5) == pytest.approx(0.95) and t.bler(9.25) == 0.0 and t.bler(12.0) == 0.0
    assert t.bler(5.0) == pytest.approx(0.95)
    mid = t.bler(8.875)
    assert mid == pytest.approx(math.sqrt(0.45 * 0.03))  # geometric mean: linear in log BLER
    grid = np.linspace(8.0, 10.0, 81)
    assert np.all(np.diff(t.bler(grid)) <= 0)
    # a non-monotone measurement is pooled into a monotone fit
    bumpy = BlerTable(NTSCC_BPG_LDPC, [1, 2, 3], [100, 100, 100], [50, 10, 20])
    assert bumpy.monotone_bler.tolist() == pytest.approx([0.5, 0.15, 0.15])
    assert 8.75 < t.snr_at_bler(0.1) < 9.0
    back = BlerTable.load(t.save(tmp_path / "bler.json"))
    assert back.mcs == t.mcs and back.metadata == {"seed": 1}
    assert np.array_equal(back.n_errors, t.n_errors) and back.bler(8.875) == mid
    draws = t.draw_failures(20000, 8.75, np.random.default_rng(0))
    assert abs(draws.mean() - 0.45) < 4 * math.sqrt(0.45 * 0.55 / 20000)
    lo, hi = clopper_pearson(90, 200, 0.95)
    assert lo < 0.45 < hi and image_loss_probability(0.1, 3) == pytest.approx(1 - 0.9 ** 3)


def test_abstraction_agrees_with_exact_image_loss(link_16qam):
    """16-QAM 2/3 near the waterfall: image lost if any of its 3 codewords fails."""
    snrs = [8.85, 9.0]
    table = measure_bler(NTSCC_BPG_LDPC, snrs, n_codewords=500, seed=5, link=link_16qam)
    assert table.n_codewords.tolist() == [500, 500] and table.raw_bler[0] > table.raw_bler[1] > 0
    for snr in snrs:
        check = compare_image_loss(table, snr, codewords_per_image=3, n_images=200, seed=6, link=link_16qam)
        assert 0.05 < check.predicted_rate < 0.95
        assert check.agrees, check.to_dict()
        assert abs(check.abstraction_rate - check.predicted_rate) < 4 * math.sqrt(0.25 / 200)
