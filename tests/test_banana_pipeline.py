"""The banana pipeline end to end through Snakemake (tiny profile), run twice from a clean state."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from jscc_core.results import read_results_csv

from pipeline_helpers import BIN, has_git_checkout, project_copy, snakemake

PROFILE = "tests/profiles/smoke.yaml"
PRODUCTS = ("results", "reports", "checkpoints", "logs", "mlruns", ".snakemake")


def _snakemake(workdir: Path, *targets: str):
    return snakemake(workdir, PROFILE, *targets)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    if not has_git_checkout():
        pytest.skip("needs a git checkout to know the project's files")
    return project_copy(tmp_path_factory.mktemp("project"))


@pytest.mark.slow
def test_banana_figures_are_reproducible_from_a_clean_state(project):
    _snakemake(project, "reports/fig09.pdf", "reports/fig10.pdf")
    first = {f: (project / "reports" / f).read_bytes() for f in ("fig09.csv", "fig10.csv")}

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

    for name in PRODUCTS:
        shutil.rmtree(project / name, ignore_errors=True)
    _snakemake(project, "reports/fig09.pdf", "reports/fig10.pdf")
    for f, data in first.items():
        assert (project / "reports" / f).read_bytes() == data, f"{f} differs between two clean runs"


@pytest.mark.slow
def test_paper_profile_dry_runs(project):
    res = subprocess.run([str(BIN / "snakemake"), "-n", "reports/fig10.pdf", "--config", "profile=paper"],
                         cwd=project, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    text = res.stdout + res.stderr
    # 10 NTC + 3 NTSCC + 11 deep JSCC trainings, evaluation, figure, alias
    assert "ntscc_banana_ntscc_lam0_0009765625" in text and "alias_fig10" in text
    assert "results/paper/ntscc/banana" in text


@pytest.mark.slow
def test_dvc_repro_runs_the_same_stages(tmp_path_factory):
    """dvc.yaml is runnable: generate it for the tiny profile and let DVC reproduce the figures."""
    if not has_git_checkout():
        pytest.skip("needs a git checkout to know the project's files")
    work = project_copy(tmp_path_factory.mktemp("dvc"))
    (work / "params.yaml").write_text(f"profile: {PROFILE}\n")
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{work}/mlruns/mlflow.db", JSCC_PROGRESS="0",
               PATH=f"{BIN}:{os.environ.get('PATH', '')}")

    def run(*cmd):
        res = subprocess.run(list(cmd), cwd=work, env=env, capture_output=True, text=True)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        return res.stdout

    run(str(BIN / "python"), "-m", "pipelines.stages", "dvc")
    run(str(BIN / "dvc"), "config", "core.no_scm", "true")  # the copy is not a git repository
    run(str(BIN / "python"), "-m", "jscc_core.tracking", "init")
    run(str(BIN / "dvc"), "repro", "alias_fig10")
    assert (work / "reports" / "fig10.pdf").read_bytes()[:4] == b"%PDF"
    assert "ntscc_banana_evaluate" in (work / "dvc.lock").read_text()
    assert "up to date" in run(str(BIN / "dvc"), "status", "--with-deps", "alias_fig10").lower()
