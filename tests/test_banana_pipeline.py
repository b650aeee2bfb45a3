"""The banana pipeline end to end (tiny profile) through both engines, each from a clean state:
Snakemake (figures, MLflow runs, scorecard, a one-key edit), then DVC as a DVC user audits it
(`dvc repro`, one edited key makes `dvc status` name only its readers, `dvc params diff`, `dvc dag`);
the two runs write the same CSVs, byte for byte."""
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from jscc_core.results import read_results_csv
from pipeline_helpers import BIN, READS, has_git_checkout, project_copy, snakemake, undeclared_reads

PROFILE = "tests/profiles/smoke.yaml"
FIGURE_CSVS = ("fig09.csv", "fig10.csv")
CLEAN_RUNS: dict[str, dict[str, bytes]] = {}  # engine -> the figures' CSV bytes of its run from a clean state


def _snakemake(workdir: Path, *targets: str):
    return snakemake(workdir, PROFILE, *targets)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A clean checkout: the project's files in a git repository of their own (the scorecard judges
    code changes against the commit a figure records)."""
    if not has_git_checkout():
        pytest.skip("needs a git checkout to know the project's files")
    work = project_copy(tmp_path_factory.mktemp("project"))
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t")
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "checkout"]):
        subprocess.run(cmd, cwd=work, env=env, check=True, capture_output=True)
    return work


@pytest.mark.slow
def test_banana_figures_through_snakemake(project):
    _snakemake(project, "reports/fig09.pdf", "reports/fig10.pdf")
    CLEAN_RUNS["snakemake"] = {f: (project / "reports" / f).read_bytes() for f in FIGURE_CSVS}

    for fig in ("fig09", "fig10"):
        for ext in ("pdf", "csv", "json"):
            assert (project / "reports" / "ntscc" / f"{fig}.{ext}").stat().st_size > 0
        assert (project / "reports" / f"{fig}.pdf").read_bytes()[:4] == b"%PDF"
    prov = json.loads((project / "reports" / "fig10.json").read_text())
    assert prov["profile"]["name"] == "smoke" and prov["seed"] == 2022
    assert set(prov["data_checksums"]) == {"banana_train_sha256", "banana_test_sha256"}
    assert len(prov["mlflow_run_ids"]) == 2 + 3 + 2 + 1  # NTSCC, NTC, deep JSCC models + evaluation
    rows = read_results_csv(project / "reports" / "fig10.csv")
    methods = {r.method for r in rows if r.panel == "c"}
    assert methods == {"NTSCC", "Deep JSCC", "NTC + capacity"}
    assert all(r.source == "ours" for r in rows)

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{project}/mlruns/mlflow.db")
    exp = client.get_experiment_by_name("ntscc-banana")
    runs = client.search_runs([exp.experiment_id])
    assert {r.info.run_id for r in runs} >= set(prov["mlflow_run_ids"])
    assert all(r.info.status == "FINISHED" for r in runs)
    by_key = {r.data.tags["run_key"] for r in runs}
    assert {r.run_id for r in rows if r.panel == "c"} <= by_key  # every plotted point traces to a run

    assert undeclared_reads(project, PROFILE) == {}  # the keys each command read are its declared params
    _scorecard_shows_what_was_built(project)
    _one_key_edit_reruns_only_its_readers(project)


def _scorecard_shows_what_was_built(project: Path) -> None:
    """reports/index.html from the tiny profile's figures: Figs. 9 and 10 regenerated, the rest not run."""
    _snakemake(project, "reports/index.html")
    md = (project / "reports" / "index.md").read_text()
    for fig in ("9", "10"):
        assert f"| [Fig. {fig}](#ntscc-fig{int(fig):02d}) | **regenerated** |" in md, md[:3000]
    not_run = [line for line in md.splitlines() if line.startswith("| [") and "| **not yet run** |" in line]
    ntscc = [line for line in not_run if "(#ntscc-" in line]
    assert len(ntscc) == 12  # Figs. 8, 11-17, Tables I-III, the NTC rate-distortion diagnostic
    assert len([line for line in not_run if "(#gjscc-" in line]) == 4  # GJSCC Figs. 6-9
    assert (project / "reports" / "thumbs" / "ntscc-fig10.png").read_bytes()[:4] == b"\x89PNG"


def _one_key_edit_reruns_only_its_readers(project: Path) -> None:
    """Snakemake sees each rule's profile keys as a param: editing ntscc.banana.maps.noise_draws (read by
    the evaluation and the banana figures) plans those rules and the copy, and no training."""
    smoke = project / PROFILE
    text = smoke.read_text()
    assert "noise_draws: 2}" in text
    smoke.write_text(text.replace("noise_draws: 2}", "noise_draws: 1}"))
    try:
        res = subprocess.run([str(BIN / "snakemake"), "-n", "reports/fig10.pdf", "--config", f"profile={PROFILE}"],
                             cwd=project, capture_output=True, text=True)
        assert res.returncode == 0, res.stderr[-3000:]
        out = res.stdout + res.stderr
        stats = out.split("Job stats:")[1].split("Reasons:")[0]
        planned = set(re.findall(r"^(\w+)\s+\d+\s*$", stats, re.M)) - {"total"}
        assert planned == {"ntscc_banana_evaluate", "ntscc_banana_fig10", "alias_fig10"}, out[-3000:]
    finally:
        smoke.write_text(text)
    res = subprocess.run([str(BIN / "snakemake"), "-n", "reports/fig10.pdf", "--config", f"profile={PROFILE}"],
                         cwd=project, capture_output=True, text=True)
    assert "Nothing to be done" in res.stdout + res.stderr


