"""BD metrics of a curve against a baseline (VCEG-M33 through ``jscc_core.bd``), on envelopes,
only where the two curves overlap.

BD-CBR averages the CBR difference at equal quality, so it needs the curves to share a range
of quality; BD-quality averages the quality difference at equal log CBR, so it needs a shared
range of log CBR. Each is computed only if the shared range is at least ``MIN_OVERLAP`` of the
joint range and each envelope has ``jscc_core.bd.MIN_POINTS`` points; otherwise it is None with
a reason ("n/a (...)") for the page and the CSV.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from jscc_core import bd
from pipelines.figures.curves import Series

MIN_OVERLAP = 0.5  # BD needs the curves to share at least half of their joint range


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Common range / joint range of two sets of values (0 if disjoint)."""
    joint = max(a.max(), b.max()) - min(a.min(), b.min())
    common = min(a.max(), b.max()) - max(a.min(), b.min())
    return float(max(common, 0.0) / joint) if joint > 0 else 0.0


def bd_against(anchor: Series, test: Series) -> dict[str, Any]:
    """BD-CBR (%) and BD-quality (dB) of ``test``'s envelope against the baseline ``anchor``'s.

    Keys: ``bd_cbr``, ``bd_quality`` (None where not computed) with ``<name>_reason`` (short,
    "n/a (...)") and ``<name>_detail`` (a sentence), ``<name>_overlap`` (the shared fraction,
    when both envelopes have enough points), and both envelopes as ``anchor_points`` and
    ``test_points`` ([CBR, quality] pairs)."""
    ra, qa, rt, qt = anchor.env_cbr, anchor.env_quality, test.env_cbr, test.env_quality
    out: dict[str, Any] = {"anchor_points": [[float(a), float(b)] for a, b in zip(ra, qa)],
                           "test_points": [[float(a), float(b)] for a, b in zip(rt, qt)]}
    few = [f"{s.method}: {s.env.size} envelope points" for s in (anchor, test) if s.env.size < bd.MIN_POINTS]
    for name, frac_of, fn in (("bd_cbr", lambda: overlap(qa, qt), bd.bd_cbr),
                              ("bd_quality", lambda: overlap(np.log10(ra), np.log10(rt)), bd.bd_quality)):
        value, reason, detail = None, "", ""
        if few:
            reason, detail = f"n/a (< {bd.MIN_POINTS} points)", f"BD needs {bd.MIN_POINTS} points; {'; '.join(few)}"
        else:
            frac = frac_of()
            out[f"{name}_overlap"] = round(frac, 4)
            axis = "quality" if name == "bd_cbr" else "log CBR"
            if frac <= 0:
                reason, detail = "n/a (no overlap)", f"the curves share no range of {axis}"
            elif frac < MIN_OVERLAP:
                reason = f"n/a (overlap {frac:.0%})"
                detail = f"the curves share {frac:.0%} of their joint range of {axis}, < {MIN_OVERLAP:.0%}"
            else:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        value = fn(ra, qa, rt, qt)
                except ValueError as exc:
                    reason, detail = "n/a (BD failed)", str(exc)
        out[name], out[f"{name}_reason"], out[f"{name}_detail"] = value, reason, detail
    return out
