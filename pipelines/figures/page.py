"""The page of a figure or table: a matplotlib figure, its footer (profile, commit, notes and
findings in words) and the one writer of its three files (results contract):

* ``<name>.csv`` -- one ``ResultRow`` per plotted or tabulated number (``write_results_csv``);
* ``<name>.json`` -- provenance (``write_provenance``) with the run keys, the summed stage time,
  the findings (``extra.findings``) and the page's notes;
* ``<name>.pdf`` -- the page, carrying the provenance summary in its metadata (``save_figure``).

Pages are ``matplotlib.figure.Figure`` objects made by :func:`new_figure`, never through pyplot:
no GUI backend is ever selected (rendering is Agg's, PDF output the pdf backend's) and there is
no global figure state to close.
"""
from __future__ import annotations

import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from matplotlib.figure import Figure

from jscc_core.results import ResultRow, save_figure, write_provenance, write_results_csv
from pipelines.figures.findings import Finding, findings_json, page_notes


def new_figure(width_in: float, height_in: float) -> Figure:
    """An empty page of ``width_in`` x ``height_in`` inches; add axes with ``fig.subplots``."""
    return Figure(figsize=(width_in, height_in))


def _commit_line(profile, git: dict) -> str:
    """"profile P, commit C" (with uncommitted changes, if any) from the provenance's git state."""
    line = f"profile {profile.name}, commit {str(git.get('commit', 'unknown'))[:12]}"
    return line + (" with uncommitted changes" if git.get("dirty") is True else "")


def footer(fig: Figure, first_line: str, notes: Sequence[str], fontsize: float = 6.0) -> float:
    """Write ``first_line`` and the notes (one per line, wrapped to the page's width) under the
    axes, growing the figure's height to fit them; returns the fraction of the height they take."""
    width, height = fig.get_size_inches()
    chars = max(40, int(width * 72 / (0.56 * fontsize)))
    lines = [textwrap.fill(n, chars, subsequent_indent="  ") for n in (first_line, *notes) if n]
    n_lines = sum(line.count("\n") + 1 for line in lines)
    text_h = (n_lines * 1.3 * fontsize + 8) / 72
    fig.set_figheight(height + text_h)
    fig.text(0.01, 0.005, "\n".join(lines), fontsize=fontsize, va="bottom", ha="left", linespacing=1.3)
    return text_h / (height + text_h)


def write_page(fig: Figure, out_pdf: Path | str, rows: Sequence[ResultRow], profile, *, name: str,
               findings: Sequence[Finding], notes: Sequence[str], run_ids: Sequence[str], run_keys: dict,
               data_checksums: dict, stage_time_s: float, started: float,
               layout: Callable[[float], None] | None = None, **extra) -> dict:
    """Write ``out_pdf`` and the CSV and JSON beside it; returns the provenance.

    ``name``: the page's name in the provenance (e.g. "NTSCC fig11"); ``findings``: the paper's
    claims checked on ``rows``, written first on the footer and in ``extra.findings``; ``notes``:
    the page's other remarks (empty ones dropped); ``run_ids``: MLflow runs behind the page;
    ``run_keys``: {run key: MLflow run id}; ``stage_time_s``: summed wall time of the stages the
    page reads (its own time is added); ``started``: ``time.perf_counter()`` when the page began;
    ``layout(bottom)``: places the axes above the footer, which takes the fraction ``bottom`` of
    the height (default: ``tight_layout`` above it); ``extra``: more provenance entries."""
    out_pdf = Path(out_pdf)
    out_pdf.parent.mkdir(parents=True, exist_ok=True)
    notes = page_notes(findings) + [n for n in notes if n]
    write_results_csv(rows, out_pdf.with_suffix(".csv"))
    spent = time.perf_counter() - started
    prov = write_provenance(
        out_pdf.with_suffix(".json"), profile=profile, data_checksums=data_checksums,
        mlflow_run_ids=[r for r in run_ids if r], wall_time_s=spent, seed=int(profile["seed"]),
        extra={"figure": name, "run_keys": run_keys, "stage_time_s": round(stage_time_s + spent, 3),
               "findings": findings_json(findings), "notes": notes, **extra})
    bottom = footer(fig, _commit_line(profile, prov["git"]), notes)
    if layout is None:
        fig.tight_layout(rect=(0, bottom, 1, 1))
    else:
        layout(bottom)
    save_figure(fig, out_pdf, prov)
    return prov
