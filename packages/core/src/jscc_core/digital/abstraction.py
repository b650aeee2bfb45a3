"""Link abstraction for the digital baselines: measured BLER tables and i.i.d. codeword failures.

A Kodak curve with an MCS envelope needs millions of decoded bits per point; the abstraction
replaces the exact link (:class:`~jscc_core.digital.ldpc.LDPCQAMLink`) by its block error rate
(BLER) measured once per MCS (:func:`measure_bler`), and draws each codeword's failure i.i.d.
with that probability (:meth:`BlerTable.draw_failures`). An image of m codewords is lost if any
codeword fails, with probability 1 - (1 - BLER)^m; :func:`compare_image_loss` checks that
prediction against exact simulation. Failures remain real events in the simulation (cliff
effect), not averages (docs/conventions.md, "Digital baselines and the cliff effect").
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch
from scipy.stats import beta

from ..channels import check_snr_db
from ..determinism import library_versions
from .ldpc import link_for
from .mcs import MCS

__all__ = [
    "BLER_FLOOR",
    "BlerTable",
    "measure_bler",
    "image_loss_probability",
    "clopper_pearson",
    "ImageLossCheck",
    "compare_image_loss",
]

#: BLERs below this are below any table's resolution and are returned as 0 (see BlerTable.bler).
BLER_FLOOR = 1e-6


def clopper_pearson(errors, trials, confidence: float = 0.95):
    """Exact (Clopper-Pearson) two-sided binomial confidence interval(s) for errors / trials."""
    errors, trials = np.asarray(errors, dtype=float), np.asarray(trials, dtype=float)
    a = (1.0 - confidence) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(errors > 0, beta.ppf(a, errors, trials - errors + 1), 0.0)
        hi = np.where(errors < trials, beta.ppf(1 - a, errors + 1, trials - errors), 1.0)
    lo, hi = np.where(trials > 0, lo, 0.0), np.where(trials > 0, hi, 1.0)
    return (float(lo), float(hi)) if lo.ndim == 0 else (lo, hi)


def image_loss_probability(bler, codewords_per_image: int):
    """P(image lost) = 1 - (1 - BLER)^m for m codewords failing independently."""
    return 1.0 - np.power(1.0 - np.asarray(bler, dtype=float), int(codewords_per_image))


def _antitonic(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted least-squares non-increasing fit (pool adjacent violators)."""
    blocks = []  # [mean, weight, length]
    for v, w in zip(values, weights):
        blocks.append([v, w, 1])
        while len(blocks) > 1 and blocks[-2][0] < blocks[-1][0]:
            v2, w2, n2 = blocks.pop()
            v1, w1, n1 = blocks.pop()
            wt = w1 + w2
            blocks.append([(v1 * w1 + v2 * w2) / wt if wt > 0 else (v1 + v2) / 2, wt, n1 + n2])
    return np.concatenate([np.full(n, v) for v, _, n in blocks])


