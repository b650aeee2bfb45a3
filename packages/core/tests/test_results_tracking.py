"""Results CSV, provenance JSON, PDF metadata, MLflow tracking and seeding."""

from __future__ import annotations

import json
import random
import re
import socket
from pathlib import Path

import pytest

from jscc_core.determinism import library_versions, seed_everything, stage_seed
from jscc_core.profiles import load_profile
from jscc_core.results import COLUMNS, ResultRow, read_results_csv, save_figure, write_provenance, write_results_csv


def _rows() -> list[ResultRow]:
    rows = []
    for snr in (1, 4, 7, 10, 13):
        for method in ("NTSCC", "DeepJSCC", "BPG + LDPC"):
            rows.append(ResultRow("fig12", "a", method, "kodak", snr, 1 / 48, "psnr",
                                  20 + snr / 3 + 0.1 + 0.2, run_id=f"run{snr}", source="ours",
                                  extra={"lambda": 64, "eta": 0.2}))
    rows.append(ResultRow("fig12", "a", "NTSCC", "kodak", 10.0, 1 / 48, "psnr", 31.07, source="paper"))
    rows.append(ResultRow("fig14", "a", "NTSCC", "kodak", 10.0, 0.02, "lpips", None,
                          extra={"reason": "LPIPS weights unavailable"}))
    return rows


def test_results_csv_round_trip_and_byte_identical(tmp_path):
    rows = _rows()
    shuffled = rows[:]
    random.Random(0).shuffle(shuffled)
    a = write_results_csv(shuffled, tmp_path / "a.csv")
    back = read_results_csv(a)
    assert len(back) == len(rows) and all(r in back for r in rows)  # exact floats survive
    assert next(r for r in back if r.value is None).extra["reason"].startswith("LPIPS")
    assert {r.source for r in back} == {"ours", "paper"}
    b = write_results_csv(back, tmp_path / "b.csv")
    c = write_results_csv(rows, tmp_path / "c.csv")
    assert a.read_bytes() == b.read_bytes() == c.read_bytes()
    text = a.read_text()
    assert text.splitlines()[0] == ",".join(COLUMNS)
    assert repr(20 + 1 / 3 + 0.1 + 0.2) in text
    with pytest.raises(ValueError):
        ResultRow("f", "a", "m", "d", 1, 0.1, "psnr", 1.0, source="theirs")


@pytest.fixture
def profile(tmp_path):
    (tmp_path / "s.yaml").write_text("type: object\nproperties: {seed: {type: integer}}\n")
    (tmp_path / "mini.yaml").write_text("seed: 3\n")
    return load_profile(tmp_path / "mini.yaml", tmp_path / "s.yaml")


