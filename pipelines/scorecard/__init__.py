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

* **regenerated** when its JSON was written with the current values of the profile keys it
  reads, no code it depends on changed since the commit the JSON records, and no upstream
  output is newer than the JSON;
* **stale** otherwise, with every reason: a profile key that its stage or a stage upstream of it
  declares has another value than in the profile the JSON records (rebuilt from git at the
  recorded commit; when it cannot be rebuilt, e.g. it was not committed, any difference of the
  profile's sha256 counts); a code dependency of its stage or of any stage upstream of it (a
  stage's ``deps`` that are not another stage's ``outs``; the profile files are judged by their
  keys, not by git) differs between the recorded commit and the working tree (committed since,
  uncommitted or untracked);
  an upstream stage's output is newer than the JSON;
* **not yet run** when it has no JSON;
* **unreadable** when its JSON, CSV or PDF cannot be read (the reason is on the page).

The page is deterministic for the same inputs (no clock), uses relative links only and needs no
script or external asset, so it works from ``file://`` and from any static server.

| module | job |
| --- | --- |
| `model` | the cards: a figure's, a paper's, the whole scorecard's, and the four statuses |
| `status` | why a figure is stale: the stage graph, git's changes since the recorded commit, output times |
| `compare` | the paper's printed values paired with ours at the same operating point |
| `collect` | the papers (from the registry) and their figure stages; each figure read and judged |
| `text` | the words and numbers both renderings show |
| `html`, `markdown` | the page, and the same content as Markdown tables |
| `thumbs` | first-page thumbnails of the PDFs |
| `write` | the three outputs written, each replaced whole |
| `__main__` | the command line |
"""
from __future__ import annotations

from pipelines.scorecard.collect import collect, paper_titles
from pipelines.scorecard.html import render_html
from pipelines.scorecard.markdown import render_markdown
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
from pipelines.scorecard.thumbs import render_thumbnail
from pipelines.scorecard.write import write_scorecard

__all__ = ["REGENERATED", "STALE", "NOT_RUN", "UNREADABLE", "STATUSES", "Comparison", "FigureCard", "PaperCard",
           "Scorecard", "paper_titles", "collect", "render_thumbnail", "render_html", "render_markdown",
           "write_scorecard"]