@dataclass
class BlerTable:
    """BLER of one MCS versus Es/N0 (dB), measured by exact simulation.

    ``n_codewords[i]`` codewords were simulated at ``snr_db[i]`` and ``n_errors[i]`` of them
    were not decoded correctly. :meth:`bler` interpolates a monotone (non-increasing) fit of
    the estimates linearly in log10(BLER); ``metadata`` records how the table was made.
    """

    mcs: MCS
    snr_db: np.ndarray
    n_codewords: np.ndarray
    n_errors: np.ndarray
    metadata: dict = field(default_factory=dict)
    floor: float = BLER_FLOOR

    def __post_init__(self):
        self.snr_db = np.asarray(self.snr_db, dtype=float)
        self.n_codewords = np.asarray(self.n_codewords, dtype=np.int64)
        self.n_errors = np.asarray(self.n_errors, dtype=np.int64)
        if not (self.snr_db.ndim == 1 and self.snr_db.shape == self.n_codewords.shape == self.n_errors.shape):
            raise ValueError("snr_db, n_codewords and n_errors must be 1-D arrays of equal length")
        if len(self.snr_db) == 0:
            raise ValueError("a BLER table needs at least one SNR point")
        if np.any(np.diff(self.snr_db) <= 0):
            raise ValueError("snr_db must be strictly increasing")
        if np.any(self.n_codewords <= 0) or np.any(self.n_errors < 0) or np.any(self.n_errors > self.n_codewords):
            raise ValueError("need 0 <= n_errors <= n_codewords and n_codewords > 0 at every point")

    # ------------------------------------------------------------------ estimates

    @property
    def raw_bler(self) -> np.ndarray:
        """Per-point estimates n_errors / n_codewords."""
        return self.n_errors / self.n_codewords

    @property
    def monotone_bler(self) -> np.ndarray:
        """Non-increasing (in SNR) fit of :attr:`raw_bler`, weighted by codewords simulated."""
        return _antitonic(self.raw_bler, self.n_codewords.astype(float))

    def _log_interp(self, snr_db, per_point: np.ndarray):
        check_snr_db(snr_db)
        logs = np.log10(np.maximum(per_point, self.floor))
        out = np.power(10.0, np.interp(np.asarray(snr_db, dtype=float), self.snr_db, logs))
        out = np.where(out <= self.floor * (1 + 1e-9), 0.0, out)
        return float(out) if np.ndim(out) == 0 else out

    def bler(self, snr_db):
        """BLER at ``snr_db`` (scalar or array): log-linear interpolation of the monotone fit.

        Held constant outside the measured range; values at or below ``floor`` (zero-error
        points) are returned as 0. Non-increasing in SNR by construction.
        """
        return self._log_interp(snr_db, self.monotone_bler)

    def interval(self, snr_db, confidence: float = 0.95):
        """(lo, hi) Clopper-Pearson bounds of the BLER, interpolated like :meth:`bler`."""
        lo, hi = clopper_pearson(self.n_errors, self.n_codewords, confidence)
        return self._log_interp(snr_db, _antitonic(lo, self.n_codewords)), \
            self._log_interp(snr_db, _antitonic(hi, self.n_codewords))

    def snr_at_bler(self, target: float) -> float:
        """Smallest SNR (dB) at which the interpolated BLER is <= ``target`` (nan if never)."""
        if not 0 < target < 1:
            raise ValueError(f"target must be in (0, 1), got {target!r}")
        logs = np.log10(np.maximum(self.monotone_bler, self.floor))
        lt = math.log10(target)
        if logs[0] <= lt:
            return float(self.snr_db[0])
        below = np.flatnonzero(logs <= lt)
        if len(below) == 0:
            return float("nan")
        j = below[0]
        x0, x1, y0, y1 = self.snr_db[j - 1], self.snr_db[j], logs[j - 1], logs[j]
        return float(x0 + (lt - y0) * (x1 - x0) / (y1 - y0))

    def draw_failures(self, n_codewords: int, snr_db, rng: np.random.Generator) -> np.ndarray:
        """(n_codewords,) bool, True = codeword lost; i.i.d. Bernoulli(BLER(snr_db)).

        ``snr_db`` is a scalar or one SNR per codeword (e.g. per-block fading SNRs).
        """
        p = np.broadcast_to(np.asarray(self.bler(snr_db), dtype=float), (int(n_codewords),))
        return rng.random(int(n_codewords)) < p

    def image_loss_rate(self, snr_db, codewords_per_image: int):
        """1 - (1 - BLER)^m: probability that an image of m codewords is lost."""
        return image_loss_probability(self.bler(snr_db), codewords_per_image)

    # ------------------------------------------------------------------ persistence

    def to_dict(self) -> dict:
        return {"format": "jscc_core.bler_table/1", "mcs": self.mcs.to_dict(),
                "snr_db": self.snr_db.tolist(), "n_codewords": self.n_codewords.tolist(),
                "n_errors": self.n_errors.tolist(), "floor": self.floor, "metadata": self.metadata}

    @classmethod
    def from_dict(cls, d: dict) -> "BlerTable":
        if d.get("format") != "jscc_core.bler_table/1":
            raise ValueError(f"not a BLER table (format={d.get('format')!r})")
        return cls(MCS.from_dict(d["mcs"]), d["snr_db"], d["n_codewords"], d["n_errors"],
                   dict(d.get("metadata", {})), float(d.get("floor", BLER_FLOOR)))

    def save(self, path: Union[str, Path]) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Union[str, Path]) -> "BlerTable":
        return cls.from_dict(json.loads(Path(path).read_text()))


# --------------------------------------------------------------------------- measurement


def _generators(seed: int):
    data_seed, noise_seed = np.random.SeedSequence(int(seed)).generate_state(2)
    return torch.Generator().manual_seed(int(data_seed)), torch.Generator().manual_seed(int(noise_seed))


