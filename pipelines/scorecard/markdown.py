"""The scorecard as Markdown tables: the same content as the HTML page, for reading in a
repository browser or a terminal."""
from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pipelines.scorecard.model import REGENERATED, STATUSES, FigureCard, Scorecard
from pipelines.scorecard.text import (
    COMPARISON_HEADER,
    FILE_LABELS,
    FINDINGS_NOTE,
    LEGEND,
    finding_count,
    git_line,
    link,
    make_command,
    no_figures,
    no_paper_values,
    problems,
    run_ids,
    sha,
    summary_counts,
    values,
    verdict,
    wall,
    with_stale,
)


def _md(text: Any) -> str:
    """A Markdown table cell: pipes escaped, one line."""
    return re.sub(r"\s*\n\s*", " ", str(text)).replace("\\", "\\\\").replace("|", "\\|")


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return lines + [""]


def render_markdown(card: Scorecard, out: str | os.PathLike, root: str | os.PathLike) -> str:
    """The page for ``card`` as Markdown tables; links are relative to the folder of ``out`` (the
    Markdown file), paths in ``card`` relative to ``root``."""
    out_dir, root = Path(out).resolve().parent, Path(root).resolve()
    m = ["# Replication scorecard", "",
         f"Profile **{card.profile_name}**, sha256 `{card.profile_sha256}`; repository at `{card.commit}`"
         + (" with uncommitted changes" if card.dirty else "") + ".", "", "## Summary", ""]
    rows = []
    for paper in card.papers:
        c = summary_counts(paper)
        if not paper.figures:
            rows.append([f"[{paper.id}](#{paper.id})", paper.title, no_figures(paper), *[""] * (len(STATUSES) + 2)])
        else:
            rows.append([f"[{paper.id}](#{paper.id})", paper.title, c["figures"], *[c[s] for s in STATUSES],
                         with_stale(c["hold"], c["stale_hold"]), with_stale(c["not"], c["stale_not"])])
    m += _table(["paper", "title", "figures and tables", *STATUSES, "findings hold", "findings do not hold"], rows)
    m += [FINDINGS_NOTE, ""]
    m += _table(["status", "meaning"], [[f"**{s}**", t] for s, t in LEGEND])
    for paper in card.papers:
        m += [f'<a id="{paper.id}"></a>', "", f"## {paper.id}: {paper.title}", ""]
        if not paper.figures:
            m += [f"*{no_figures(paper)}*", ""]
            continue
        overview = [[f"[{fig.label}](#{fig.anchor})", f"**{fig.status}**", "; ".join(problems(fig) + fig.reasons),
                     finding_count(fig)] for fig in paper.figures]
        m += _table(["figure", "status", "why", "findings"], overview)
        for fig in paper.figures:
            m += _figure_markdown(card, fig, out_dir, root)
    return "\n".join(m).rstrip("\n") + "\n"


def _figure_markdown(card: Scorecard, fig: FigureCard, out_dir: Path, root: Path) -> list[str]:
    m = [f'<a id="{fig.anchor}"></a>', "", f"### {fig.label}: {fig.status}", ""]
    if fig.thumb:
        m += [f"[![first page of {fig.files['pdf']}]({link(fig.thumb, out_dir, root)})]"
              f"({link(fig.files['pdf'], out_dir, root)})", ""]
    files = " · ".join(f"[{label}]({link(fig.files[k], out_dir, root)})"
                       for k, label in FILE_LABELS if k in fig.present) or "none"
    rows = [["status", fig.status]]
    rows += [["unreadable", fig.errors[k]] for k in ("json", "csv", "pdf", "thumb") if k in fig.errors]
    rows += [["why", r] for r in fig.reasons]
    rows += [["files", files], ["stage", f"`{fig.stage}`"]]
    if fig.status != REGENERATED:
        rows.append(["make it", f"`{make_command(card, fig)}`"])
    prov = fig.provenance
    if prov is not None:
        prof = prov.get("profile") or {}
        ids = run_ids(prov)
        rows += [["profile", f"{prof.get('name') or 'unnamed'}, sha256 `{sha(prof.get('sha256'))}`"],
                 ["git commit", f"`{git_line(prov)}`"],
                 ["written", f"{prov.get('created_utc') or 'unrecorded'}, {wall(prov)}"],
                 ["MLflow runs", ", ".join(f"`{r}`" for r in ids) if ids else "none recorded"]]
    m += _table(["", ""], rows)
    if prov is not None:
        m += [f"{fig.findings_heading}:", ""]
        if fig.findings:
            m += _table(["finding", "on our run", "measured"],
                        [[f.claim, f"**{verdict(f.holds)}**", f.detail] for f in fig.findings])
        else:
            m += ["*none recorded in the JSON*", ""]
    if "csv" in fig.present:
        m += ["Our numbers beside the paper's:", ""]
        if "csv" in fig.errors:
            m += [f"unreadable: {_md(fig.errors['csv'])}", ""]
        elif fig.comparisons:
            m += _table(COMPARISON_HEADER, [[c.panel, c.method, c.dataset, c.metric, *values(c)]
                                            for c in fig.comparisons])
        else:
            m += [f"*{no_paper_values(fig)}*", ""]
    return m
