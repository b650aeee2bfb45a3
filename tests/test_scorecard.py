"""The replication scorecard built from synthetic figure outputs in a throw-away git repository
(made up here to exercise the page; they are not results): statuses and their reasons, findings,
the paper's numbers beside ours, links, determinism, and the page as a real browser renders it."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from jscc_core.profiles import Profile
from jscc_core.results import ResultRow, save_figure, write_provenance, write_results_csv
from pipelines import scorecard as sc
from pipelines.scorecard.__main__ import main
from pipelines.stage import Stage

TITLES = {"ntscc": "Nonlinear Transform Source-Channel Coding", "gjscc": "Generative JSCC", "dgm": "Deep Generative"}
MAGENTA = "#ff00ff"  # the synthetic PDFs' background; the page itself uses no such colour
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def write(root: Path, rel: str, text: str, age_s: float | None = None) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if age_s is not None:
        t = time.time() - age_s
        os.utime(path, (t, t))
    return path


def figure(root: Path, paper: str, fig: str, profile, rows: list[ResultRow], findings: list[dict]) -> None:
    """A figure's PDF (magenta page), CSV and provenance JSON, as a figure module writes them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pdf = root / "reports" / paper / f"{fig}.pdf"
    write_results_csv(rows, pdf.with_suffix(".csv"))
    prov = write_provenance(pdf.with_suffix(".json"), profile=profile, data_checksums={"kodak": "sha256:1"},
                            mlflow_run_ids=[f"run-{fig}-b", f"run-{fig}-a"], wall_time_s=1.5, seed=1,
                            extra={"figure": f"{paper} {fig}", "findings": findings})
    plot = plt.figure(figsize=(4, 3), facecolor=MAGENTA)
    plot.add_subplot().plot([0, 1], [0, 1])
    save_figure(plot, pdf, prov)
    plt.close(plot)


def fig_stage(fig: str, *deps: str) -> Stage:
    outs = tuple(f"reports/ntscc/{fig}.{ext}" for ext in ("pdf", "csv", "json"))
    return Stage(name=f"ntscc_{fig}", cmd="true", deps=deps, outs=outs)


def psnr(value: float, r: float, source: str = "ours", snr: float = 10.0) -> ResultRow:
    return ResultRow(figure="fig01", panel="a", method="NTSCC", dataset="kodak", snr_db=snr, bandwidth_ratio=r,
                     metric="psnr_db", value=value, run_id="r1" if source == "ours" else "", source=source)


