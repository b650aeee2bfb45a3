"""The separation sweep command's errors and the paper profile's dry run. The sweep and the benchmark are
built through Snakemake with Fig. 12 in test_image_pipeline."""
import os
import subprocess
from pathlib import Path

import pytest

from pipeline_helpers import BIN, has_git_checkout, project_copy

PROFILE = "tests/profiles/separation_tiny.yaml"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    if not has_git_checkout():
        pytest.skip("needs a git checkout to know the project's files")
    if not (Path(os.environ["JSCC_DATA_MIRROR"]) / "kodak").is_dir():
        pytest.skip("needs the Kodak images in the data mirror")
    return project_copy(tmp_path_factory.mktemp("project"))


def _sweep_command(project, monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """The sweep stage's command in this process (its imports are loaded already): (exit code, stderr)."""
    from pipelines.separation import run

    monkeypatch.chdir(project)
    with pytest.raises(SystemExit) as exc:
        run.main(["sweep", "--profile", PROFILE, *args])
    return exc.value.code, capsys.readouterr().err


def test_sweep_names_a_missing_bler_table(project, tmp_path, monkeypatch, capsys):
    from jscc_core import registry

    registry.fetch("kodak", root=tmp_path / "data", progress=False)  # the sweep checks its images first
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("JSCC_PROGRESS", "0")
    code, err = _sweep_command(project, monkeypatch, capsys, "--sweep", "kodak_awgn", "--data", str(tmp_path / "data"),
                               "--bler-dir", str(tmp_path), "--out", str(tmp_path / "out.csv"))
    assert code == 2
    assert "no BLER table for QPSK 2/3" in err and "Traceback" not in err
    assert not (tmp_path / "out.csv").exists()


def test_unknown_sweep_is_a_profile_error(project, tmp_path, monkeypatch, capsys):
    code, err = _sweep_command(project, monkeypatch, capsys, "--sweep", "kodak_rayleigh", "--bler-dir", str(tmp_path),
                               "--out", str(tmp_path / "x.csv"))
    assert code == 2 and "no sweep 'kodak_rayleigh'" in err and "kodak_awgn" in err


@pytest.mark.slow
def test_paper_profile_dry_runs_the_sweep_in_exact_mode(project):
    res = subprocess.run([str(BIN / "snakemake"), "-n", "reports/fig12.pdf",
                          "--config", "profile=paper"], cwd=project, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    text = res.stdout + res.stderr
    assert "separation_kodak_awgn" in text and "results/paper/separation/kodak_awgn.csv" in text
    assert "separation_bler" not in text  # exact mode decodes every codeword: no BLER tables
