"""The separation stages, Fig. 12 and the benchmark through Snakemake on two Kodak images."""
import json
import os
import subprocess
from pathlib import Path

import pytest

from jscc_core.digital.separation import read_image_results_csv
from pipeline_helpers import BIN, has_git_checkout, project_copy, snakemake, undeclared_reads

PROFILE = "tests/profiles/separation_tiny.yaml"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    if not has_git_checkout():
        pytest.skip("needs a git checkout to know the project's files")
    if not (Path(os.environ["JSCC_DATA_MIRROR"]) / "kodak").is_dir():
        pytest.skip("needs the Kodak images in the data mirror")
    return project_copy(tmp_path_factory.mktemp("project"))


@pytest.mark.slow
def test_sweep_and_benchmark_from_a_clean_state(project):
    """Fig. 12 itself (separation and learned curves) is built in test_image_pipeline."""
    snakemake(project, PROFILE, "results/separation_tiny/separation/kodak_awgn.csv",
              "reports/benchmarks/separation.json")
    assert undeclared_reads(project, PROFILE) == {}  # the keys each command read are its declared params

    sweep = read_image_results_csv(project / "results/separation_tiny/separation/kodak_awgn.csv")
    assert {r.image_id for r in sweep} == {"kodim01", "kodim02"}
    assert {r.mcs for r in sweep} == {"QPSK 2/3", "16QAM 2/3", "capacity"}
    assert all(r.channel_uses_spent <= r.channel_uses_budget for r in sweep)
    # 16QAM 2/3 needs about 9 dB: every image is lost at 0 dB, none is at 6 dB with QPSK 2/3
    assert all(r.lost for r in sweep if r.mcs == "16QAM 2/3" and r.snr_db == 0.0)
    assert not any(r.lost for r in sweep if r.mcs == "QPSK 2/3" and r.snr_db == 6.0)

    bench = json.loads((project / "reports/benchmarks/separation.json").read_text())
    assert bench["ldpc_exact_info_bits_per_s"] > 0 and bench["kodak_curve_seconds"] > 0
    assert bench["kodak_curve"]["images"] == 2 and len(bench["kodak_curve"]["mcs"]) == 6
    assert bench["kodak_curve"]["rows"] == 2 * 6 * 2
    assert bench["ldpc"]["same_decisions_as_sionna"] == 1.0


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