@pytest.mark.slow
def test_paper_profile_dry_runs(project):
    res = subprocess.run([str(BIN / "snakemake"), "-n", "reports/fig10.pdf", "--config", "profile=paper"],
                         cwd=project, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    text = res.stdout + res.stderr
    # 10 NTC + 3 NTSCC + 11 deep JSCC trainings, evaluation, figure, alias
    assert "ntscc_banana_ntscc_lam0_0009765625" in text and "alias_fig10" in text
    assert "results/paper/ntscc/banana" in text


FLAT = "tests/profiles/smoke_dvc.yaml"  # DVC reads parameters from one file: extends resolved
KEY = "ntscc.banana.maps.noise_draws"  # read by the evaluation and the two banana figures only
READERS = {"ntscc_banana_evaluate", "ntscc_banana_fig10"}  # of the stages Fig. 10 needs


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A git repository of the project with dvc.yaml for the tiny profile, after `dvc repro` of Figs. 9-10."""
    if not has_git_checkout():
        pytest.skip("needs a git checkout to know the project's files")
    work = project_copy(tmp_path_factory.mktemp("dvc"))
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{work}/mlruns/mlflow.db", JSCC_PROGRESS="0",
               PATH=f"{BIN}:{os.environ.get('PATH', '')}", GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t", JSCC_PROFILE_READS=str(work / READS))

    def run(*cmd: str) -> str:
        res = subprocess.run(list(cmd), cwd=work, env=env, capture_output=True, text=True)
        assert res.returncode == 0, " ".join(cmd) + "\n" + res.stdout[-3000:] + res.stderr[-3000:]
        return res.stdout

    run(str(BIN / "python"), "-m", "pipelines.profile", "flatten", PROFILE, FLAT)
    (work / "params.yaml").write_text(f"profile: {FLAT}\n")
    run(str(BIN / "python"), "-m", "pipelines.stages", "dvc")
    run("git", "init", "-q")
    run("git", "add", "-A")
    run("git", "commit", "-q", "-m", "project")
    run(str(BIN / "python"), "-m", "jscc_core.tracking", "init")
    run(str(BIN / "dvc"), "repro", "alias_fig09", "alias_fig10")
    CLEAN_RUNS["dvc"] = {f: (work / "reports" / f).read_bytes() for f in FIGURE_CSVS}
    run("git", "add", "dvc.lock")
    run("git", "commit", "-q", "-m", "lock")
    return work, run


def _changed_stages(status: str) -> set[str]:
    """Stage names `dvc status` reports as changed (lines 'name:' at the start)."""
    return {m.group(1) for m in re.finditer(r"^(\w+):\s*$", status, re.M)}


@pytest.mark.slow
def test_dvc_yaml_is_short_and_every_stage_declares_its_keys(repo):
    work, _ = repo
    stages = yaml.safe_load((work / "dvc.yaml").read_text())["stages"]
    assert all("params" in s for name, s in stages.items() if not name.startswith(("data_", "alias_", "scorecard")))
    assert all(FLAT in s["params"][0] for s in stages.values() if "params" in s)


@pytest.mark.slow
def test_one_key_edit_reaches_only_its_readers(repo):
    work, run = repo
    assert (work / "reports" / "fig10.pdf").read_bytes()[:4] == b"%PDF"
    assert "up to date" in run(str(BIN / "dvc"), "status", "alias_fig10", "--with-deps").lower()

    profile = yaml.safe_load((work / FLAT).read_text())
    profile["ntscc"]["banana"]["maps"]["noise_draws"] = 1
    (work / FLAT).write_text(yaml.safe_dump(profile, sort_keys=False))

    status = run(str(BIN / "dvc"), "status", "alias_fig10", "--with-deps")
    assert _changed_stages(status) == READERS, status
    assert KEY.rsplit(".", 1)[0] in status  # the parameter that changed is named

    diff = run(str(BIN / "dvc"), "params", "diff", "--all")
    assert FLAT in diff and "ntscc.banana.maps" in diff and "noise_draws" in diff, diff

    log = run(str(BIN / "dvc"), "repro", "alias_fig10")
    ran = set(re.findall(r"Running stage '(\w+)'", log))
    assert ran == READERS | {"alias_fig10"}, log  # nothing retrained


@pytest.mark.slow
def test_the_stages_read_only_the_keys_they_declare(repo):
    work, _ = repo
    assert undeclared_reads(work, FLAT) == {}


@pytest.mark.slow
def test_dvc_dag_draws_the_lineage(repo):
    _, run = repo
    dag = run(str(BIN / "dvc"), "dag", "--md", "alias_fig10")
    for stage in ("data_", "ntscc_banana_ntc_", "ntscc_banana_ntscc_", "ntscc_banana_evaluate", "ntscc_banana_fig10"):
        if stage != "data_":  # the banana source is sampled, not fetched
            assert stage in dag, dag
    assert "-->" in dag


@pytest.mark.slow
def test_both_engines_from_a_clean_state_write_the_same_csvs(project, repo):
    if set(CLEAN_RUNS) != {"snakemake", "dvc"}:
        pytest.skip("needs the Snakemake and the DVC run of this module")
    for f in FIGURE_CSVS:
        assert CLEAN_RUNS["dvc"][f] == CLEAN_RUNS["snakemake"][f], f"{f} differs between the two clean runs"
