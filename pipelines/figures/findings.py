"""A paper's claims checked on our points: the ``Finding`` type, the generic checks, and how
findings appear on the page (one note each) and in the provenance JSON (``extra.findings``,
written by :func:`findings_json` and read back by :func:`read_findings`).

Each check says what was measured (the gap, the BD value, ...) in ``detail``, whether the claim
holds or not, so a miss on a small profile is stated in words, never hidden.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pipelines.figures.curves import Series, gaps

GROWTH_TOL_DB = 0.1  # a gap "grows with CBR" if its linear fit rises by more than this across the CBRs
MISSING = "a curve is missing from the inputs"


@dataclass(frozen=True)
class Finding:
    """``claim`` (the paper's statement, in its words), whether it ``holds`` on our points, and
    the measured ``detail``; unpacks as (claim, holds, detail).  ``holds`` is None only for a
    finding read from a JSON that gives no verdict."""

    claim: str
    holds: bool | None
    detail: str

    def __post_init__(self):
        if self.holds is not None:
            object.__setattr__(self, "holds", bool(self.holds))

    def __iter__(self) -> Iterator:
        return iter((self.claim, self.holds, self.detail))

    @property
    def note(self) -> str:
        """The finding as a line of the page's footer."""
        verdict = "NO VERDICT" if self.holds is None else "HOLDS" if self.holds else "DOES NOT HOLD"
        return f"{verdict}: {self.claim} ({self.detail})"


def above(claim: str, test: Series | None, ref: Series | None, unit: str = "dB") -> Finding:
    """``test``'s envelope above ``ref``'s at every CBR where both have points (``curves.gaps``)."""
    if test is None or ref is None:
        return Finding(claim, False, MISSING)
    g = gaps(test, ref)
    if not g:
        return Finding(claim, False, f"no CBR where both curves have points ({test.method} {test.cbr_range()}, "
                                     f"{ref.method} {ref.cbr_range()})")
    worst = min(g, key=lambda t: t[1])
    detail = (f"gap {min(v for _, v in g):+.2f} to {max(v for _, v in g):+.2f} {unit} at {len(g)} CBRs in "
              f"[{g[0][0]:.4f}, {g[-1][0]:.4f}]")
    if worst[1] <= 0:
        detail += f"; below at CBR {worst[0]:.4f}"
    return Finding(claim, worst[1] > 0, detail)


def growing(claim: str, test: Series | None, ref: Series | None, unit: str = "dB",
            tol: float = GROWTH_TOL_DB) -> Finding:
    """The gap of ``test`` over ``ref`` grows with CBR: its least-squares line rises by more than
    ``tol`` across the CBRs where both have points."""
    if test is None or ref is None:
        return Finding(claim, False, MISSING)
    g = gaps(test, ref)
    if len(g) < 2:
        return Finding(claim, False, f"needs the gap at 2 CBRs or more, have {len(g)}")
    x, y = np.array(g).T
    rise = float(np.polyfit(x, y, 1)[0] * (x[-1] - x[0]))  # fitted change of the gap across the CBRs
    return Finding(claim, rise > tol, f"gap {y[0]:+.2f} {unit} at CBR {x[0]:.4f} -> {y[-1]:+.2f} {unit} at "
                                      f"{x[-1]:.4f}; fitted rise {rise:+.2f} {unit}, holds above {tol:g} {unit}")


def bd_negative(claim: str, result: dict | None) -> Finding:
    """A BD-CBR below zero (a bandwidth saving); ``result`` from ``bd_compare.bd_against``."""
    if result is None:
        return Finding(claim, False, MISSING)
    v = result["bd_cbr"]
    if v is None:
        return Finding(claim, False, f"{result['bd_cbr_reason']}: {result['bd_cbr_detail']}")
    return Finding(claim, v < 0, f"BD-CBR {v:+.2f}%")


def page_notes(findings: Sequence[Finding]) -> list[str]:
    """One footer line per finding: "HOLDS: claim (detail)" or "DOES NOT HOLD: ..."."""
    return [f.note for f in findings]


def findings_json(findings: Sequence[Finding]) -> list[dict]:
    """The provenance JSON's ``findings`` list: {"claim", "holds", "detail"} per finding."""
    return [{"claim": f.claim, "holds": f.holds, "detail": f.detail} for f in findings]


def read_findings(items: object, where: str = "findings") -> list[Finding]:
    """The findings of a provenance JSON's ``findings`` list (``items``, as :func:`findings_json`
    writes it); a ``holds`` that is not true or false reads as None (no verdict).  ``where`` names
    the list in the ValueError raised when it is not a list of objects."""
    if not isinstance(items, list):
        raise ValueError(f"{where} is a {type(items).__name__}, not a list")
    found = []
    for item in items:
        if not isinstance(item, Mapping):
            raise ValueError(f"a finding is a {type(item).__name__}, not an object")
        holds, detail = item.get("holds"), item.get("detail")
        found.append(Finding(str(item.get("claim", "")), holds if isinstance(holds, bool) else None,
                             "" if detail is None else str(detail)))
    return found
