"""The banana pipeline end to end through Snakemake (tiny profile), run twice from a clean state."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from jscc_core.results import read_results_csv
from pipeline_helpers import BIN, has_git_checkout, project_copy, snakemake, undeclared_reads

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

    assert undeclared_reads(project, PROFILE) == {}  # the keys each command read are its declared params
    _one_key_edit_reruns_only_its_readers(project)

    for name in PRODUCTS:
        shutil.rmtree(project / name, ignore_errors=True)
    _snakemake(project, "reports/fig09.pdf", "reports/fig10.pdf")
    for f, data in first.items():
        assert (project / "reports" / f).read_bytes() == data, f"{f} differs between two clean runs"


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
