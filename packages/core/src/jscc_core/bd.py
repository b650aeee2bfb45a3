"""Bjøntegaard-delta metrics (VCEG-M33, NTSCC ref. [45]) through the ``bjontegaard`` package.

* :func:`bd_rate` - average rate difference at equal quality, percent (negative = saving).
* :func:`bd_quality` - average quality difference at equal rate (BD-PSNR, BD-MS-SSIM in dB).
* :func:`bd_cbr` - NTSCC Tables I-II: average percentage of channel bandwidth ratio (CBR)
  saving at equal quality, i.e. BD-rate with the CBR as rate (negative = saving).

Quality must grow with rate (PSNR, MS-SSIM in dB); each curve needs >= 4 finite points
with distinct positive rates, and its quality strictly increasing once sorted by rate.
Interpolation is piecewise ("akima", default, or "pchip"); the non-piecewise cubic fit of the
original VCEG-M33 is not offered because it can oscillate.
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np

__all__ = ["bd_rate", "bd_quality", "bd_cbr", "MIN_POINTS"]

Method = Literal["akima", "pchip"]
MIN_POINTS = 4


def _curve(rate: Sequence[float], quality: Sequence[float], which: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate one rate-quality curve and return it sorted by rate."""
    r = np.asarray(rate, dtype=np.float64).ravel()
    q = np.asarray(quality, dtype=np.float64).ravel()
    if r.size != q.size:
        raise ValueError(f"{which}: {r.size} rates but {q.size} quality values")
    if r.size < MIN_POINTS:
        raise ValueError(f"{which}: BD metrics need >= {MIN_POINTS} points, got {r.size}")
    if not (np.isfinite(r).all() and np.isfinite(q).all()):
        raise ValueError(f"{which}: rates and quality values must be finite, got {r.tolist()} / {q.tolist()}")
    if (r <= 0).any():
        raise ValueError(f"{which}: rates must be > 0 (BD works on log rate), got {r.tolist()}")
    order = np.argsort(r, kind="stable")
    r, q = r[order], q[order]
    if (np.diff(r) <= 0).any():
        raise ValueError(f"{which}: rates must be distinct, got {r.tolist()}")
    if (np.diff(q) <= 0).any():
        raise ValueError(f"{which}: quality must increase strictly with rate (monotone curve), "
                         f"got rate {r.tolist()} -> quality {q.tolist()}")
    return r, q


def _check_method(method: str) -> None:
    if method not in ("akima", "pchip"):
        raise ValueError(f"method must be 'akima' or 'pchip', got {method!r}")


def _overlap(a: np.ndarray, b: np.ndarray, axis: str) -> None:
    if min(a.max(), b.max()) <= max(a.min(), b.min()):
        raise ValueError(f"anchor and test curves do not overlap in {axis}: "
                         f"[{a.min():g}, {a.max():g}] vs [{b.min():g}, {b.max():g}]")


def bd_rate(anchor_rate, anchor_quality, test_rate, test_quality, method: Method = "akima",
            min_overlap: float = 0.75) -> float:
    """BD-rate in percent: mean of test/anchor rate - 1 over the common quality range.

    Negative = the test needs less rate for the same quality. ``min_overlap`` (fraction of
    the joint quality range) only warns, as in ``bjontegaard``.
    """
    import bjontegaard

    _check_method(method)
    ra, qa = _curve(anchor_rate, anchor_quality, "anchor")
    rt, qt = _curve(test_rate, test_quality, "test")
    _overlap(qa, qt, "quality")
    return float(bjontegaard.bd_rate(ra, qa, rt, qt, method=method, require_matching_points=False,
                                     min_overlap=min_overlap))


def bd_quality(anchor_rate, anchor_quality, test_rate, test_quality, method: Method = "akima",
               min_overlap: float = 0.75) -> float:
    """BD-quality (BD-PSNR, or BD-MS-SSIM on MS-SSIM in dB): mean quality gain over the
    common log-rate range, in the quality's unit. Positive = the test is better."""
    import bjontegaard

    _check_method(method)
    ra, qa = _curve(anchor_rate, anchor_quality, "anchor")
    rt, qt = _curve(test_rate, test_quality, "test")
    _overlap(np.log10(ra), np.log10(rt), "rate")
    return float(bjontegaard.bd_psnr(ra, qa, rt, qt, method=method, require_matching_points=False,
                                     min_overlap=min_overlap))


def bd_cbr(anchor_cbr, anchor_quality, test_cbr, test_quality, method: Method = "akima",
           min_overlap: float = 0.75) -> float:
    """BD-CBR (NTSCC Sec. V, Tables I-II) in percent: average percentage of channel bandwidth
    ratio saved by the test at the same quality; negative = bandwidth saving, positive =
    extra bandwidth. Computed as BD-rate with the CBR rho = k/m in place of the rate."""
    return bd_rate(anchor_cbr, anchor_quality, test_cbr, test_quality, method=method, min_overlap=min_overlap)
