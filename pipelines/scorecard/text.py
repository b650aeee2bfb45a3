"""The words and numbers the HTML page and its Markdown both show: numbers, verdicts, the
provenance lines, the summary counts, the legend and relative links."""
from __future__ import annotations

import math
import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pipelines.scorecard.model import (
    NOT_RUN,
    REGENERATED,
    STALE,
    STATUSES,
    UNREADABLE,
    Comparison,
    FigureCard,
    PaperCard,
    Scorecard,
)

LEGEND = (
    (REGENERATED, "made with the current profile and code; nothing it reads is newer"),
    (STALE, "made with another profile, or code it depends on changed since its commit, or an output "
            "upstream of it is newer"),
    (NOT_RUN, "no provenance JSON yet"),
    (UNREADABLE, "its JSON, CSV or PDF cannot be read"),
)
FINDINGS_NOTE = ("Findings are counted on regenerated figures; those of stale figures come from an older run "
                 "and are shown in brackets.")
FILE_LABELS = (("pdf", "PDF"), ("csv", "CSV"), ("json", "provenance JSON"))  # a figure's files, as linked
COMPARISON_HEADER = ("panel", "method", "data set", "metric", "SNR (dB)", "R", "paper", "ours", "ours − paper")


def num(x: float | None, signed: bool = False) -> str:
    """The number ``x`` to 4 significant digits (with its sign if ``signed``); None is "n/a"."""
    if x is None:
        return "n/a"
    if math.isnan(x):
        return "nan"
    return f"{x:+.4g}" if signed else f"{x:.4g}"


def _value(x: float | None, reason: str) -> str:
    return f"n/a ({reason})" if x is None and reason else num(x)


def _gap(c: Comparison) -> str:
    if not c.matched or c.ours is None or c.paper is None:
        return ""
    return num(c.ours - c.paper, signed=True)


def values(c: Comparison) -> list[str]:
    """The SNR, R, paper, ours and gap cells of the comparison ``c``."""
    return ["" if c.snr_db is None else num(c.snr_db), "" if c.bandwidth_ratio is None else num(c.bandwidth_ratio),
            _value(c.paper, c.paper_reason), _value(c.ours, c.ours_reason) if c.matched else "no row of ours", _gap(c)]


def plural(n: int, word: str) -> str:
    """``n`` and ``word``, with an s unless ``n`` is 1."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def verdict(holds: bool | None) -> str:
    """A finding's verdict in words: "holds", "does not hold" or "no verdict" (``holds`` None)."""
    return "holds" if holds is True else "does not hold" if holds is False else "no verdict"


def sha(value: Any) -> str:
    """A recorded hash or commit as text; "unrecorded" when empty."""
    return str(value) if value else "unrecorded"


def git_line(prov: Mapping) -> str:
    """The commit the provenance JSON ``prov`` records, and whether the run had uncommitted changes."""
    git = prov.get("git") or {}
    dirty = git.get("dirty")
    return f"{sha(git.get('commit'))}" + (" (with uncommitted changes)" if dirty is True else "")


def wall(prov: Mapping) -> str:
    """How long the figure (and every stage behind it) took, from the provenance JSON ``prov``."""
    parts = []
    wall_time = prov.get("wall_time_s")
    if isinstance(wall_time, (int, float)):
        parts.append(f"{wall_time:.1f} s for the figure")
    extra = prov.get("extra") if isinstance(prov.get("extra"), Mapping) else {}
    stage_time = extra.get("stage_time_s")
    if isinstance(stage_time, (int, float)):
        parts.append(f"{stage_time:.0f} s with every stage behind it")
    return ", ".join(parts) or "unrecorded"


def run_ids(prov: Mapping) -> list[str]:
    """The MLflow run ids the provenance JSON ``prov`` records."""
    ids = prov.get("mlflow_run_ids") or []
    return [str(i) for i in ids] if isinstance(ids, list) else [str(ids)]


def make_command(card: Scorecard, fig: FigureCard) -> str:
    """The command that makes the figure ``fig`` with the profile of ``card``."""
    return f"snakemake {shlex.quote(fig.files['pdf'])} --config profile={shlex.quote(card.profile_ref)}"


def problems(fig: FigureCard) -> list[str]:
    """"unreadable: <reason>" for each of the JSON, CSV and PDF of ``fig`` that cannot be read."""
    return [f"unreadable: {fig.errors[k]}" for k in ("json", "csv", "pdf") if k in fig.errors]


def finding_count(fig: FigureCard) -> str:
    """"N of M hold" for the findings of ``fig``; empty for a figure without a JSON."""
    if fig.provenance is None:
        return ""
    holds = sum(f.holds is True for f in fig.findings)
    return f"{holds} of {len(fig.findings)} hold" if fig.findings else "none recorded"


def no_paper_values(fig: FigureCard) -> str:
    """What stands in place of the comparison table when the CSV of ``fig`` has no paper rows."""
    return f"the CSV has no values printed in the paper ({plural(fig.rows.get('ours', 0), 'row')} of ours)"


def no_figures(paper: PaperCard) -> str:
    """What stands in place of the figures of ``paper`` when it has none."""
    if paper.stages == 0:
        return "no stages yet"
    return f"no figure or table stages yet ({paper.stages} other stage{'s' if paper.stages != 1 else ''})"


def summary_counts(paper: PaperCard) -> dict[str, Any]:
    """The summary row of ``paper``: figures, one count per status, findings that hold and not
    (``hold``, ``not``) and those of stale figures (``stale_hold``, ``stale_not``)."""
    stale_hold, stale_not = paper.findings(True, stale=True), paper.findings(False, stale=True)
    return {
        "figures": len(paper.figures),
        **{s: paper.count(s) for s in STATUSES},
        "hold": paper.findings(True), "not": paper.findings(False),
        "stale_hold": stale_hold, "stale_not": stale_not,
    }


def with_stale(n: int, stale: int) -> str:
    """A count ``n``, with the ``stale`` figures' count beside it when there are any."""
    return f"{n} (+{stale} on stale figures)" if stale else str(n)


def link(target: str, out_dir: Path, root: Path) -> str:
    """Relative URL of ``target`` (relative to ``root``, or absolute) from the folder ``out_dir``."""
    path = Path(target) if os.path.isabs(target) else root / target
    return quote(Path(os.path.relpath(path, out_dir)).as_posix())
