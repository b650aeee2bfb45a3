"""The paper's printed values beside ours: the ``source = paper`` rows of a figure's results CSV
paired with the ``source = ours`` rows at the same operating point."""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

from jscc_core.results import ResultRow
from pipelines.scorecard.model import Comparison


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def pair_rows(rows: Sequence[ResultRow]) -> list[Comparison]:
    """Every ``source = paper`` row of ``rows`` (a figure's results CSV) beside the ``source = ours``
    rows of the same figure, panel, method, data set, metric, SNR and bandwidth ratio (a paper row
    without one stands alone)."""
    def key(r: ResultRow) -> tuple:
        return (r.figure, r.panel, r.method, r.dataset, r.metric)

    ours: dict[tuple, list[ResultRow]] = defaultdict(list)
    for r in rows:
        if r.source == "ours":
            ours[key(r)].append(r)
    out = []
    for p in rows:
        if p.source != "paper":
            continue
        match = [o for o in ours.get(key(p), ()) if _same(o.snr_db, p.snr_db)
                 and _same(o.bandwidth_ratio, p.bandwidth_ratio)]
        for o in match or [None]:
            out.append(Comparison(panel=p.panel, method=p.method, dataset=p.dataset, metric=p.metric,
                                  snr_db=p.snr_db, bandwidth_ratio=p.bandwidth_ratio, paper=p.value,
                                  ours=None if o is None else o.value, matched=o is not None,
                                  paper_reason=str(p.extra.get("reason") or ""),
                                  ours_reason="" if o is None else str(o.extra.get("reason") or "")))
    return out


def row_counts(rows: Sequence[ResultRow]) -> dict[str, int]:
    """``{"ours": n, "paper": n}``: how many of ``rows`` are ours and how many the paper's."""
    return {s: sum(r.source == s for r in rows) for s in ("ours", "paper")}