def measure_bler(mcs: MCS, snr_grid_db: Sequence[float], n_codewords: int, seed: int, *,
                 num_iter: int = 20, max_errors: Optional[int] = None, chunk_size: int = 1024,
                 link=None) -> BlerTable:
    """BLER of ``mcs`` on complex AWGN at each Es/N0 of ``snr_grid_db`` by exact simulation.

    Uniform random information bits (``seed``), each chunk encoded once and sent at every SNR
    (common random data across SNRs), decoded by :class:`~jscc_core.digital.ldpc.FastLDPCDecoder`
    with at most ``num_iter`` iterations; a codeword is in error if any decoded info bit is wrong.
    ``max_errors``: stop simulating an SNR point once it has that many errors (its
    ``n_codewords`` is then smaller).
    """
    snr = np.asarray(snr_grid_db, dtype=float)
    check_snr_db(snr)
    if snr.ndim != 1 or len(snr) == 0 or np.any(np.diff(snr) <= 0):
        raise ValueError("snr_grid_db must be a non-empty strictly increasing 1-D sequence")
    if int(n_codewords) < 1:
        raise ValueError(f"n_codewords must be >= 1, got {n_codewords!r}")
    link = link if link is not None else link_for(mcs, num_iter)
    data_gen, noise_gen = _generators(seed)
    counts = np.zeros(len(snr), dtype=np.int64)
    errors = np.zeros(len(snr), dtype=np.int64)
    iterations = np.zeros(len(snr), dtype=np.int64)
    done = 0
    while done < n_codewords:
        b = min(int(chunk_size), int(n_codewords) - done)
        active = [i for i in range(len(snr)) if max_errors is None or errors[i] < max_errors]
        if not active:
            break
        bits = torch.randint(0, 2, (b, mcs.k), generator=data_gen)
        codewords = link.encode(bits)
        for i in active:
            res = link(bits, float(snr[i]), generator=noise_gen, codewords=codewords)
            counts[i] += b
            errors[i] += int((~res.success).sum())
            iterations[i] += int(res.num_iter.sum())
        done += b
    meta = {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seed": int(seed), "num_iter": int(num_iter), "max_errors": max_errors,
        "channel": "complex AWGN, snr_db = Es/N0 per complex channel use (unit-energy QAM)",
        "link": "Sionna LDPC5GEncoder (TS 38.212, bit interleaver) -> Gray QAM -> ComplexAWGN -> "
                "exact app demapping -> FastLDPCDecoder (flooding boxplus BP, early stop)",
        "mean_iterations": (iterations / np.maximum(counts, 1)).round(3).tolist(),
        "versions": library_versions(),
    }
    return BlerTable(mcs, snr, counts, errors, meta)


# --------------------------------------------------------------------------- validation


@dataclass
class ImageLossCheck:
    """Image-loss rate of exact simulation vs the abstraction at one SNR."""

    snr_db: float
    codewords_per_image: int
    n_images: int
    exact_lost: int
    exact_rate: float
    exact_interval: tuple  #: Clopper-Pearson interval of the exact rate
    bler: float  #: table BLER at snr_db
    predicted_rate: float  #: 1 - (1 - BLER)^m
    predicted_interval: tuple  #: from the table's BLER interval
    abstraction_rate: float  #: Monte-Carlo rate with BlerTable.draw_failures
    confidence: float
    agrees: bool  #: exact and predicted intervals overlap

    def to_dict(self) -> dict:
        return asdict(self)


def compare_image_loss(table: BlerTable, snr_db: float, codewords_per_image: int, n_images: int,
                       seed: int, *, confidence: float = 0.99, link=None) -> ImageLossCheck:
    """Exact image-loss rate (image lost if any of its m codewords fails) vs 1 - (1 - BLER)^m.

    Simulates ``n_images`` images of ``codewords_per_image`` independent random codewords with
    the exact link, and compares with the table's prediction; ``agrees`` when the exact rate's
    Clopper-Pearson interval overlaps the prediction's (propagated from the table's BLER
    interval at the same ``confidence``). Use an SNR on the table's grid (interpolation adds
    a model error the intervals do not cover).
    """
    m, n_img = int(codewords_per_image), int(n_images)
    if m < 1 or n_img < 1:
        raise ValueError("codewords_per_image and n_images must be >= 1")
    link = link if link is not None else link_for(table.mcs, int(table.metadata.get("num_iter", 20)))
    data_gen, noise_gen = _generators(seed)
    lost = []
    per_chunk = max(1, 1024 // m)
    for start in range(0, n_img, per_chunk):
        b = min(per_chunk, n_img - start)
        bits = torch.randint(0, 2, (b * m, table.mcs.k), generator=data_gen)
        res = link(bits, float(snr_db), generator=noise_gen)
        lost.append((~res.success).reshape(b, m).any(1).numpy())
    lost = np.concatenate(lost)
    n_lost = int(lost.sum())
    exact_iv = clopper_pearson(n_lost, n_img, confidence)
    p = table.bler(snr_db)
    p_lo, p_hi = table.interval(snr_db, confidence)
    pred_iv = (float(image_loss_probability(p_lo, m)), float(image_loss_probability(p_hi, m)))
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)).spawn(1)[0])
    mc = table.draw_failures(n_img * m, snr_db, rng).reshape(n_img, m).any(1).mean()
    return ImageLossCheck(
        snr_db=float(snr_db), codewords_per_image=m, n_images=n_img, exact_lost=n_lost,
        exact_rate=n_lost / n_img, exact_interval=exact_iv, bler=float(p),
        predicted_rate=float(image_loss_probability(p, m)), predicted_interval=pred_iv,
        abstraction_rate=float(mc), confidence=confidence,
        agrees=bool(exact_iv[0] <= pred_iv[1] and pred_iv[0] <= exact_iv[1]))
