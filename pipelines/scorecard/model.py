"""What the scorecard knows: the four statuses, a figure's card, a paper's card and the whole
scorecard, with the figure labels and their order on the page."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from pipelines.figures.findings import Finding

REGENERATED, STALE, NOT_RUN, UNREADABLE = "regenerated", "stale", "not yet run", "unreadable"
STATUSES = (REGENERATED, STALE, NOT_RUN, UNREADABLE)


@dataclass(frozen=True)
class Comparison:
    """A value the paper prints beside ours at the same figure, panel, method, data set, metric and
    operating point (``ours`` None: we have no such row)."""

    panel: str
    method: str
    dataset: str
    metric: str
    snr_db: float | None
    bandwidth_ratio: float | None
    paper: float | None
    ours: float | None
    matched: bool
    paper_reason: str = ""  # why a value is missing (the row's extra["reason"])
    ours_reason: str = ""


@dataclass
class FigureCard:
    """What the scorecard knows about one figure or table.  Paths are repo-relative."""

    paper: str
    figure: str
    stage: str
    files: dict[str, str]  # "pdf" / "csv" / "json" -> reports/<paper>/<figure>.<ext>
    status: str = NOT_RUN
    reasons: list[str] = field(default_factory=list)
    provenance: dict | None = None
    findings: list[Finding] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # source -> number of CSV rows
    errors: dict[str, str] = field(default_factory=dict)  # "pdf" / "csv" / "json" / "thumb" -> reason
    present: set[str] = field(default_factory=set)  # which of the three files exist
    thumb: str | None = None  # repo-relative PNG
    thumb_size: tuple[int, int] | None = None

    @property
    def label(self) -> str:
        return figure_label(self.figure)

    @property
    def anchor(self) -> str:
        return f"{self.paper}-{self.figure}"

    @property
    def of_the_paper(self) -> bool:
        """Whether this is one of the paper's figures or tables (else one of the project's diagnostics,
        e.g. ``ntc_rd``, whose findings are the project's checks, not the paper's)."""
        return re.fullmatch(r"(fig|table)\d+[a-z]?", self.figure) is not None

    @property
    def findings_heading(self) -> str:
        return "The paper's findings on this run" if self.of_the_paper else "The project's checks on this run"

    @property
    def findings_counted(self) -> bool:
        """Whether this figure's findings enter the counts of the paper's findings on the current run."""
        return self.status == REGENERATED and self.of_the_paper


@dataclass
class PaperCard:
    """One paper: its id, title, how many stages it has and its figures in order."""

    id: str
    title: str
    stages: int
    figures: list[FigureCard]

    def count(self, status: str) -> int:
        """How many of its figures have ``status`` (one of :data:`STATUSES`)."""
        return sum(f.status == status for f in self.figures)

    def findings(self, holds: bool, stale: bool = False) -> int:
        """Findings that hold (``holds``) or not, on regenerated figures (on stale ones if ``stale``)."""
        return sum(1 for f in self.figures if (f.status == STALE and f.of_the_paper if stale else f.findings_counted)
                   for x in f.findings if x.holds is holds)


@dataclass
class Scorecard:
    """Everything the page shows; built by :func:`pipelines.scorecard.collect.collect`."""

    profile_ref: str
    profile_name: str
    profile_sha256: str
    commit: str
    dirty: bool | None
    papers: list[PaperCard]


_ROMAN = ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))


def _roman(n: int) -> str:
    out = ""
    for value, letters in _ROMAN:
        while n >= value:
            out, n = out + letters, n - value
    return out


def figure_label(figure: str) -> str:
    """As the papers print them: ``fig08`` -> ``Fig. 8``, ``table2`` -> ``Table II`` (Roman up to 39);
    anything else as it is."""
    m = re.fullmatch(r"(fig|table)0*(\d+)([a-z]?)", figure)
    if not m:
        return figure
    if m.group(1) == "fig":
        return f"Fig. {m.group(2)}{m.group(3)}"
    n = int(m.group(2))
    return f"Table {_roman(n) if 0 < n < 40 else n}{m.group(3)}"


def _natural(text: str) -> tuple:
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.findall(r"\d+|\D+", text))


def figure_order(figure: str) -> tuple:
    """Sort key of a figure id (``fig2``, ``fig10``, ``table1``): figures, then tables, then the
    rest, numbers in numeric order."""
    kind = 0 if figure.startswith("fig") else 1 if figure.startswith("table") else 2
    return (kind, _natural(figure))