def test_provenance_json_fields(tmp_path, profile):
    path = tmp_path / "out" / "fig12.provenance.json"
    write_provenance(path, profile=profile, data_checksums={"kodak": "abc123"},
                     mlflow_run_ids=["r2", "r1", "r2"], wall_time_s=12.5, seed=3,
                     extra={"output": str(tmp_path / "out" / "fig12.pdf")})
    text = path.read_text()
    prov = json.loads(text)
    for key in ("git", "profile", "data_checksums", "mlflow_run_ids", "wall_time_s", "seed",
                "python", "libraries", "created_utc"):
        assert key in prov, key
    assert prov["git"]["commit"] == "unknown" or re.fullmatch(r"[0-9a-f]{40}", prov["git"]["commit"])
    assert prov["profile"]["name"] == "mini" and prov["profile"]["sha256"] == profile.sha256
    assert prov["mlflow_run_ids"] == ["r1", "r2"] and prov["data_checksums"] == {"kodak": "abc123"}
    assert {"torch", "numpy", "mlflow"} <= set(prov["libraries"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", prov["created_utc"])
    host = socket.gethostname()
    if len(host) > 3:
        assert host not in text
    assert not prov["profile"]["path"].startswith("/")  # relative, no machine-specific path


def test_save_figure_pdf_carries_provenance(tmp_path, profile):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    prov = write_provenance(tmp_path / "p.json", profile=profile, data_checksums={"kodak": "abc"},
                            mlflow_run_ids=["run-xyz"], wall_time_s=1.0, seed=3)
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([1, 2, 3], [3, 1, 2], label="NTSCC")
    out1 = save_figure(fig, tmp_path / "fig.pdf", prov)
    bytes1 = out1.read_bytes()
    out2 = save_figure(fig, tmp_path / "again" / "fig.pdf", prov)
    plt.close(fig)
    assert bytes1.startswith(b"%PDF")
    assert profile.sha256.encode() in bytes1 and b"run-xyz" in bytes1
    assert b"/CreationDate" not in bytes1
    assert bytes1 == out2.read_bytes()  # deterministic metadata
    assert not list(tmp_path.glob(".*.pdf"))  # no temp file left


# --------------------------------------------------------------------------- tracking


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory):
    from jscc_core.tracking import init_store

    db = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    uri = init_store(f"sqlite:///{db}")
    assert db.is_file() and (db.parent / "artifacts").is_dir()
    return uri


def test_track_run_logs_params_metrics_artifact(tracking_uri, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    from mlflow.tracking import MlflowClient

    from jscc_core.tracking import MAX_PARAM_VALUE, track_run

    art = tmp_path / "curve.csv"
    art.write_text("snr,psnr\n10,31.0\n")
    params = {"ntscc": {"banana": {"train_steps": 10, "lambdas": [64, 16]}}, "note": "x" * 7000}
    with track_run("test-exp", "mini-run", params, tags={"profile": "mini"}) as run:
        run.log_metrics({"psnr": 31.5, "loss": 0.25}, step=3)
        run.log_artifact(art)
    client = MlflowClient(tracking_uri)
    got = client.get_run(run.run_id)
    assert got.info.status == "FINISHED" and got.info.run_name == "mini-run"
    assert got.data.params["ntscc.banana.train_steps"] == "10"
    assert got.data.params["ntscc.banana.lambdas"] == "[64, 16]"
    assert len(got.data.params["note"]) <= MAX_PARAM_VALUE
    assert got.data.metrics == {"psnr": 31.5, "loss": 0.25}
    assert got.data.tags["profile"] == "mini"
    hist = client.get_metric_history(run.run_id, "psnr")
    assert [m.step for m in hist] == [3]
    assert [a.path for a in client.list_artifacts(run.run_id)] == ["curve.csv"]
    art_dir = Path(tracking_uri[len("sqlite:///"):]).parent / "artifacts"
    assert list(art_dir.rglob("curve.csv"))  # artifacts beside the local store


def test_track_run_failure_marks_failed(tracking_uri, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    from mlflow.tracking import MlflowClient

    from jscc_core.tracking import track_run

    with pytest.raises(RuntimeError, match="boom"):
        with track_run("test-exp", "failing", {"a": 1}) as run:
            raise RuntimeError("boom")
    got = MlflowClient(tracking_uri).get_run(run.run_id)
    assert got.info.status == "FAILED"
    assert "boom" in got.data.tags["jscc.error"]


def test_default_store_under_repo_root(tmp_path, monkeypatch):
    from jscc_core.tracking import default_tracking_uri, repo_root

    (tmp_path / "Snakefile").write_text("")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("JSCC_REPO_ROOT", raising=False)
    assert repo_root() == tmp_path.resolve()
    assert default_tracking_uri() == f"sqlite:///{tmp_path.resolve()}/mlruns/mlflow.db"
    assert (tmp_path / "mlruns").is_dir()


def test_seed_everything_reproducible():
    import torch

    threads = torch.get_num_threads()
    try:
        g1 = seed_everything(123, threads=1)
        a = (random.random(), torch.rand(3, generator=g1), torch.randn(2))
        g2 = seed_everything(123, threads=1)
        b = (random.random(), torch.rand(3, generator=g2), torch.randn(2))
        assert a[0] == b[0] and torch.equal(a[1], b[1]) and torch.equal(a[2], b[2])
        assert torch.are_deterministic_algorithms_enabled() and torch.get_num_threads() == 1
    finally:
        torch.use_deterministic_algorithms(False)
        torch.set_num_threads(threads)
    assert library_versions()["torch"] == torch.__version__.split("+")[0] or "+" in library_versions()["torch"]


def test_stage_seed_is_fixed_per_name_and_below_2_31():
    # (base + CRC-32(name)) mod 2^31: the same in every process, unlike hash()
    assert stage_seed(1, "evaluate") == 243534473
    assert stage_seed(1, "ntc_lam64") != stage_seed(1, "ntc_lam16") != stage_seed(2, "ntc_lam16")
    assert all(0 <= stage_seed(2**40, name) < 2**31 for name in ("a", "evaluate", "0.2/10.0/kodim01"))
