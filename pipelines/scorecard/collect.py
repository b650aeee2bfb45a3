"""Building the scorecard: the papers and their titles, the figure stages, each figure's JSON,
CSV and PDF read, and its status decided (the reasons come from :mod:`.status`)."""
from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from jscc_core.profiles import Profile
from jscc_core.results import read_results_csv
from pipelines.figures.evals import read_record
from pipelines.figures.findings import Finding, read_findings
from pipelines.scorecard.compare import pair_rows, row_counts
from pipelines.scorecard.model import (
    NOT_RUN,
    REGENERATED,
    STALE,
    UNREADABLE,
    FigureCard,
    PaperCard,
    Scorecard,
    figure_order,
)
from pipelines.scorecard.status import (
    GitChanges,
    StageGraph,
    profile_files,
    stale_reasons,
    unreadable_reason,
)
from pipelines.stage import SIDECARS, Stage, figure_outs

_FIGURE_PDF = re.compile(r"^reports/([^/]+)/([^/]+)\.pdf$")


def paper_titles() -> dict[str, str]:
    """``{paper id: title}`` of the registry's papers (``paper`` true; shared baselines are not),
    in its order."""
    from pipelines.registry import PIPELINES  # loads every paper's stage module: only when asked

    return {p.id: p.title for p in PIPELINES if p.paper}


def _stage_paper(stage: Stage) -> str | None:
    """The paper a stage belongs to: its registry entry, else the folder under reports/ it writes."""
    if stage.pipeline:
        return stage.pipeline
    for out in stage.out_paths:
        m = re.match(r"^reports/([^/]+)/", out)
        if m:
            return m.group(1)
    return None


def figure_stages(stages: Iterable[Stage]) -> list[tuple[str, str, Stage]]:
    """``(paper id, figure id, stage)`` for every ``reports/<paper>/<figure>.pdf`` among the outs
    of ``stages``, in page order; short copies ``reports/<figure>.pdf`` are not figures of their own."""
    found = []
    for stage in stages:
        for out in stage.out_paths:
            m = _FIGURE_PDF.match(out)
            if m:
                found.append((m.group(1), m.group(2), stage))
    return sorted(found, key=lambda t: (t[0], figure_order(t[1])))


def read_provenance(path: Path) -> dict:
    """The provenance JSON at ``path``; a ValueError says why it is not one."""
    try:
        data = read_record(path, "provenance JSON")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text ({exc.reason})") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"a provenance file holds a JSON object, this one holds a {type(data).__name__}")
    for key in ("profile", "git"):
        if key in data and not isinstance(data[key], dict):
            raise ValueError(f"'{key}' is a {type(data[key]).__name__}, not an object")
    return data


def provenance_findings(provenance: Mapping) -> list[Finding]:
    """The findings a provenance JSON records (``extra.findings``; none recorded: empty)."""
    extra = provenance.get("extra") if isinstance(provenance.get("extra"), Mapping) else {}
    return read_findings(extra.get("findings") or [], "extra.findings")


def _inspect(card: FigureCard, stage: Stage, graph: StageGraph, git: GitChanges, root: Path, profile: Profile,
             skip: Sequence[str], mtimes: dict[str, int | None]) -> None:
    """Fill ``card`` from the figure's files and decide its status (``skip``, ``mtimes``: see
    :func:`.status.stale_reasons`)."""
    for ext, rel in card.files.items():
        if (root / rel).is_file():
            card.present.add(ext)
    if "json" not in card.present:
        card.status = NOT_RUN
        card.reasons = [f"no provenance JSON ({card.files['json']})"]
        return
    json_path = root / card.files["json"]
    try:
        card.provenance = read_provenance(json_path)
        card.findings = provenance_findings(card.provenance)
    except (OSError, ValueError) as exc:
        card.errors["json"] = unreadable_reason(exc, root, card.files["json"])
        card.provenance = card.provenance if isinstance(card.provenance, dict) else None
    if "csv" in card.present:
        try:
            rows = read_results_csv(root / card.files["csv"])
            card.rows = row_counts(rows)
            card.comparisons = pair_rows(rows)
        except Exception as exc:  # any failure to parse is reported on the page
            card.errors["csv"] = unreadable_reason(exc, root, card.files["csv"])
    else:
        card.errors["csv"] = f"{card.files['csv']} is missing"
    if "pdf" not in card.present:
        card.errors["pdf"] = f"{card.files['pdf']} is missing"

    if "json" in card.errors:
        card.status = UNREADABLE
        return
    card.reasons = stale_reasons(card.provenance or {}, stage, json_path, profile=profile, graph=graph, git=git,
                                 root=root, skip=skip, mtimes=mtimes)
    if card.errors.get("csv") or card.errors.get("pdf"):
        card.status = UNREADABLE
    else:
        card.status = STALE if card.reasons else REGENERATED


def collect(stages: Iterable[Stage], profile: Profile, root: str | os.PathLike, *, profile_ref: str | None = None,
            titles: Mapping[str, str] | None = None) -> Scorecard:
    """Read every figure's files and decide its status.

    ``stages``: the stage list; ``profile``: the current profile (its ``path`` and ``sources`` are
    judged by its sha256 rather than by git); ``root``: the folder the stage paths are relative to
    (a git work tree); ``profile_ref``: how the profile is named on a command line (default its
    name); ``titles``: ``{paper id: title}`` in page order (default :func:`paper_titles`).
    """
    root = Path(root).resolve()
    stages = list(stages)
    titles = dict(titles if titles is not None else paper_titles())
    graph = StageGraph(stages)
    git = GitChanges(root)
    skip = profile_files(profile, root)
    per_paper: dict[str, list[FigureCard]] = defaultdict(list)
    mtimes: dict[str, int | None] = {}
    for paper, figure, stage in figure_stages(stages):
        files = dict(zip(SIDECARS, figure_outs(paper, figure)))
        card = FigureCard(paper=paper, figure=figure, stage=stage.name, files=files)
        _inspect(card, stage, graph, git, root, profile, skip, mtimes)
        per_paper[paper].append(card)
    counts: dict[str, int] = defaultdict(int)
    for stage in stages:
        counts[_stage_paper(stage) or ""] += 1
    order = list(titles) + sorted(p for p in per_paper if p not in titles)
    papers = [PaperCard(id=p, title=titles.get(p, p), stages=counts.get(p, 0), figures=per_paper.get(p, []))
              for p in order]
    commit, dirty = git.head()
    return Scorecard(profile_ref=profile_ref or profile.name, profile_name=profile.name,
                     profile_sha256=str(profile.sha256), commit=commit, dirty=dirty, papers=papers)