def bd(value: float | None, dataset: str, source: str = "ours", reason: str = "") -> ResultRow:
    return ResultRow(figure="fig01", panel="b", method="NTSCC", dataset=dataset, snr_db=10.0, bandwidth_ratio=None,
                     metric="bd_cbr_percent", value=value, source=source, extra={"reason": reason} if reason else {})


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A repository with a stage list and the outputs of its figures, and the scorecard written twice."""
    root = tmp_path_factory.mktemp("repo")
    git(root, "init", "-q")
    git(root, "config", "user.email", "t@example.org")
    git(root, "config", "user.name", "t")
    write(root, "Snakefile", "")
    for rel in ("code/model.py", "code/eval/run.py", "code/fig.py", "code/fig02.py", "code/model2.py"):
        write(root, rel, f"# {rel}\n")
    write(root, "profiles/t.yaml", "seed: 1\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "code")
    profile = Profile("t", {"seed": 1}, path=root / "profiles" / "t.yaml")
    stages = [
        Stage(name="train", cmd="true", deps=("code/model.py", "profiles/t.yaml"), outs=("results/model.pt",)),
        Stage(name="evaluate", cmd="true", deps=("results/model.pt", "code/eval"), outs=("results/eval.csv",)),
        Stage(name="train2", cmd="true", deps=("code/model2.py",), outs=("results/model2.pt",)),
        Stage(name="evaluate2", cmd="true", deps=("results/model2.pt",), outs=("results/eval2.csv",)),
        Stage(name="maps", cmd="true", deps=("code/fig.py",), outs=("results/maps/",)),
        fig_stage("fig01", "results/eval.csv", "code/fig.py", "profiles/t.yaml"),
        fig_stage("fig02", "results/eval.csv", "code/fig02.py"),
        fig_stage("fig03", "results/eval.csv", "code/fig.py"),
        fig_stage("fig04", "results/eval2.csv", "code/fig.py"),
        fig_stage("fig05", "results/maps", "code/fig.py"),
        fig_stage("fig06", "code/fig.py"),
        fig_stage("table1", "code/fig.py"),
        Stage(name="alias_fig01", cmd="true", deps=tuple(f"reports/ntscc/fig01.{e}" for e in ("pdf", "csv", "json")),
              outs=tuple(f"reports/fig01.{e}" for e in ("pdf", "csv", "json"))),
    ]
    for rel in ("results/model.pt", "results/eval.csv", "results/model2.pt", "results/eval2.csv",
                "results/maps/a.npz"):
        write(root, rel, "x", age_s=600)

    held = [{"claim": "NTSCC beats deep JSCC at R = 1/16", "holds": True, "detail": "+1.2 dB"},
            {"claim": "the gain grows with R", "holds": False, "detail": "-0.3 dB from R = 1/16 to 1/8"}]
    other = {"name": "t", "sha256": "0" * 64, "path": None}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JSCC_REPO_ROOT", str(root))
        figure(root, "ntscc", "fig01", profile,
               [psnr(30.0, 0.0625), psnr(31.0, 0.0625, "paper"), psnr(33.5, 0.125, "paper"),
                psnr(20.0, 0.0625, snr=1.0), psnr(32.0, 0.25), bd(None, "kodak", "paper", "illegible"),
                bd(-12.5, "kodak"), bd(-20.0, "cifar10", "paper"), bd(None, "cifar10", reason="not run")], held)
        figure(root, "ntscc", "fig02", other, [psnr(30.0, 0.0625)], [{"claim": "c", "holds": True, "detail": "d"}])
        figure(root, "ntscc", "fig04", profile, [psnr(30.0, 0.0625)], [{"claim": "c", "holds": False, "detail": "d"}])
        figure(root, "ntscc", "fig05", profile, [psnr(30.0, 0.0625)], [])
        figure(root, "ntscc", "fig06", profile, [psnr(30.0, 0.0625)], [])
        figure(root, "ntscc", "table1", profile, [psnr(30.0, 0.0625)], [])
    write(root, "reports/ntscc/table1.json", '{"schema": "jscc-provenance/1", "git": ')
    write(root, "reports/ntscc/fig06.csv", "figure,value\nfig06,1\n")
    write(root, "code/fig02.py", "# changed and committed\n")
    git(root, "commit", "-q", "-m", "fig02 changed", "--", "code/fig02.py")
    write(root, "code/model2.py", "# changed, not committed\n")
    write(root, "results/maps/a.npz", "newer")  # written after fig05's JSON
    future = time.time() + 5
    os.utime(root / "results/maps/a.npz", (future, future))

    out = root / "reports" / "index.html"
    card = sc.write_scorecard(stages, profile, out, root, profile_ref="t", titles=TITLES)
    first = {p: p.read_bytes() for p in (out, out.with_suffix(".md"), *sorted((out.parent / "thumbs").glob("*.png")))}
    card = sc.write_scorecard(stages, profile, out, root, profile_ref="t", titles=TITLES)
    return {"root": root, "out": out, "card": card, "first": first}


def figures(card) -> dict[str, sc.FigureCard]:
    return {f.figure: f for p in card.papers for f in p.figures}


def test_statuses_and_reasons(site):
    figs = figures(site["card"])
    assert set(figs) == {"fig01", "fig02", "fig03", "fig04", "fig05", "fig06", "table1"}  # no alias copy
    assert {k: f.status for k, f in figs.items()} == {
        "fig01": "regenerated", "fig02": "stale", "fig03": "not yet run", "fig04": "stale", "fig05": "stale",
        "fig06": "unreadable", "table1": "unreadable"}
    assert figs["fig01"].reasons == []
    fig02 = " | ".join(figs["fig02"].reasons)
    assert "profile changed" in fig02 and "000000000000" in fig02
    assert "code/fig02.py (committed since" in fig02
    # two stages upstream: fig04 <- evaluate2 <- train2 <- code/model2.py
    assert any("code changed" in r and "code/model2.py (uncommitted)" in r for r in figs["fig04"].reasons)
    assert len(figs["fig04"].reasons) == 1
    assert figs["fig05"].reasons == ["upstream output newer than the figure's JSON: results/maps"]
    assert "invalid JSON" in figs["table1"].errors["json"]
    assert "columns" in figs["fig06"].errors["csv"]


def test_a_profile_edit_makes_stale_only_the_figures_reading_the_edited_key(tmp_path, monkeypatch):
    """The profile a figure was made with is rebuilt from git at its recorded commit (with the file it
    extends); a figure is stale only when a key its stages declare changed since. A profile that was
    not committed when the figure was made cannot be rebuilt: any change counts."""
    from jscc_core.profiles import load_profile

    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    git(root, "config", "user.email", "t@example.org")
    git(root, "config", "user.name", "t")
    write(root, "profiles/base.yaml", "seed: 1\nblock: {a: 1, b: 2}\n")
    write(root, "profiles/t.yaml", "extends: base.yaml\nother: {c: 1}\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "profiles")
    made_with = load_profile(root / "profiles/t.yaml", {})
    uncommitted = Profile("t", {**made_with.to_dict(), "other": {"c": 5}}, path=root / "profiles/t.yaml")
    monkeypatch.setenv("JSCC_REPO_ROOT", str(root))
    for fig in ("fig01", "fig02", "fig03"):
        figure(root, "ntscc", fig, made_with, [psnr(30.0, 0.0625)], [])
    figure(root, "ntscc", "fig04", uncommitted, [psnr(30.0, 0.0625)], [])
    write(root, "profiles/base.yaml", "seed: 1\nblock: {a: 1, b: 3}\n")  # edits block.b alone
    git(root, "commit", "-q", "-am", "block.b")
    now = load_profile(root / "profiles/t.yaml", {})

    def staged(fig, *params, deps=()):
        outs = tuple(f"reports/ntscc/{fig}.{ext}" for ext in ("pdf", "csv", "json"))
        return Stage(name=f"ntscc_{fig}", cmd="true", deps=deps, outs=outs, params=params)

    stages = [Stage(name="train", cmd="true", deps=(), outs=("results/model.pt",), params=("block.b",)),
              staged("fig01", "block.a", "other"), staged("fig02", "block"),
              staged("fig03", "block.a", deps=("results/model.pt",)), staged("fig04", "block.a")]
    write(root, "results/model.pt", "x", age_s=600)
    figs = figures(sc.write_scorecard(stages, now, root / "reports/index.html", root, profile_ref="t", titles=TITLES))
    assert figs["fig01"].status == "regenerated" and figs["fig01"].reasons == []
    assert figs["fig02"].reasons == [f"profile keys it reads changed since it was made with t (sha256 "
                                     f"{made_with.sha256[:12]}): block"]
    assert figs["fig03"].reasons[0].endswith("): block.b")  # read by the stage upstream of it
    assert len(figs["fig04"].reasons) == 1 and figs["fig04"].reasons[0].startswith("profile changed: made with t")
    from pipelines.scorecard.status import GitChanges, recorded_profile

    commit = git(root, "rev-parse", "HEAD").strip()  # a recorded path outside the repository is never read
    for path in ("../t.yaml", "profiles/../../t.yaml", str(root / "profiles/t.yaml")):
        assert recorded_profile({"profile": {"path": path, "sha256": now.sha256}, "git": {"commit": commit}},
                                GitChanges(root)) is None
    assert recorded_profile({"profile": {"path": "profiles/t.yaml", "sha256": now.sha256}, "git": {"commit": commit}},
                            GitChanges(root)).sha256 == now.sha256


def test_findings_and_paper_numbers(site):
    card = site["card"]
    figs = figures(card)
    assert [(f.claim, f.holds, f.detail) for f in figs["fig01"].findings] == [
        ("NTSCC beats deep JSCC at R = 1/16", True, "+1.2 dB"), ("the gain grows with R", False,
                                                                 "-0.3 dB from R = 1/16 to 1/8")]
    pairs = [(c.panel, c.dataset, c.bandwidth_ratio, c.paper, c.ours, c.matched) for c in figs["fig01"].comparisons]
    assert pairs == [("a", "kodak", 0.0625, 31.0, 30.0, True), ("a", "kodak", 0.125, 33.5, None, False),
                     ("b", "cifar10", None, -20.0, None, True), ("b", "kodak", None, None, -12.5, True)]
    ntscc = card.papers[0]
    assert (ntscc.findings(True), ntscc.findings(False)) == (1, 1)  # regenerated figures only
    assert (ntscc.findings(True, stale=True), ntscc.findings(False, stale=True)) == (1, 1)
    assert [(p.id, p.figures) for p in card.papers[1:]] == [("gjscc", []), ("dgm", [])]

    page = site["out"].read_text()
    for text in ("NTSCC beats deep JSCC at R = 1/16", "does not hold", "-0.3 dB from R = 1/16 to 1/8",
                 "unreadable: reports/ntscc/table1.json: invalid JSON", "no stages yet",
                 "code/model2.py (uncommitted)", "run-fig01-a", "no row of ours", "n/a (illegible)",
                 "n/a (not run)", "Generative JSCC"):
        assert text in page, text
    assert re.search(r"<td class=\"n\">31</td><td class=\"n\">30</td><td class=\"n\">-1</td>", page)
    md = site["out"].with_suffix(".md").read_text()
    assert "| a | NTSCC | kodak | psnr_db | 10 | 0.0625 | 31 | 30 | -1 |" in md
    assert "| [Fig. 2](#ntscc-fig02) | **stale** |" in md
    assert "unreadable | reports/ntscc/table1.json: invalid JSON" in md


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls, self.ids, self.tags = [], set(), []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("href", "src"):
                self.urls.append(value)
            if name == "id":
                self.ids.add(value)


def assert_resolves(urls, base: Path, ids: set[str]) -> None:
    assert urls
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and not url.startswith("/"), url
        if not parts.path:
            assert parts.fragment in ids, url
        else:
            assert (base / unquote(parts.path)).is_file(), url


def test_links_are_relative_and_resolve(site):
    out = site["out"]
    page = Links()
    page.feed(out.read_text())
    assert "script" not in page.tags and "link" not in page.tags
    assert_resolves(page.urls, out.parent, page.ids)
    assert any(u.startswith("thumbs/") for u in page.urls) and "ntscc/fig01.json" in page.urls
    md = out.with_suffix(".md").read_text()
    md_ids = set(re.findall(r'<a id="([^"]+)"></a>', md))
    assert_resolves(re.findall(r"\]\(([^)\s]+)\)", md), out.parent, md_ids)


def test_output_is_deterministic(site):
    again = {p: p.read_bytes() for p in site["first"]}
    assert again == site["first"]
    assert len(site["first"]) == 2 + 6  # the page, its Markdown and one thumbnail per PDF


def test_command_line_on_the_project(tmp_path):
    out = tmp_path / "site" / "index.html"
    assert main(["--profile", "mini", "--out", str(out)]) == 0
    text = out.with_suffix(".md").read_text()
    assert "## ntscc:" in text and "[Fig. 10](#ntscc-fig10)" in text


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_page_renders_in_a_headless_browser(site, tmp_path):
    from PIL import Image

    url = site["out"].as_uri()
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,1500"]
    dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for text in ("Replication scorecard", "Fig. 1", "Table I", 'class="badge s-regenerated"',
                 'class="badge s-stale"', 'class="badge s-not-yet-run"', "no stages yet"):
        assert text in dom.stdout, text
    shot = tmp_path / "page.png"
    res = subprocess.run([*base, f"--screenshot={shot}", url], capture_output=True, text=True, timeout=180)
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 1500)
    colours = image.getcolors(maxcolors=1 << 20)
    assert len(colours) > 20  # text, tables and figures, not a blank page
    magenta = sum(n for n, (r, g, b) in colours if r > 230 and g < 40 and b > 230)
    assert magenta > 5000  # the first figure's thumbnail was decoded and drawn
    if os.environ.get("JSCC_SCORECARD_SCREENSHOT"):
        shutil.copy(shot, os.environ["JSCC_SCORECARD_SCREENSHOT"])


def test_figure_labels_as_the_papers_print_them():
    from pipelines.scorecard.model import figure_label

    assert [figure_label(f) for f in ("fig08", "fig17b", "table1", "table3", "table14", "notes")] == [
        "Fig. 8", "Fig. 17b", "Table I", "Table III", "Table XIV", "notes"]


def test_a_diagnostic_page_shows_the_projects_checks_not_the_papers_findings():
    from pipelines.figures.findings import Finding
    from pipelines.scorecard.model import REGENERATED, FigureCard, PaperCard

    paper = FigureCard("ntscc", "fig12", "ntscc_fig12", {}, status=REGENERATED, findings=[Finding("c", True, "d")])
    check = FigureCard("ntscc", "ntc_rd", "ntscc_images_ntc_rd", {}, status=REGENERATED,
                       findings=[Finding("c", False, "d")])
    assert paper.of_the_paper and not check.of_the_paper
    assert check.findings_heading == "The project's checks on this run"
    card = PaperCard("ntscc", "NTSCC", 2, [paper, check])
    assert card.findings(True) == 1 and card.findings(False) == 0  # the diagnostic's check is not counted
