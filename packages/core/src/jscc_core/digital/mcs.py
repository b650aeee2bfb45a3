"""Modulation-and-coding schemes (MCS) for the "BPG + LDPC" separation baselines.

NTSCC (Sec. V-A, Fig. 11) sends BPG over a rate-2/3 (n=6144, k=4096) 5G LDPC code with 16-QAM
(:data:`NTSCC_BPG_LDPC`); Fig. 12 plots, at each SNR, "the envelope of the best performing
configurations" over LDPC rates and modulations (:data:`AWGN_ENVELOPE`, and
:data:`RAYLEIGH_ENVELOPE` for fading). :data:`TS38214_MCS_TABLE` is the 3GPP MCS index table,
and :func:`select_mcs` picks an MCS from an estimated SNR (adaptive coding and modulation).

Conventions: every MCS carries ``k`` information bits per codeword (4096 where possible) in a
5G NR LDPC codeword of ``n`` bits, ``n = bits_per_symbol * ceil(k / (code_rate *
bits_per_symbol))`` so that the codeword fills whole QAM symbols (:func:`codeword_length`;
5G rate matching supports any such n). The actual rate k / n can then be a hair below the
nominal ``code_rate``: e.g. 64-QAM 1/2 has n = 8196 (1366 symbols), rate 0.49976.
Spectral efficiency = k / (n / bits_per_symbol) information bits per complex channel use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Mapping, NamedTuple, Optional, Sequence

import numpy as np

__all__ = [
    "MCS",
    "codeword_length",
    "AWGN_ENVELOPE",
    "RAYLEIGH_ENVELOPE",
    "NTSCC_BPG_LDPC",
    "MCSIndexEntry",
    "TS38214_MCS_TABLE",
    "ts38214_mcs",
    "MEASURED_SNR_AT_BLER_DB",
    "snr_threshold_db",
    "select_mcs",
]

_MODULATION_NAMES = {2: "QPSK", 4: "16QAM", 6: "64QAM", 8: "256QAM"}


def _as_fraction(rate) -> Fraction:
    return Fraction(rate).limit_denominator(1 << 20) if not isinstance(rate, Fraction) else rate


def codeword_length(k: int, code_rate, bits_per_symbol: int) -> int:
    """Smallest n >= k / code_rate that is a multiple of ``bits_per_symbol`` (whole QAM symbols)."""
    rate = _as_fraction(code_rate)
    if not 0 < rate < 1:
        raise ValueError(f"code_rate must be in (0, 1), got {code_rate!r}")
    q = int(bits_per_symbol)
    return q * math.ceil(Fraction(int(k)) / (rate * q))


class CodewordGeometry:
    """Rate and size of a (k, n) codeword on a QAM constellation; needs ``k``, ``n``, ``bits_per_symbol``."""

    @property
    def rate(self) -> float:
        """Actual code rate k / n."""
        return self.k / self.n

    @property
    def num_symbols(self) -> int:
        """Complex channel uses per codeword, n / bits_per_symbol."""
        return self.n // self.bits_per_symbol

    @property
    def spectral_efficiency(self) -> float:
        """Information bits per complex channel use, rate * bits_per_symbol = k / num_symbols."""
        return self.k / self.num_symbols


@dataclass(frozen=True)
class MCS(CodewordGeometry):
    """A modulation-and-coding scheme: 5G NR LDPC (k, n) with square Gray QAM.

    ``code_rate`` is the nominal rate (e.g. ``Fraction(2, 3)`` or ``Fraction(658, 1024)``);
    ``n`` defaults to :func:`codeword_length` (k, code_rate, bits_per_symbol). Sionna's 5G
    encoder (hence the exact link, :func:`jscc_core.digital.ldpc.link_for`) supports
    1/5 <= k/n <= 0.95.
    """

    name: str
    bits_per_symbol: int
    code_rate: Fraction
    k: int = 4096
    n: Optional[int] = None

    def __post_init__(self):
        q = int(self.bits_per_symbol)
        if q not in _MODULATION_NAMES:
            raise ValueError(f"bits_per_symbol must be one of {sorted(_MODULATION_NAMES)}, "
                             f"got {self.bits_per_symbol!r}")
        rate = _as_fraction(self.code_rate)
        object.__setattr__(self, "bits_per_symbol", q)
        object.__setattr__(self, "code_rate", rate)
        object.__setattr__(self, "k", int(self.k))
        n = codeword_length(self.k, rate, q) if self.n is None else int(self.n)
        object.__setattr__(self, "n", n)
        if not 12 <= self.k <= 8448:
            raise ValueError(f"{self.name}: 5G NR LDPC needs 12 <= k <= 8448, got k={self.k}")
        if n % q:
            raise ValueError(f"{self.name}: n={n} is not a multiple of bits_per_symbol={q}")
        if not self.k / n <= 0.95:
            raise ValueError(f"{self.name}: 5G NR LDPC rate k/n must be <= 0.95, got {self.k}/{n}")

    @property
    def modulation(self) -> str:
        """'QPSK', '16QAM', '64QAM' or '256QAM'."""
        return _MODULATION_NAMES[self.bits_per_symbol]

    @property
    def modulation_order(self) -> int:
        """Constellation size M = 2^bits_per_symbol."""
        return 1 << self.bits_per_symbol

    def to_dict(self) -> dict:
        return {"name": self.name, "bits_per_symbol": self.bits_per_symbol,
                "code_rate": f"{self.code_rate.numerator}/{self.code_rate.denominator}",
                "k": self.k, "n": self.n}

    @classmethod
    def from_dict(cls, d: Mapping) -> "MCS":
        return cls(d["name"], int(d["bits_per_symbol"]), Fraction(d["code_rate"]), int(d["k"]), int(d["n"]))


def _mcs(q: int, rate: Fraction, k: int = 4096) -> MCS:
    return MCS(f"{_MODULATION_NAMES[q]} {rate.numerator}/{rate.denominator}", q, rate, k)


#: AWGN envelope of Fig. 12 (NTSCC): LDPC 1/3, 1/2, 2/3 with 4-QAM; 1/2, 2/3 with 16-QAM; 1/2 with 64-QAM.
AWGN_ENVELOPE: tuple = (
    _mcs(2, Fraction(1, 3)), _mcs(2, Fraction(1, 2)), _mcs(2, Fraction(2, 3)),
    _mcs(4, Fraction(1, 2)), _mcs(4, Fraction(2, 3)),
    _mcs(6, Fraction(1, 2)),
)

#: Rayleigh-fading envelope: LDPC 1/3, 1/2, 2/3 with 4-QAM; 1/2 with 16-QAM.
RAYLEIGH_ENVELOPE: tuple = (
    _mcs(2, Fraction(1, 3)), _mcs(2, Fraction(1, 2)), _mcs(2, Fraction(2, 3)),
    _mcs(4, Fraction(1, 2)),
)

#: NTSCC's "BPG + LDPC" (Fig. 11, Tables I-II): rate-2/3 (n=6144, k=4096) LDPC with 16-QAM.
NTSCC_BPG_LDPC = MCS("16QAM 2/3 (NTSCC BPG+LDPC)", 4, Fraction(2, 3), k=4096, n=6144)


# --------------------------------------------------------------------------- 3GPP table


class MCSIndexEntry(NamedTuple):
    index: int  #: I_MCS
    qm: int  #: modulation order Q_m (bits per symbol)
    rate_x1024: int  #: target code rate R x 1024
    spectral_efficiency: float  #: Q_m R, as printed in the table (4 decimals)


# 3GPP TS 38.214 V15/16/17, Table 5.1.3.1-1 "MCS index table 1 for PDSCH" (the 64QAM table):
# (I_MCS, Q_m, target code rate R x [1024], spectral efficiency). Indices 29-31 are reserved
# (retransmissions) and omitted. Note that the standard's spectral efficiency steps down by
# 0.0039 from I_MCS 16 (16QAM, 2.5703) to 17 (64QAM, 2.5664); everywhere else it increases.
TS38214_MCS_TABLE: tuple = tuple(MCSIndexEntry(*row) for row in (
    (0, 2, 120, 0.2344), (1, 2, 157, 0.3066), (2, 2, 193, 0.3770), (3, 2, 251, 0.4902),
    (4, 2, 308, 0.6016), (5, 2, 379, 0.7402), (6, 2, 449, 0.8770), (7, 2, 526, 1.0273),
    (8, 2, 602, 1.1758), (9, 2, 679, 1.3262), (10, 4, 340, 1.3281), (11, 4, 378, 1.4766),
    (12, 4, 434, 1.6953), (13, 4, 490, 1.9141), (14, 4, 553, 2.1602), (15, 4, 616, 2.4063),
    (16, 4, 658, 2.5703), (17, 6, 438, 2.5664), (18, 6, 466, 2.7305), (19, 6, 517, 3.0293),
    (20, 6, 567, 3.3223), (21, 6, 616, 3.6094), (22, 6, 666, 3.9023), (23, 6, 719, 4.2129),
    (24, 6, 772, 4.5234), (25, 6, 822, 4.8164), (26, 6, 873, 5.1152), (27, 6, 910, 5.3320),
    (28, 6, 948, 5.5547),
))


def ts38214_mcs(index: int, k: int = 4096) -> MCS:
    """The MCS of TS 38.214 Table 5.1.3.1-1 entry ``index`` (0..28) with k info bits per codeword.

    MCS 0-2 (R < 1/5) need the circular-buffer repetition of 5G rate matching, which Sionna's
    encoder does not implement: their exact link (:func:`jscc_core.digital.ldpc.link_for`)
    raises, while the SNR-threshold rule of :func:`select_mcs` still applies.
    """
    if not 0 <= index < len(TS38214_MCS_TABLE):
        raise ValueError(f"MCS index must be in 0..{len(TS38214_MCS_TABLE) - 1}, got {index!r}")
    e = TS38214_MCS_TABLE[index]
    return MCS(f"MCS{e.index} {_MODULATION_NAMES[e.qm]} R={e.rate_x1024}/1024", e.qm,
               Fraction(e.rate_x1024, 1024), k)


# --------------------------------------------------------------------------- MCS selection

# Es/N0 (dB) at which the exact link (k=4096, FastLDPCDecoder, at most 20 iterations, exact app
# demapping, complex AWGN) reaches BLER 1e-1 and 1e-2: BlerTable.snr_at_bler of tables measured
# with ``jscc_core.digital.abstraction.measure_bler`` (seeds 2024 and 2025, 0.05 dB grid across
# the waterfall, 2000 codewords per point, points with BLER > ~0.3 stopped after >= 300 errors;
# 19-29k codewords per MCS). Keys: (bits_per_symbol, nominal code rate). Gap to capacity at
# BLER 1e-1: 1.06, 1.13, 1.37, 1.65, 1.65, 2.12 dB.
MEASURED_SNR_AT_BLER_DB = {
    (2, Fraction(1, 3)): (-1.25, -1.10),
    (2, Fraction(1, 2)): (1.13, 1.27),
    (2, Fraction(2, 3)): (3.19, 3.35),
    (4, Fraction(1, 2)): (6.42, 6.66),
    (4, Fraction(2, 3)): (8.93, 9.11),
    (6, Fraction(1, 2)): (10.57, 10.77),
}


def _capacity_snr_db(spectral_efficiency: float) -> float:
    """Smallest Es/N0 (dB) with log2(1 + SNR) >= spectral efficiency (complex AWGN)."""
    return 10.0 * math.log10(2.0 ** spectral_efficiency - 1.0)


def snr_threshold_db(mcs: MCS, target_bler: float = 0.1) -> float:
    """Es/N0 (dB) at which ``mcs`` reaches ``target_bler`` on complex AWGN (documented rule).

    For the measured configurations (:data:`MEASURED_SNR_AT_BLER_DB`) the measured thresholds
    at BLER 1e-1 and 1e-2 are interpolated linearly in log10(BLER) (extrapolated outside).
    Any other MCS gets the Shannon threshold of its spectral efficiency plus the gap to
    capacity of the measured configurations, interpolated linearly in spectral efficiency
    (held constant beyond the measured range): ``10 log10(2^SE - 1) + gap(SE)``, plus, for a
    block length other than the measured k = 4096 codes', the difference of the normal
    approximation's thresholds at the two lengths (:func:`_normal_approx_snr_db`; e.g. +0.49 dB
    for 16-QAM 2/3 with k = 168, measured +0.71 dB).
    """
    if not 0 < target_bler < 1:
        raise ValueError(f"target_bler must be in (0, 1), got {target_bler!r}")
    w = (math.log10(target_bler) + 1.0) / (-1.0)  # 0 at 1e-1, 1 at 1e-2

    def at_target(pair):
        return pair[0] + w * (pair[1] - pair[0])

    key = (mcs.bits_per_symbol, mcs.code_rate)
    measured = mcs.k == 4096 and mcs.n == codeword_length(4096, mcs.code_rate, mcs.bits_per_symbol)
    if measured and key in MEASURED_SNR_AT_BLER_DB:
        return at_target(MEASURED_SNR_AT_BLER_DB[key])
    ses, gaps = [], []
    for (q, rate), pair in sorted(MEASURED_SNR_AT_BLER_DB.items(), key=lambda kv: kv[0][0] * kv[0][1]):
        se = _measured_se(q, rate)
        ses.append(se)
        gaps.append(at_target(pair) - _capacity_snr_db(se))
    gap = float(np.interp(mcs.spectral_efficiency, ses, gaps))
    se = mcs.spectral_efficiency
    shift = _normal_approx_snr_db(se, mcs.num_symbols, target_bler) - _normal_approx_snr_db(se, 4096 / se, target_bler)
    return _capacity_snr_db(se) + gap + shift


def _normal_approx_snr_db(spectral_efficiency: float, channel_uses: float, bler: float) -> float:
    """Es/N0 (dB) at which a code of ``channel_uses`` complex uses reaches ``bler`` at the given
    rate, by the normal approximation (Polyanskiy, Poor, Verdu 2010) for complex AWGN:
    R = C - sqrt(V / n) Q^-1(bler) + log2(n) / (2 n), V = s (s + 2) / (s + 1)^2 log2(e)^2."""
    from scipy.optimize import brentq
    from scipy.stats import norm

    n, q_inv = float(channel_uses), float(norm.isf(bler))

    def excess(snr_db):
        s = 10.0 ** (snr_db / 10.0)
        v = s * (s + 2.0) / (s + 1.0) ** 2 * math.log2(math.e) ** 2
        return math.log2(1.0 + s) - math.sqrt(v / n) * q_inv + math.log2(n) / (2.0 * n) - spectral_efficiency

    return float(brentq(excess, -30.0, 60.0))


def _measured_se(q: int, rate: Fraction) -> float:
    return 4096 / (codeword_length(4096, rate, q) // q)


def select_mcs(snr_est_db: float, table: Sequence[MCS], bler_table: Optional[Mapping] = None,
               target_bler: float = 0.1) -> Optional[MCS]:
    """Adaptive coding and modulation: the highest-rate MCS of ``table`` usable at ``snr_est_db``.

    Returns the MCS of largest spectral efficiency whose BLER at the estimated Es/N0 is at most
    ``target_bler``, or ``None`` if no MCS of the table meets the target.

    * ``bler_table`` given (mapping MCS name -> :class:`~jscc_core.digital.abstraction.BlerTable`):
      BLER from the measured table (MCSs without a table are skipped);
    * otherwise the SNR-threshold rule :func:`snr_threshold_db` (MCS usable iff
      ``snr_est_db >= snr_threshold_db(mcs, target_bler)``).

    Both rules are monotone: a higher SNR never selects a lower spectral efficiency.
    """
    if not 0 < target_bler < 1:
        raise ValueError(f"target_bler must be in (0, 1), got {target_bler!r}")
    best = None
    for mcs in table:
        if bler_table is not None:
            if mcs.name not in bler_table:
                continue
            usable = bler_table[mcs.name].bler(snr_est_db) <= target_bler
        else:
            usable = snr_est_db >= snr_threshold_db(mcs, target_bler)
        if usable and (best is None or mcs.spectral_efficiency > best.spectral_efficiency):
            best = mcs
    return best
