"""The replication scorecard: one static page saying, paper by paper, which figures and tables
were regenerated, which are stale against the current profile or code, and which were never run;
the paper's findings checked on our run; our numbers beside the ones the paper prints.

    python -m pipelines.scorecard --profile mini --out reports/index.html

writes ``reports/index.html``, ``reports/index.md`` beside it (the same content as Markdown
tables) and ``reports/thumbs/<paper>-<figure>.png`` (each PDF's first page).  It reads only the
stage list, the figures' provenance JSONs, results CSVs and PDFs
(``reports/<paper>/<figure>.{json,csv,pdf}``), the modification times of the outputs of the
stages upstream of each figure, and git.  It never runs a stage.

A figure is

* **regenerated** when its JSON was written with the current profile, no code it depends on
  changed since the commit the JSON records, and no upstream output is newer than the JSON;
* **stale** otherwise, with every reason: the JSON's profile sha256 differs from the current
  profile's; a code dependency of its stage or of any stage upstream of it (a stage's ``deps``
  that are not another stage's ``outs``; the profile file itself is judged by its sha256) differs
  between the recorded commit and the working tree (committed since, uncommitted or untracked);
  an upstream stage's output is newer than the JSON;
* **not yet run** when it has no JSON;
* **unreadable** when its JSON, CSV or PDF cannot be read (the reason is on the page).

The page is deterministic for the same inputs (no clock), uses relative links only and needs no
script or external asset, so it works from ``file://`` and from any static server.
"""
from __future__ import annotations

import argparse
import html
import json
import math
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jscc_core.profiles import ProfileError
from jscc_core.results import ResultRow, read_results_csv

__all__ = ["Finding", "Comparison", "FigureCard", "PaperCard", "Scorecard", "paper_titles",
           "collect", "render_thumbnail", "render_html", "render_markdown", "write_scorecard", "main"]

REGENERATED, STALE, NOT_RUN, UNREADABLE = "regenerated", "stale", "not yet run", "unreadable"
STATUSES = (REGENERATED, STALE, NOT_RUN, UNREADABLE)
THUMB_WIDTH = 640  # pixels of a thumbnail's width (shown at half that, sharp on high-density screens)
_LISTED = 6  # file names listed in one staleness reason before "and N more"
_FIGURE_PDF = re.compile(r"^reports/([^/]+)/([^/]+)\.pdf$")


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Finding:
    """One of the paper's findings checked on our run (``holds`` None: the JSON gives no verdict)."""

    claim: str
    holds: bool | None
    detail: str


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
    def findings_counted(self) -> bool:
        """Whether this figure's findings enter the counts of the current run."""
        return self.status == REGENERATED


@dataclass
class PaperCard:
    """One paper: its id, title, how many stages it has and its figures in order."""

    id: str
    title: str
    stages: int
    figures: list[FigureCard]

    def count(self, status: str) -> int:
        return sum(f.status == status for f in self.figures)

    def findings(self, holds: bool, stale: bool = False) -> int:
        """Findings that hold (``holds``) or not, on regenerated figures (on stale ones if ``stale``)."""
        return sum(1 for f in self.figures if (f.status == STALE if stale else f.findings_counted)
                   for x in f.findings if x.holds is holds)


@dataclass
class Scorecard:
    """Everything the page shows; built by :func:`collect`."""

    profile_ref: str
    profile_name: str
    profile_sha256: str
    commit: str
    dirty: bool | None
    papers: list[PaperCard]


def figure_label(figure: str) -> str:
    """``fig08`` -> ``Fig. 8``, ``table2`` -> ``Table 2``; anything else as it is."""
    m = re.fullmatch(r"(fig|table)0*(\d+)([a-z]?)", figure)
    if not m:
        return figure
    return f"{'Fig.' if m.group(1) == 'fig' else 'Table'} {m.group(2)}{m.group(3)}"


def _natural(text: str) -> tuple:
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.findall(r"\d+|\D+", text))


def _figure_order(figure: str) -> tuple:
    kind = 0 if figure.startswith("fig") else 1 if figure.startswith("table") else 2
    return (kind, _natural(figure))


# --------------------------------------------------------------------------- papers and stages


def paper_titles() -> dict[str, str]:
    """``{paper id: title}`` in the registry's order: its ``PAPERS`` when it lists them, else its
    ``PIPELINES`` that are papers (``paper`` true; shared baselines are not)."""
    from pipelines import registry

    entries = getattr(registry, "PAPERS", None)
    if entries is None:
        entries = [p for p in registry.PIPELINES if _field(p, "paper", True)]
    return {str(_field(e, "id")): str(_field(e, "title")) for e in entries}


def _field(entry: Any, name: str, default: Any = None) -> Any:
    return entry.get(name, default) if isinstance(entry, Mapping) else getattr(entry, name, default)


def _outs(stage) -> tuple[str, ...]:
    return tuple(str(o).rstrip("/") for o in stage.outs)


def _deps(stage) -> tuple[str, ...]:
    return tuple(str(d).rstrip("/") for d in stage.deps)


