"""dvc.yaml as a DVC user audits it, on the tiny banana profile: `dvc repro` builds Fig. 10, one
edited profile key makes `dvc status` name only the stages that read it, `dvc params diff` shows
the key, `dvc dag` draws the lineage, and the next `dvc repro` reruns those stages alone."""
import os
import re
import subprocess

import pytest
import yaml

from pipeline_helpers import BIN, READS, has_git_checkout, project_copy, undeclared_reads

PROFILE = "tests/profiles/smoke.yaml"
FLAT = "tests/profiles/smoke_dvc.yaml"  # DVC reads parameters from one file: extends resolved
KEY = "ntscc.banana.maps.noise_draws"  # read by the evaluation and the two banana figures only
READERS = {"ntscc_banana_evaluate", "ntscc_banana_fig10"}  # of the stages Fig. 10 needs


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
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
    run(str(BIN / "dvc"), "repro", "alias_fig10")
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
