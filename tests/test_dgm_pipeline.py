"""dgm end to end through Snakemake: Fig. 6 and the coding benchmark from a clean copy on the tiny
profile (a codec of a few thousand weights, two 64-px Kodak crops, a three-interval loss trace),
every stage declaring the profile keys it reads; the paper profile dry-runs."""
import json
import os
import subprocess
from pathlib import Path

import pytest

from jscc_core.results import read_results_csv
from pipeline_helpers import BIN, REPO, has_git_checkout, project_copy, snakemake, undeclared_reads
from pipelines.dgm.common import read_rows

PROFILE = "tests/profiles/dgm_tiny.yaml"
TARGETS = ("reports/dgm/fig06.pdf", "reports/benchmarks/resilient.json")
FIGURE = TARGETS[0]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    if not has_git_checkout():
        pytest.skip("needs a git checkout to know the project's files")
    mirror = Path(os.environ.get("JSCC_DATA_MIRROR", "/nonexistent"))
    if not all((mirror / d).is_dir() for d in ("kodak", "natural_train")):
        pytest.skip("needs Kodak and the natural training images in the data mirror")
    project = project_copy(tmp_path_factory.mktemp("project"))
    snakemake(project, PROFILE, FIGURE)
    return project


@pytest.mark.slow
def test_fig06_from_a_clean_copy(built):
    pdf = built / "reports/dgm/fig06.pdf"
    assert pdf.read_bytes()[:4] == b"%PDF"
    prov = json.loads(pdf.with_suffix(".json").read_text())
    assert prov["profile"]["name"] == "dgm_tiny" and prov["mlflow_run_ids"]
    findings = prov["extra"]["findings"]
    assert len(findings) == 5 and all(f["holds"] in (True, False) for f in findings)
    rows = read_results_csv(pdf.with_suffix(".csv"))
    methods = {r.method for r in rows if r.panel == "a"}
    assert {m.split(" (")[0] for m in methods} == {"ours", "HEVC-intra + FEC"} and len(methods) == 3  # 1x and 4x
    intervals = {r.extra["interval"] for r in rows if r.panel == "a"}
    assert intervals == {0, 1, 2}
    ours_fail = [r.value for r in rows if r.panel == "a" and r.metric == "decoding_failures" and "ours" in r.method]
    assert ours_fail == [0.0, 0.0, 0.0]  # our receiver always shows an image
    trace = read_rows(built / "results/dgm_tiny/dgm/trace_ours.csv")
    modes = {int(r["interval"]): r["mode"] for r in trace}  # 2 % -> 25 % -> 5 % loss, estimate one interval late
    assert modes[0] == "layered" and modes[2] == "multiple-description"
    assert all(int(r["redundant_sets"]) <= int(r["packets_lost"]) for r in trace)
    assert {r.metric for r in rows if r.panel == "b"} == {"psnr", "ms_ssim"}


@pytest.mark.slow
def test_the_benchmark_on_the_trained_model(built, monkeypatch):
    """The benchmark stage's command, in this process (a stage of its own would start another interpreter)."""
    from pipelines.dgm import benchmark

    monkeypatch.chdir(built)
    out = built / TARGETS[1]
    benchmark.main(["--profile", PROFILE, "--data", "data", "--model", "results/dgm_tiny/dgm/model_lam0.013",
                    "--out", str(out)])
    bench = json.loads(out.read_text())
    assert bench["images"] == 2 and bench["threads"] == 2 and bench["kodak_encode_decode_seconds"] > 0
    assert bench["bits_per_pixel"] > 0 and bench["hevc_fec"]["parity_packets"] == 2  # ceil(0.139 x 10)
    md = bench["multiple_description"]  # the redundant descriptions cost bits
    assert md["bits_per_pixel"] > bench["bits_per_pixel"] and md["kodak_encode_decode_seconds"] > 0


@pytest.mark.slow
def test_equal_transmitted_bits_in_the_trace(built):
    """Every HEVC + FEC image spends at most our bits for that image and interval, parity and
    headers included, and one quality step more would exceed them."""
    import csv

    from jscc_core.digital.codecs import HEVCIntra
    from jscc_core.digital.erasure import transmitted_bits
    from jscc_core.images import load_dataset

    with open(built / "results/dgm_tiny/dgm/trace_hevc.csv") as fh:
        rows = list(csv.DictReader(fh))
    kodak = load_dataset("kodak", built / "data", limit=2)
    codec = HEVCIntra(preset="ultrafast")
    for r in rows:
        if int(r["quality"]) < 0:
            continue
        bits, budget, k, parity = int(r["bits"]), int(r["budget_bits"]), int(r["k"]), int(r["r"])
        assert bits <= budget
        if int(r["quality"]) < 51:
            im = kodak[r["image"]]
            crop = im[(im.shape[0] - 64) // 2:][:64, (im.shape[1] - 64) // 2:][:, :64]
            assert transmitted_bits(len(codec.encode(crop, int(r["quality"]) + 1)), k, parity) > budget


@pytest.mark.slow
def test_every_dgm_stage_declares_the_profile_keys_it_reads(built):
    assert undeclared_reads(built, PROFILE) == {}


def test_paper_profile_dry_runs():
    res = subprocess.run([str(BIN / "snakemake"), "-n", *TARGETS, "--config", "profile=paper"], cwd=REPO,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "dgm_train_model_lam0_0018" in res.stdout and "dgm_fig06" in res.stdout