def _stage_paper(stage) -> str | None:
    paper = getattr(stage, "paper", None)
    if paper:
        return str(paper)
    for out in _outs(stage):
        m = re.match(r"^reports/([^/]+)/", out)
        if m:
            return m.group(1)
    return None


def figure_stages(stages: Iterable) -> list[tuple[str, str, Any]]:
    """``(paper id, figure id, stage)`` for every ``reports/<paper>/<figure>.pdf`` among the outs
    of ``stages`` (objects with ``name``, ``deps``, ``outs``); short copies ``reports/<figure>.pdf``
    are not figures of their own."""
    found = []
    for stage in stages:
        for out in _outs(stage):
            m = _FIGURE_PDF.match(out)
            if m:
                found.append((m.group(1), m.group(2), stage))
    return sorted(found, key=lambda t: (t[0], _figure_order(t[1])))


class StageGraph:
    """Which stage writes which path, and the stages upstream of a stage.

    ``stages``: objects with ``name``, ``deps`` and ``outs`` (repo-relative; a folder out may end
    in ``/``).  A dep is produced by a stage that writes it, a folder holding it, or files inside
    it (a dep that is a folder of outputs).
    """

    def __init__(self, stages: Iterable):
        self.stages = list(stages)
        self._writes: dict[str, list] = defaultdict(list)
        self._below: dict[str, list] = defaultdict(list)
        for stage in self.stages:
            for out in _outs(stage):
                self._writes[out].append(stage)
                parts = out.split("/")
                for i in range(1, len(parts)):
                    self._below["/".join(parts[:i])].append(stage)

    def producers(self, dep: str) -> list:
        """Stages writing ``dep`` (repo-relative file or folder)."""
        dep = dep.rstrip("/")
        found = list(self._writes.get(dep, ())) + list(self._below.get(dep, ()))
        parts = dep.split("/")
        for i in range(1, len(parts)):
            found += self._writes.get("/".join(parts[:i]), ())
        unique = {id(s): s for s in found}
        return sorted(unique.values(), key=lambda s: s.name)

    def upstream(self, stage) -> list:
        """Every stage whose outputs ``stage`` reads, directly or through other stages, by name."""
        seen: dict[int, Any] = {}
        todo = [stage]
        while todo:
            current = todo.pop()
            for dep in _deps(current):
                for producer in self.producers(dep):
                    if producer is not stage and id(producer) not in seen:
                        seen[id(producer)] = producer
                        todo.append(producer)
        return sorted(seen.values(), key=lambda s: s.name)

    def code_deps(self, stage, exclude: Iterable[str] = ()) -> list[str]:
        """Deps of ``stage`` and of its upstream stages that no stage writes (code, configuration,
        data supplied from outside), less ``exclude`` and paths outside the repository."""
        skip = {e.rstrip("/") for e in exclude}
        deps = set()
        for st in (stage, *self.upstream(stage)):
            for dep in _deps(st):
                if dep in skip or os.path.isabs(dep) or dep.startswith("../") or self.producers(dep):
                    continue
                deps.add(dep)
        return sorted(deps)


# --------------------------------------------------------------------------- git


class GitError(RuntimeError):
    """git cannot answer (no repository, unknown commit, no git)."""


