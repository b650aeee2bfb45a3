"""The scorecard as one HTML page: a summary per paper, then a card per figure with its
thumbnail, status and reasons, provenance, findings and the paper's numbers beside ours.  No
script and no external asset; links are relative."""
from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

from pipelines.scorecard.model import NOT_RUN, REGENERATED, STATUSES, FigureCard, Scorecard
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
from pipelines.scorecard.thumbs import THUMB_WIDTH

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
    v = verdict(holds)
    return f'<span class="{v.replace(" ", "-")}">{_e(v)}</span>'


def _figure_html(card: Scorecard, fig: FigureCard, out_dir: Path, root: Path) -> list[str]:
    h = [f'<article class="card" id="{_e(fig.anchor)}">', '<div class="head">']
    if fig.thumb and fig.thumb_size:
        w, hgt = fig.thumb_size
        h.append(f'<div class="thumb"><a href="{link(fig.files["pdf"], out_dir, root)}">'
                 f'<img src="{link(fig.thumb, out_dir, root)}" width="{THUMB_WIDTH // 2}" '
                 f'height="{round(hgt * THUMB_WIDTH / 2 / w)}" alt="first page of {_e(fig.files["pdf"])}"></a></div>')
    elif fig.status != NOT_RUN or "pdf" in fig.present:
        text = fig.errors.get("thumb") or f"{fig.files['pdf']} is missing"
        h.append(f'<div class="thumb"><div class="nothumb">{_e(text)}</div></div>')
    h += ['<div class="info">', f'<h3>{_e(fig.label)} {_badge(fig.status)}</h3>']
    unreadable = problems(fig)
    if unreadable or fig.reasons:
        h.append('<ul class="reasons">')
        h += [f'<li class="error">{_e(p)}</li>' for p in unreadable]
        h += [f"<li>{_e(r)}</li>" for r in fig.reasons]
        h.append("</ul>")
    rows = [("files", " · ".join(f'<a href="{link(fig.files[k], out_dir, root)}">{label}</a>'
                                for k, label in FILE_LABELS if k in fig.present) or '<span class="empty">none</span>'),
            ("stage", f"<code>{_e(fig.stage)}</code>")]
    if fig.status != REGENERATED:
        rows.append(("make it", f"<code>{_e(make_command(card, fig))}</code>"))
    prov = fig.provenance
    if prov is not None:
        prof = prov.get("profile") or {}
        ids, digest = run_ids(prov), sha(prof.get("sha256"))
        rows += [("profile", f"{_e(prof.get('name') or 'unnamed')} · sha256 <code>{_e(digest)}</code>"),
                 ("git commit", f"<code>{_e(git_line(prov))}</code>"),
                 ("written", f"{_e(prov.get('created_utc') or 'unrecorded')} · {_e(wall(prov))}")]
        if ids:
            items = "".join(f"<li><code>{_e(r)}</code></li>" for r in ids)
            rows.append(("MLflow runs", f'<details><summary>{len(ids)} run{"s" if len(ids) != 1 else ""}'
                                        f'</summary><ul class="ids">{items}</ul></details>'))
        else:
            rows.append(("MLflow runs", '<span class="empty">none recorded</span>'))
    h.append("<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>")
    h += ["</div>", "</div>"]
    if prov is not None:
        h.append(f"<h4>{fig.findings_heading}</h4>")
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
            h.append('<table class="wide"><tr>' + "".join(f"<th>{_e(x)}</th>" for x in COMPARISON_HEADER) + "</tr>")
            for c in fig.comparisons:
                cells = [_e(c.panel), _e(c.method), _e(c.dataset), _e(c.metric)]
                h.append("<tr>" + "".join(f"<td>{x}</td>" for x in cells)
                         + "".join(f'<td class="n">{_e(x)}</td>' for x in values(c)) + "</tr>")
            h.append("</table>")
        else:
            h.append(f'<p class="empty">{_e(no_paper_values(fig))}</p>')
    h.append("</article>")
    return h


def render_html(card: Scorecard, out: str | os.PathLike, root: str | os.PathLike) -> str:
    """The page for ``card`` as HTML text; links are relative to the folder of ``out`` (the HTML
    file), paths in ``card`` relative to ``root``."""
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
        c = summary_counts(paper)
        name = f'<a href="#{_e(paper.id)}">{_e(paper.id)}</a><div class="sub">{_e(paper.title)}</div>'
        if not paper.figures:
            h.append(f'<tr><td>{name}</td><td colspan="{len(STATUSES) + 3}" class="empty">'
                     f"{_e(no_figures(paper))}</td></tr>")
            continue
        h.append(f"<tr><td>{name}</td><td class=\"n\">{c['figures']}</td>"
                 + "".join(f'<td class="n">{c[s]}</td>' for s in STATUSES)
                 + f'<td class="n">{_e(with_stale(c["hold"], c["stale_hold"]))}</td>'
                 + f'<td class="n">{_e(with_stale(c["not"], c["stale_not"]))}</td></tr>')
    h.append("</table>")
    h.append(f'<p class="meta">{_e(FINDINGS_NOTE)}</p>')
    h.append("<table>" + "".join(f"<tr><td>{_badge(s)}</td><td>{_e(t)}</td></tr>" for s, t in LEGEND) + "</table>")
    for paper in card.papers:
        h += [f'<section id="{_e(paper.id)}">',
              f'<h2><span class="pid">{_e(paper.id)}</span>{_e(paper.title)}</h2>']
        if not paper.figures:
            h += [f'<p class="empty">{_e(no_figures(paper))}</p>', "</section>"]
            continue
        h.append('<table class="wide"><tr><th>figure</th><th>status</th><th>why</th><th>findings</th></tr>')
        for fig in paper.figures:
            why = problems(fig) + fig.reasons
            h.append(f'<tr><td><a href="#{_e(fig.anchor)}">{_e(fig.label)}</a></td><td>{_badge(fig.status)}</td>'
                     f"<td>{'<br>'.join(_e(w) for w in why) if why else ''}</td>"
                     f"<td>{_e(finding_count(fig))}</td></tr>")
        h.append("</table>")
        for fig in paper.figures:
            h += _figure_html(card, fig, out_dir, root)
        h.append("</section>")
    h += ["</main>", "</body>", "</html>", ""]
    return "\n".join(h)