class GitChanges:
    """Files of the repository at ``root`` that differ from a recorded commit."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._since: dict[str, dict[str, str] | GitError] = {}
        self._local: dict[str, str] | GitError | None = None

    def _git(self, *args: str) -> str:
        try:
            r = subprocess.run(["git", *args], cwd=self.root, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as exc:
            raise GitError(f"git {args[0]} failed: {exc}") from exc
        if r.returncode != 0:
            raise GitError(r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"git {args[0]} failed")
        return r.stdout

    def _names(self, *args: str) -> list[str]:
        return [n for n in self._git(*args, "-z").split("\0") if n]

    def head(self) -> tuple[str, bool | None]:
        """(HEAD commit, whether tracked files have uncommitted changes)."""
        try:
            commit = self._git("rev-parse", "--verify", "HEAD").strip()
        except GitError:
            return "unknown", None
        try:
            return commit, any(how == "uncommitted" for how in self.local().values())
        except GitError:
            return commit, None

    def local(self) -> dict[str, str]:
        """``{path: "uncommitted" | "untracked"}`` of the working tree against HEAD."""
        if self._local is None:
            try:
                changed = {p: "uncommitted" for p in self._names("diff", "--name-only", "--no-renames",
                                                                 "--relative", "HEAD")}
                changed.update({p: "untracked" for p in self._names("ls-files", "--others", "--exclude-standard")})
                self._local = changed
            except GitError as exc:
                self._local = exc
        if isinstance(self._local, GitError):
            raise self._local
        return self._local

    def since(self, commit: str) -> dict[str, str]:
        """``{path: how}`` of every file whose working-tree state differs from ``commit``; ``how``
        is "uncommitted", "untracked" or "committed since <commit>".  Raises :class:`GitError`."""
        if commit not in self._since:
            try:
                if not re.fullmatch(r"[0-9a-fA-F]{7,64}", commit or ""):
                    raise GitError(f"the recorded commit {commit!r} is not a commit id")
                try:
                    self._git("cat-file", "-e", f"{commit}^{{commit}}")
                except GitError as exc:
                    raise GitError(f"the recorded commit {commit[:12]} is not in this repository") from exc
                local = self.local()
                changed = {p: local.get(p, f"committed since {commit[:12]}")
                           for p in self._names("diff", "--name-only", "--no-renames", "--relative", commit)}
                changed.update({p: how for p, how in local.items() if how == "untracked"})
                self._since[commit] = changed
            except GitError as exc:
                self._since[commit] = exc
        result = self._since[commit]
        if isinstance(result, GitError):
            raise result
        return result


def _under(path: str, dep: str) -> bool:
    return path == dep or path.startswith(dep + "/")


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_LISTED])
    return shown + (f" and {len(items) - _LISTED} more" if len(items) > _LISTED else "")


# --------------------------------------------------------------------------- reading a figure


def _mtime_ns(path: Path) -> int | None:
    """Newest modification time of a file, or of the files below a folder (None: absent)."""
    try:
        if path.is_dir():
            times = [p.stat().st_mtime_ns for p in path.rglob("*") if p.is_file()]
            return max(times) if times else None
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _read_provenance(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
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


def _findings(prov: Mapping) -> list[Finding]:
    extra = prov.get("extra") if isinstance(prov.get("extra"), Mapping) else {}
    raw = extra.get("findings") or []
    if not isinstance(raw, list):
        raise ValueError(f"extra.findings is a {type(raw).__name__}, not a list")
    found = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise ValueError(f"a finding is a {type(item).__name__}, not an object")
        holds = item.get("holds")
        found.append(Finding(claim=str(item.get("claim", "")), holds=holds if isinstance(holds, bool) else None,
                             detail="" if item.get("detail") is None else str(item.get("detail"))))
    return found


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def pair_rows(rows: Sequence[ResultRow]) -> list[Comparison]:
    """Every ``source = paper`` row of ``rows`` beside the ``source = ours`` rows of the same figure,
    panel, method, data set, metric, SNR and bandwidth ratio (a paper row without one stands alone)."""
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


def _why(exc: Exception, root: Path, rel: str) -> str:
    """``rel: <what went wrong>`` without absolute paths (and without naming ``rel`` twice)."""
    text = (str(exc).strip() or type(exc).__name__).replace(f"{root}{os.sep}", "")
    return f"{rel}: {text[len(rel) + 2:] if text.startswith(rel + ': ') else text}"


def _inspect(card: FigureCard, stage, graph: StageGraph, git: GitChanges, root: Path, profile,
             profile_files: Sequence[str], mtimes: dict[str, int | None]) -> None:
    """Fill ``card`` from the figure's files and decide its status (``mtimes``: the outputs' times
    read so far, shared by the figures)."""
    for ext, rel in card.files.items():
        if (root / rel).is_file():
            card.present.add(ext)
    if "json" not in card.present:
        card.status = NOT_RUN
        card.reasons = [f"no provenance JSON ({card.files['json']})"]
        return
    json_path = root / card.files["json"]
    try:
        card.provenance = _read_provenance(json_path)
        card.findings = _findings(card.provenance)
    except (OSError, ValueError) as exc:
        card.errors["json"] = _why(exc, root, card.files["json"])
        card.provenance = card.provenance if isinstance(card.provenance, dict) else None
    if "csv" in card.present:
        try:
            rows = read_results_csv(root / card.files["csv"])
            card.rows = {s: sum(r.source == s for r in rows) for s in ("ours", "paper")}
            card.comparisons = pair_rows(rows)
        except Exception as exc:  # any failure to parse is reported on the page
            card.errors["csv"] = _why(exc, root, card.files["csv"])
    else:
        card.errors["csv"] = f"{card.files['csv']} is missing"
    if "pdf" not in card.present:
        card.errors["pdf"] = f"{card.files['pdf']} is missing"

    if "json" in card.errors:
        card.status = UNREADABLE
        return
    prov = card.provenance or {}
    reasons = []
    recorded = (prov.get("profile") or {}).get("sha256")
    if recorded != profile.sha256:
        name = (prov.get("profile") or {}).get("name") or "an unnamed profile"
        made = str(recorded)[:12] if recorded else "unrecorded"
        reasons.append(f"profile changed: made with {name} (sha256 {made}), the current profile is "
                       f"{profile.name} (sha256 {str(profile.sha256)[:12]})")
    commit = str((prov.get("git") or {}).get("commit") or "unknown")
    code = graph.code_deps(stage, exclude=profile_files)
    try:
        changed = git.since(commit)
        hits = sorted(p for p in changed if any(_under(p, d) for d in code))
        if hits:
            ran_dirty = (prov.get("git") or {}).get("dirty") is True
            reasons.append(f"code changed since {commit[:12]}: "
                           + _listing([f"{p} ({changed[p]})" for p in hits])
                           + ("; the run itself had uncommitted changes" if ran_dirty else ""))
    except GitError as exc:
        reasons.append(f"code changes cannot be checked: {exc}")
    json_time = _mtime_ns(json_path) or 0
    for out in (o for st in graph.upstream(stage) for o in _outs(st)):
        if out not in mtimes:
            mtimes[out] = _mtime_ns(root / out)
    newer = sorted({out for st in graph.upstream(stage) for out in _outs(st)
                    if mtimes[out] is not None and mtimes[out] > json_time})
    if newer:
        reasons.append("upstream output newer than the figure's JSON: " + _listing(newer))
    card.reasons = reasons
    if card.errors.get("csv") or card.errors.get("pdf"):
        card.status = UNREADABLE
    else:
        card.status = STALE if reasons else REGENERATED


def collect(stages: Iterable, profile, root: str | os.PathLike, *, profile_ref: str | None = None,
            titles: Mapping[str, str] | None = None) -> Scorecard:
    """Read every figure's files and decide its status.

    ``stages``: the stage list (objects with ``name``, ``deps``, ``outs`` and optionally ``paper``);
    ``profile``: the current profile (``name``, ``sha256``; ``path`` and ``sources`` name its files,
    which are judged by the sha256 rather than by git); ``root``: the folder the stage paths are
    relative to (a git work tree); ``profile_ref``: how the profile is named on a command line
    (default its name); ``titles``: ``{paper id: title}`` in page order (default
    :func:`paper_titles`).
    """
    root = Path(root).resolve()
    stages = list(stages)
    titles = dict(titles if titles is not None else paper_titles())
    graph = StageGraph(stages)
    git = GitChanges(root)
    profile_files = []
    for p in (getattr(profile, "path", None), *(getattr(profile, "sources", None) or ())):
        if p:
            try:
                profile_files.append(Path(p).resolve().relative_to(root).as_posix())
            except ValueError:
                pass
    per_paper: dict[str, list[FigureCard]] = defaultdict(list)
    mtimes: dict[str, int | None] = {}
    for paper, figure, stage in figure_stages(stages):
        files = {ext: f"reports/{paper}/{figure}.{ext}" for ext in ("pdf", "csv", "json")}
        card = FigureCard(paper=paper, figure=figure, stage=stage.name, files=files)
        _inspect(card, stage, graph, git, root, profile, profile_files, mtimes)
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


# --------------------------------------------------------------------------- thumbnails


def render_thumbnail(pdf: str | os.PathLike, png: str | os.PathLike, width: int = THUMB_WIDTH) -> tuple[int, int]:
    """Render the first page of ``pdf`` to the PNG file ``png``, ``width`` pixels wide; returns
    (width, height) of the image.  Raises ``ImportError`` without pypdfium2, ``ValueError`` for a
    PDF that cannot be rendered."""
    import pypdfium2 as pdfium

    try:
        doc = pdfium.PdfDocument(str(pdf))
    except pdfium.PdfiumError as exc:
        raise ValueError(f"not a readable PDF ({exc})") from exc
    try:
        if len(doc) == 0:
            raise ValueError("the PDF has no page")
        page = doc[0]
        page_width, _ = page.get_size()
        bitmap = page.render(scale=width / page_width)
        image = bitmap.to_pil().convert("RGB")
        bitmap.close()
        page.close()
    finally:
        doc.close()
    _atomic_write(Path(png), lambda fh: image.save(fh, format="PNG", optimize=True))
    return image.size


def _thumbnails(card: Scorecard, root: Path, thumbs: Path) -> None:
    for paper in card.papers:
        for fig in paper.figures:
            if "pdf" not in fig.present:
                continue
            png = thumbs / f"{fig.paper}-{fig.figure}.png"
            try:
                fig.thumb_size = render_thumbnail(root / fig.files["pdf"], png)
                fig.thumb = png.as_posix()
            except ImportError:
                fig.errors["thumb"] = "no thumbnail: pypdfium2 is not installed"
            except Exception as exc:  # a PDF that cannot be rendered is reported on the page
                fig.errors["thumb"] = _why(exc, root, fig.files["pdf"])
                if fig.status != NOT_RUN:
                    fig.errors["pdf"] = fig.errors["thumb"]
                    fig.status = UNREADABLE


# --------------------------------------------------------------------------- shared formatting


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _num(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "n/a"
    if math.isnan(x):
        return "nan"
    return f"{x:+.4g}" if signed else f"{x:.4g}"


def _value(x: float | None, reason: str) -> str:
    return f"n/a ({reason})" if x is None and reason else _num(x)


def _values(c: Comparison) -> list[str]:
    """The SNR, R, paper, ours and gap cells of a comparison."""
    return ["" if c.snr_db is None else _num(c.snr_db), "" if c.bandwidth_ratio is None else _num(c.bandwidth_ratio),
            _value(c.paper, c.paper_reason), _value(c.ours, c.ours_reason) if c.matched else "no row of ours", _gap(c)]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _gap(c: Comparison) -> str:
    if not c.matched or c.ours is None or c.paper is None:
        return ""
    return _num(c.ours - c.paper, signed=True)


def _verdict(holds: bool | None) -> str:
    return "holds" if holds is True else "does not hold" if holds is False else "no verdict"


def _sha(value: Any) -> str:
    return str(value) if value else "unrecorded"


def _git_line(prov: Mapping) -> str:
    git = prov.get("git") or {}
    dirty = git.get("dirty")
    return f"{_sha(git.get('commit'))}" + (" (with uncommitted changes)" if dirty is True else "")


def _wall(prov: Mapping) -> str:
    parts = []
    wall = prov.get("wall_time_s")
    if isinstance(wall, (int, float)):
        parts.append(f"{wall:.1f} s for the figure")
    extra = prov.get("extra") if isinstance(prov.get("extra"), Mapping) else {}
    stage_time = extra.get("stage_time_s")
    if isinstance(stage_time, (int, float)):
        parts.append(f"{stage_time:.0f} s with every stage behind it")
    return ", ".join(parts) or "unrecorded"


def _run_ids(prov: Mapping) -> list[str]:
    ids = prov.get("mlflow_run_ids") or []
    return [str(i) for i in ids] if isinstance(ids, list) else [str(ids)]


def _make_command(card: Scorecard, fig: FigureCard) -> str:
    return f"snakemake {shlex.quote(fig.files['pdf'])} --config profile={shlex.quote(card.profile_ref)}"


def _summary_counts(paper: PaperCard) -> dict[str, Any]:
    stale_hold, stale_not = paper.findings(True, stale=True), paper.findings(False, stale=True)
    return {
        "figures": len(paper.figures),
        **{s: paper.count(s) for s in STATUSES},
        "hold": paper.findings(True), "not": paper.findings(False),
        "stale_hold": stale_hold, "stale_not": stale_not,
    }


def _with_stale(n: int, stale: int) -> str:
    return f"{n} (+{stale} on stale figures)" if stale else str(n)


def _link(target: str, out_dir: Path, root: Path) -> str:
    """Relative URL of the repo-relative (or absolute) path ``target`` from ``out_dir``."""
    path = Path(target) if os.path.isabs(target) else root / target
    return quote(Path(os.path.relpath(path, out_dir)).as_posix())


_LEGEND = (
    (REGENERATED, "made with the current profile and code; nothing it reads is newer"),
    (STALE, "made with another profile, or code it depends on changed since its commit, or an output "
            "upstream of it is newer"),
    (NOT_RUN, "no provenance JSON yet"),
    (UNREADABLE, "its JSON, CSV or PDF cannot be read"),
)


# --------------------------------------------------------------------------- HTML

_CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f6f8fa;color:#1f2328;
 font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1200px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:26px;margin:0 0 6px}
h2{font-size:20px;margin:32px 0 4px;padding-top:8px;border-top:2px solid #d0d7de}
h2 .pid{font:600 13px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:#57606a;margin-right:6px}
h3{font-size:17px;margin:0 0 6px}
h4{font-size:14px;margin:14px 0 6px}
a{color:#0550ae}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;word-break:break-all}
.meta{color:#57606a;margin:0 0 4px}
.sub{color:#57606a;font-size:12px;max-width:360px}
table{border-collapse:collapse;background:#fff;margin:6px 0 10px}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f3f6;font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.wide{width:100%}
.badge{display:inline-block;padding:1px 9px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap}
.s-regenerated{background:#dafbe1;color:#116329}
.s-stale{background:#fff1c2;color:#7d4e00}
.s-not-yet-run{background:#eaeef2;color:#57606a}
.s-unreadable{background:#ffebe9;color:#a40e26}
.holds{color:#116329;font-weight:600;white-space:nowrap}
.does-not-hold{color:#a40e26;font-weight:600;white-space:nowrap}
.no-verdict{color:#57606a;white-space:nowrap}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:16px 18px;margin:14px 0}
.head{display:flex;gap:18px;align-items:flex-start}
.thumb{flex:0 0 auto;width:320px}
.thumb img{display:block;width:320px;height:auto;border:1px solid #d0d7de;background:#fff}
.nothumb{width:320px;height:150px;border:1px dashed #d0d7de;color:#57606a;display:flex;align-items:center;
 justify-content:center;text-align:center;padding:8px;font-size:12px}
.info{flex:1 1 auto;min-width:0}
.info table th{width:130px}
.reasons{margin:4px 0 8px;padding-left:20px}
.error{color:#a40e26}
.empty{color:#57606a;font-style:italic}
details summary{cursor:pointer;color:#0550ae}
ul.ids{margin:4px 0;padding-left:20px;columns:2}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _badge(status: str) -> str:
    return f'<span class="badge s-{status.replace(" ", "-")}">{_e(status)}</span>'


def _verdict_html(holds: bool | None) -> str:
    v = _verdict(holds)
    return f'<span class="{v.replace(" ", "-")}">{_e(v)}</span>'


def _figure_html(card: Scorecard, fig: FigureCard, out_dir: Path, root: Path) -> list[str]:
    h = [f'<article class="card" id="{_e(fig.anchor)}">', '<div class="head">']
    if fig.thumb and fig.thumb_size:
        w, hgt = fig.thumb_size
        h.append(f'<div class="thumb"><a href="{_link(fig.files["pdf"], out_dir, root)}">'
                 f'<img src="{_link(fig.thumb, out_dir, root)}" width="{THUMB_WIDTH // 2}" '
                 f'height="{round(hgt * THUMB_WIDTH / 2 / w)}" alt="first page of {_e(fig.files["pdf"])}"></a></div>')
    elif fig.status != NOT_RUN or "pdf" in fig.present:
        text = fig.errors.get("thumb") or f"{fig.files['pdf']} is missing"
        h.append(f'<div class="thumb"><div class="nothumb">{_e(text)}</div></div>')
    h += ['<div class="info">', f'<h3>{_e(fig.label)} {_badge(fig.status)}</h3>']
    problems = [f"unreadable: {fig.errors[k]}" for k in ("json", "csv", "pdf") if k in fig.errors]
    if problems or fig.reasons:
        h.append('<ul class="reasons">')
        h += [f'<li class="error">{_e(p)}</li>' for p in problems]
        h += [f"<li>{_e(r)}</li>" for r in fig.reasons]
        h.append("</ul>")
    rows = [("files", " · ".join(f'<a href="{_link(fig.files[k], out_dir, root)}">{label}</a>'
                                for k, label in (("pdf", "PDF"), ("csv", "CSV"), ("json", "provenance JSON"))
                                if k in fig.present) or '<span class="empty">none</span>'),
            ("stage", f"<code>{_e(fig.stage)}</code>")]
    if fig.status != REGENERATED:
        rows.append(("make it", f"<code>{_e(_make_command(card, fig))}</code>"))
    prov = fig.provenance
    if prov is not None:
        prof = prov.get("profile") or {}
        run_ids = _run_ids(prov)
        sha = _sha(prof.get("sha256"))
        rows += [("profile", f"{_e(prof.get('name') or 'unnamed')} · sha256 <code>{_e(sha)}</code>"),
                 ("git commit", f"<code>{_e(_git_line(prov))}</code>"),
                 ("written", f"{_e(prov.get('created_utc') or 'unrecorded')} · {_e(_wall(prov))}")]
        if run_ids:
            items = "".join(f"<li><code>{_e(r)}</code></li>" for r in run_ids)
            rows.append(("MLflow runs", f'<details><summary>{len(run_ids)} run{"s" if len(run_ids) != 1 else ""}'
                                        f'</summary><ul class="ids">{items}</ul></details>'))
        else:
            rows.append(("MLflow runs", '<span class="empty">none recorded</span>'))
    h.append("<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>")
    h += ["</div>", "</div>"]
    if prov is not None:
        h.append("<h4>The paper's findings on this run</h4>")
        if fig.findings:
            h.append('<table class="wide"><tr><th>finding</th><th>on our run</th><th>measured</th></tr>')
            h += [f"<tr><td>{_e(f.claim)}</td><td>{_verdict_html(f.holds)}</td><td>{_e(f.detail)}</td></tr>"
                  for f in fig.findings]
            h.append("</table>")
        else:
            h.append('<p class="empty">none recorded in the JSON</p>')
    if "csv" in fig.present:
        h.append("<h4>Our numbers beside the paper's</h4>")
        if "csv" in fig.errors:
            h.append(f'<p class="error">unreadable: {_e(fig.errors["csv"])}</p>')
        elif fig.comparisons:
            h.append('<table class="wide"><tr><th>panel</th><th>method</th><th>data set</th><th>metric</th>'
                     '<th>SNR (dB)</th><th>R</th><th>paper</th><th>ours</th><th>ours − paper</th></tr>')
            for c in fig.comparisons:
                cells = [_e(c.panel), _e(c.method), _e(c.dataset), _e(c.metric)]
                h.append("<tr>" + "".join(f"<td>{x}</td>" for x in cells)
                         + "".join(f'<td class="n">{_e(x)}</td>' for x in _values(c)) + "</tr>")
            h.append("</table>")
        else:
            h.append(f'<p class="empty">the CSV has no values printed in the paper '
                     f'({_plural(fig.rows.get("ours", 0), "row")} of ours)</p>')
    h.append("</article>")
    return h


def render_html(card: Scorecard, out: str | os.PathLike, root: str | os.PathLike) -> str:
    """The page for ``card`` as HTML text; links are relative to ``out``'s folder, paths in
    ``card`` relative to ``root``."""
    out_dir, root = Path(out).resolve().parent, Path(root).resolve()
    h = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
         '<meta name="viewport" content="width=device-width, initial-scale=1">',
         "<title>Replication scorecard</title>", f"<style>{_CSS}</style>", "</head>", "<body>", "<main>",
         "<h1>Replication scorecard</h1>",
         f'<p class="meta">profile <b>{_e(card.profile_name)}</b> · sha256 <code>{_e(card.profile_sha256)}</code></p>',
         f'<p class="meta">repository at <code>{_e(card.commit)}</code>'
         + (" with uncommitted changes" if card.dirty else "") + "</p>",
         "<h2>Summary</h2>",
         '<table class="wide"><tr><th>paper</th><th>figures and tables</th>'
         + "".join(f"<th>{_e(s)}</th>" for s in STATUSES)
         + "<th>findings hold</th><th>findings do not hold</th></tr>"]
    for paper in card.papers:
        c = _summary_counts(paper)
        name = f'<a href="#{_e(paper.id)}">{_e(paper.id)}</a><div class="sub">{_e(paper.title)}</div>'
        if not paper.figures:
            h.append(f'<tr><td>{name}</td><td colspan="{len(STATUSES) + 3}" class="empty">'
                     f"{_e(_no_figures(paper))}</td></tr>")
            continue
        h.append(f"<tr><td>{name}</td><td class=\"n\">{c['figures']}</td>"
                 + "".join(f'<td class="n">{c[s]}</td>' for s in STATUSES)
                 + f'<td class="n">{_e(_with_stale(c["hold"], c["stale_hold"]))}</td>'
                 + f'<td class="n">{_e(_with_stale(c["not"], c["stale_not"]))}</td></tr>')
    h.append("</table>")
    h.append('<p class="meta">Findings are counted on regenerated figures; those of stale figures come from an '
             "older run and are shown in brackets.</p>")
    h.append("<table>" + "".join(f"<tr><td>{_badge(s)}</td><td>{_e(t)}</td></tr>" for s, t in _LEGEND) + "</table>")
    for paper in card.papers:
        h += [f'<section id="{_e(paper.id)}">',
              f'<h2><span class="pid">{_e(paper.id)}</span>{_e(paper.title)}</h2>']
        if not paper.figures:
            h += [f'<p class="empty">{_e(_no_figures(paper))}</p>', "</section>"]
            continue
        h.append('<table class="wide"><tr><th>figure</th><th>status</th><th>why</th><th>findings</th></tr>')
        for fig in paper.figures:
            why = [f"unreadable: {fig.errors[k]}" for k in ("json", "csv", "pdf") if k in fig.errors] + fig.reasons
            holds = sum(f.holds is True for f in fig.findings)
            h.append(f'<tr><td><a href="#{_e(fig.anchor)}">{_e(fig.label)}</a></td><td>{_badge(fig.status)}</td>'
                     f"<td>{'<br>'.join(_e(w) for w in why) if why else ''}</td>"
                     f"<td>{_e(_finding_count(fig, holds))}</td></tr>")
        h.append("</table>")
        for fig in paper.figures:
            h += _figure_html(card, fig, out_dir, root)
        h.append("</section>")
    h += ["</main>", "</body>", "</html>", ""]
    return "\n".join(h)


def _no_figures(paper: PaperCard) -> str:
    if paper.stages == 0:
        return "no stages yet"
    return f"no figure or table stages yet ({paper.stages} other stage{'s' if paper.stages != 1 else ''})"


def _finding_count(fig: FigureCard, holds: int) -> str:
    if fig.provenance is None:
        return ""
    return f"{holds} of {len(fig.findings)} hold" if fig.findings else "none recorded"


# --------------------------------------------------------------------------- Markdown


def _md(text: Any) -> str:
    """A Markdown table cell: pipes escaped, one line."""
    return re.sub(r"\s*\n\s*", " ", str(text)).replace("\\", "\\\\").replace("|", "\\|")


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return lines + [""]


def render_markdown(card: Scorecard, out: str | os.PathLike, root: str | os.PathLike) -> str:
    """The page for ``card`` as Markdown tables; links are relative to ``out``'s folder, paths in
    ``card`` relative to ``root``."""
    out_dir, root = Path(out).resolve().parent, Path(root).resolve()
    m = ["# Replication scorecard", "",
         f"Profile **{card.profile_name}**, sha256 `{card.profile_sha256}`; repository at `{card.commit}`"
         + (" with uncommitted changes" if card.dirty else "") + ".", "", "## Summary", ""]
    rows = []
    for paper in card.papers:
        c = _summary_counts(paper)
        if not paper.figures:
            rows.append([f"[{paper.id}](#{paper.id})", paper.title, _no_figures(paper), *[""] * (len(STATUSES) + 2)])
        else:
            rows.append([f"[{paper.id}](#{paper.id})", paper.title, c["figures"], *[c[s] for s in STATUSES],
                         _with_stale(c["hold"], c["stale_hold"]), _with_stale(c["not"], c["stale_not"])])
    m += _table(["paper", "title", "figures and tables", *STATUSES, "findings hold", "findings do not hold"], rows)
    m += ["Findings are counted on regenerated figures; those of stale figures come from an older run "
          "and are shown in brackets.", ""]
    m += _table(["status", "meaning"], [[f"**{s}**", t] for s, t in _LEGEND])
    for paper in card.papers:
        m += [f'<a id="{paper.id}"></a>', "", f"## {paper.id}: {paper.title}", ""]
        if not paper.figures:
            m += [f"*{_no_figures(paper)}*", ""]
            continue
        overview = []
        for fig in paper.figures:
            why = [f"unreadable: {fig.errors[k]}" for k in ("json", "csv", "pdf") if k in fig.errors] + fig.reasons
            holds = sum(f.holds is True for f in fig.findings)
            overview.append([f"[{fig.label}](#{fig.anchor})", f"**{fig.status}**", "; ".join(why),
                             _finding_count(fig, holds)])
        m += _table(["figure", "status", "why", "findings"], overview)
        for fig in paper.figures:
            m += _figure_markdown(card, fig, out_dir, root)
    return "\n".join(m).rstrip("\n") + "\n"


def _figure_markdown(card: Scorecard, fig: FigureCard, out_dir: Path, root: Path) -> list[str]:
    m = [f'<a id="{fig.anchor}"></a>', "", f"### {fig.label}: {fig.status}", ""]
    if fig.thumb:
        m += [f"[![first page of {fig.files['pdf']}]({_link(fig.thumb, out_dir, root)})]"
              f"({_link(fig.files['pdf'], out_dir, root)})", ""]
    files = " · ".join(f"[{label}]({_link(fig.files[k], out_dir, root)})"
                       for k, label in (("pdf", "PDF"), ("csv", "CSV"), ("json", "provenance JSON"))
                       if k in fig.present) or "none"
    rows = [["status", fig.status]]
    rows += [["unreadable", fig.errors[k]] for k in ("json", "csv", "pdf", "thumb") if k in fig.errors]
    rows += [["why", r] for r in fig.reasons]
    rows += [["files", files], ["stage", f"`{fig.stage}`"]]
    if fig.status != REGENERATED:
        rows.append(["make it", f"`{_make_command(card, fig)}`"])
    prov = fig.provenance
    if prov is not None:
        prof = prov.get("profile") or {}
        run_ids = _run_ids(prov)
        rows += [["profile", f"{prof.get('name') or 'unnamed'}, sha256 `{_sha(prof.get('sha256'))}`"],
                 ["git commit", f"`{_git_line(prov)}`"],
                 ["written", f"{prov.get('created_utc') or 'unrecorded'}, {_wall(prov)}"],
                 ["MLflow runs", ", ".join(f"`{r}`" for r in run_ids) if run_ids else "none recorded"]]
    m += _table(["", ""], rows)
    if prov is not None:
        m += ["The paper's findings on this run:", ""]
        if fig.findings:
            m += _table(["finding", "on our run", "measured"],
                        [[f.claim, f"**{_verdict(f.holds)}**", f.detail] for f in fig.findings])
        else:
            m += ["*none recorded in the JSON*", ""]
    if "csv" in fig.present:
        m += ["Our numbers beside the paper's:", ""]
        if "csv" in fig.errors:
            m += [f"unreadable: {_md(fig.errors['csv'])}", ""]
        elif fig.comparisons:
            m += _table(["panel", "method", "data set", "metric", "SNR (dB)", "R", "paper", "ours", "ours − paper"],
                        [[c.panel, c.method, c.dataset, c.metric, *_values(c)] for c in fig.comparisons])
        else:
            m += [f"*the CSV has no values printed in the paper ({_plural(fig.rows.get('ours', 0), 'row')} of ours)*",
                  ""]
    return m


# --------------------------------------------------------------------------- writing


def write_scorecard(stages: Iterable, profile, out: str | os.PathLike, root: str | os.PathLike, *,
                    profile_ref: str | None = None, titles: Mapping[str, str] | None = None) -> Scorecard:
    """Build the scorecard and write ``out`` (HTML), the Markdown beside it (``.md``) and the
    thumbnails in ``thumbs/`` beside it.

    ``stages``: the stage list; ``profile``: the current profile; ``out``: the HTML file to write;
    ``root``: the folder stage paths are relative to; ``profile_ref``, ``titles``: see :func:`collect`.
    """
    out, root = Path(out).absolute(), Path(root).resolve()
    card = collect(stages, profile, root, profile_ref=profile_ref, titles=titles)
    _thumbnails(card, root, out.parent / "thumbs")
    page = render_html(card, out, root).encode("utf-8")
    text = render_markdown(card, out, root).encode("utf-8")
    _atomic_write(out, lambda fh: fh.write(page))
    _atomic_write(out.with_suffix(".md"), lambda fh: fh.write(text))
    return card


def main(argv: list[str] | None = None) -> int:
    from pipelines.profile import REPO_ROOT, load
    from pipelines.stages import all_stages

    parser = argparse.ArgumentParser(prog="python -m pipelines.scorecard", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default=None,
                        help="profile name or YAML path whose figures are judged (default $JSCC_PROFILE or mini)")
    parser.add_argument("--out", default="reports/index.html",
                        help="HTML file to write; the .md and thumbs/ go beside it (default reports/index.html)")
    args = parser.parse_args(argv)
    ref = args.profile or os.environ.get("JSCC_PROFILE", "mini")
    try:
        profile = load(ref)
    except (ProfileError, OSError) as exc:
        print(f"scorecard: cannot read profile {ref!r}: {exc}", file=sys.stderr)
        return 2
    stages = all_stages(ref)
    card = write_scorecard(stages, profile, args.out, REPO_ROOT, profile_ref=ref)
    out = Path(args.out)
    summary = "; ".join(
        f"{p.id}: " + (", ".join(f"{p.count(s)} {s}" for s in STATUSES if p.count(s)) or _no_figures(p))
        for p in card.papers)
    print(f"wrote {out} and {out.with_suffix('.md')} ({summary})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
