"""NTSCC on images end to end through Snakemake: tiny models, two Kodak test images."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jscc_core.digital.separation import read_image_results_csv
from jscc_core.results import read_results_csv
from pipeline_helpers import has_git_checkout, project_copy, snakemake, undeclared_reads

PROFILE = "tests/profiles/images_tiny.yaml"
ROOT = "results/images_tiny/ntscc/images"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    if not has_git_checkout():
        pytest.skip("needs a git checkout to know the project's files")
    mirror = Path(os.environ["JSCC_DATA_MIRROR"])
    if not ((mirror / "kodak").is_dir() and (mirror / "natural_train").is_dir()):
        pytest.skip("needs Kodak and the natural training images in the data mirror")
    return project_copy(tmp_path_factory.mktemp("project"))


@pytest.fixture(scope="module")
def built(project):
    snakemake(project, PROFILE, "reports/fig12.pdf", "reports/fig11.pdf", "reports/fig13.pdf", "reports/fig17.pdf",
              "reports/fig08.pdf", "reports/table1.pdf", "reports/table2.pdf", "reports/table3.pdf",
              "reports/fig14.pdf", "reports/fig15.pdf",  # Fig. 16 is Fig. 15's page for the MS-SSIM models
              "reports/benchmarks/separation.json")  # reads Fig. 12's separation sweep
    return project


@pytest.mark.slow
def test_fig12_with_learned_schemes_from_a_clean_state(built):
    rows = read_results_csv(built / "reports/fig12.csv")
    methods = {r.method for r in rows}
    assert {"NTSCC", "Deep JSCC"} <= methods
    assert any(m.endswith("+ capacity") for m in methods)
    ntscc = [r for r in rows if r.method == "NTSCC" and r.panel == "a"]
    assert ntscc and all(r.bandwidth_ratio <= 1 / 16 + 1e-9 for r in ntscc)  # "maximum R constrained to 1/16"
    prov = json.loads((built / "reports/fig12.json").read_text())
    assert len(prov["mlflow_run_ids"]) == 1 + 2 + 1  # separation sweep + 2 NTSCC + 1 deep JSCC evaluations
    claims = [f["claim"] for f in prov["extra"]["findings"]]
    assert any("NTSCC degrades gracefully" in c for c in claims)
    cliff = next(f for f in prov["extra"]["findings"] if f["claim"].startswith("QPSK 2/3 chosen for 4 dB"))
    assert cliff["holds"]  # two Kodak images: all lost at 0 dB, all received at 6 dB
    assert {r.panel for r in rows} == {"a", "c"}
    assert any("trained at one SNR and tested at every SNR, in (a) too" in n for n in prov["extra"]["notes"])


@pytest.mark.slow
def test_separation_sweep_and_benchmark(built):
    """Fig. 12's separation sweep (two Kodak images at 0 and 6 dB) and the separation benchmark on it."""
    sweep = read_image_results_csv(built / "results/images_tiny/separation/kodak_awgn.csv")
    assert {r.image_id for r in sweep} == {"kodim01", "kodim02"}
    assert {r.mcs for r in sweep} == {"QPSK 2/3", "16QAM 2/3", "capacity"}
    assert all(r.channel_uses_spent <= r.channel_uses_budget for r in sweep)
    # 16QAM 2/3 needs about 9 dB: every image is lost at 0 dB, none is at 6 dB with QPSK 2/3
    assert all(r.lost for r in sweep if r.mcs == "16QAM 2/3" and r.snr_db == 0.0)
    assert not any(r.lost for r in sweep if r.mcs == "QPSK 2/3" and r.snr_db == 6.0)

    bench = json.loads((built / "reports/benchmarks/separation.json").read_text())
    assert bench["ldpc_exact_info_bits_per_s"] > 0 and bench["kodak_curve_seconds"] > 0
    assert bench["kodak_curve"]["images"] == 2 and len(bench["kodak_curve"]["mcs"]) == 6
    assert bench["kodak_curve"]["rows"] == 2 * 6 * 2
    assert bench["ldpc"]["same_decisions_as_sionna"] == 1.0


@pytest.mark.slow
def test_fig12_panel_a_reads_the_models_fine_tuned_at_each_snr(built, tmp_path, monkeypatch):
    """The paper profile's setting (ntscc.images.fig12_per_snr): panel (a) draws the per-SNR fine-tunes,
    panel (c) the models trained at one SNR. Stand-ins for the fine-tunes: the 4 dB rows of the λ = 16
    and c_out = 3 evaluations, renamed as fine-tunes at 4 dB."""
    import csv

    from pipelines.ntscc import fig12
    from pipelines.profile import load

    per_snr = []
    for base in ("ntscc_mse_lam16", "deepjscc_mse_c3"):
        folder = tmp_path / f"{base}_snr4"
        folder.mkdir()
        with open(built / ROOT / base / "eval.csv") as fh:
            rows = [r for r in csv.DictReader(fh) if float(r["snr_db"]) == 4.0]
        with open(folder / "eval.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
            w.writeheader()
            w.writerows({**r, "model": folder.name, "train_snr_db": "4"} for r in rows)
        (folder / "eval.json").write_bytes((built / ROOT / base / "eval.json").read_bytes())
        per_snr.append(folder / "eval.csv")
    monkeypatch.chdir(built)
    out = tmp_path / "fig12.pdf"
    evals = [built / ROOT / m / "eval.csv" for m in ("ntscc_mse_lam64", "ntscc_mse_lam16", "deepjscc_mse_c3")]
    sep = built / "results/images_tiny/separation"
    fig12.render(load(PROFILE), sep / "kodak_awgn.csv", sep / "bler", out, evals, per_snr)
    learned = [r for r in read_results_csv(out.with_suffix(".csv")) if r.method in ("NTSCC", "Deep JSCC")]
    panel_a = {(r.method, r.extra["model"], r.snr_db, r.extra["train_snr_db"]) for r in learned if r.panel == "a"}
    assert panel_a == {("NTSCC", "ntscc_mse_lam16_snr4", 4.0, 4.0), ("Deep JSCC", "deepjscc_mse_c3_snr4", 4.0, 4.0)}
    panel_c = [r for r in learned if r.panel == "c"]
    assert {r.snr_db for r in panel_c} == {4.0, 10.0} and all(r.extra["train_snr_db"] == 10.0 for r in panel_c)
    notes = json.loads(out.with_suffix(".json").read_text())["extra"]["notes"]
    assert any("(a): each learned model fine-tuned from the model of (c) at the test SNR" in n for n in notes)


@pytest.mark.slow
def test_every_stage_declares_the_profile_keys_it_reads(built):
    """What the commands read (logged by the profile loader) is what dvc.yaml and the rules declare."""
    assert undeclared_reads(built, PROFILE) == {}


@pytest.mark.slow
def test_rate_accounting_in_the_evaluations(built):
    from pipelines.ntscc.evals import read_ntscc_eval

    def read_eval_csv(path):
        return [{k: (float(v) if k in ("k", "k_y", "k_z", "k_q", "cbr") else v) for k, v in r.items()}
                for r in read_ntscc_eval(path).rows]

    rows = read_eval_csv(built / ROOT / "ntscc_mse_lam64/eval.csv")
    assert {r["image_id"] for r in rows} == {"kodim01", "kodim02"}
    for r in rows:  # k = k_y + k_z + k_q; R = k / 3HW for 768 x 512 images
        assert r["k"] == pytest.approx(r["k_y"] + r["k_z"] + r["k_q"], rel=1e-5)
        assert r["cbr"] == pytest.approx(r["k"] / (3 * 768 * 512), rel=1e-4)
        assert r["k_z"] > 0 and r["k_q"] > 0
    ablation = read_eval_csv(built / ROOT / "comparison_i_mse_lam64/eval.csv")
    assert all(r["k_z"] == 0 and r["k_q"] > 0 for r in ablation)
    fixed = read_eval_csv(built / ROOT / "comparison_ii_mse_cbr0.0625/eval.csv")
    assert {r["k_z"] + r["k_q"] for r in fixed} == {0} and len({r["k"] for r in fixed}) == 1
    deep = read_eval_csv(built / ROOT / "deepjscc_mse_c3/eval.csv")
    assert deep and all(r["cbr"] == pytest.approx(1 / 16) for r in deep)


@pytest.mark.slow
def test_every_image_report_is_written(built):
    for name in ("fig08", "fig11", "fig13", "fig14", "fig15", "fig17", "table1", "table2", "table3"):
        assert (built / f"reports/{name}.pdf").read_bytes()[:4] == b"%PDF"
        prov = json.loads((built / f"reports/ntscc/{name}.json").read_text())
        assert prov["profile"]["name"] == "images_tiny"
    timing = json.loads((built / ROOT / "table3/timing.json").read_text())
    assert set(timing["methods"]) == {"NTSCC", "Deep JSCC", "HEVC-intra + LDPC"}
    assert all(m["seconds_per_image"] > 0 for m in timing["methods"].values())
    table1 = read_results_csv(built / "reports/table1.csv")
    assert {r.source for r in table1} == {"ours", "paper"}
    fig13 = json.loads((built / "reports/ntscc/fig13.json").read_text())
    ms_ssim_runs = [json.loads((built / ROOT / f"{m}/eval.json").read_text())["run_id"]
                    for m in ("ntscc_ms_ssim_lam0.25", "ntscc_ms_ssim_lam0.0625")]
    assert set(ms_ssim_runs) <= set(fig13["mlflow_run_ids"])  # Fig. 13 plots the MS-SSIM models
    snr_rows = [r for r in read_results_csv(built / "reports/fig13.csv") if r.panel == "kodak_snr"]  # panel (c)
    assert {r.snr_db for r in snr_rows if r.method == "Deep JSCC"} == {4.0, 10.0}
    assert {r.snr_db for r in snr_rows if r.method.endswith("+ capacity")} == {0.0, 6.0}
    tuned = json.loads((built / ROOT / "ntscc_ms_ssim_lam0.25/run.json").read_text())
    assert tuned["params"]["init"].endswith("ntscc_mse_lam64/model.pt")  # fine-tuned from the MSE model


@pytest.mark.slow
def test_lpips_in_every_row_and_the_perceptual_model(built):
    """LPIPS-Alex in every evaluation row and separation row; the eq. (29) model fine-tuned from the
    MSE NTSCC of its lambda, evaluated as an NTSCC; Fig. 14 draws it."""
    import torch

    from jscc_core.digital.separation import read_image_results_csv
    from pipelines.ntscc.evals import read_ntscc_eval

    for folder in sorted((built / ROOT).glob("*/eval.csv")):
        run = read_ntscc_eval(folder)
        assert all(0 <= float(r["lpips_alex"]) < 2 for r in run.rows), folder
        assert run.meta["lpips"]["net"] == "alex" and run.meta["lpips"]["seconds"] > 0
    sweep = read_image_results_csv(built / "results/images_tiny/separation/kodak_cbr.csv")
    assert all(r.lpips_alex is not None and r.lpips_alex >= 0 for r in sweep)
    meta = json.loads((built / ROOT / "ntscc_perceptual_lam64/run.json").read_text())
    assert meta["kind"] == "perceptual" and meta["params"]["init"].endswith("ntscc_mse_lam64/model.pt")
    assert {"gan_d", "lpips", "d_real"} <= set(meta["final"])
    state = torch.load(built / ROOT / "ntscc_perceptual_lam64/model.pt", weights_only=True)
    assert not any(k.startswith("discriminator.") for k in state)  # model.pt is the NTSCC alone
    rows = read_ntscc_eval(built / ROOT / "ntscc_perceptual_lam64/eval.csv").rows
    assert {(r["variant"], r["distortion"], float(r["snr_db"])) for r in rows} == {("ntscc", "perceptual", 10.0)}
    fig14 = read_results_csv(built / "reports/fig14.csv")
    assert "NTSCC (Perceptual)" in {r.method for r in fig14}
    # Figs. 15-16: the crops are the evaluation's own reconstructions (same noise, same numbers)
    crops = json.loads((built / ROOT / "fig15/crops.json").read_text())
    for scheme in crops["schemes"].values():
        row = next(r for r in read_ntscc_eval(built / ROOT / scheme["model"] / "eval.csv").rows
                   if r["image_id"] == "kodim01" and float(r["snr_db"]) == 10.0
                   and (r["eta"] == "" if scheme["eta"] is None else float(r["eta"]) == scheme["eta"]))
        assert scheme["per_image"]["kodim01"]["psnr"] == pytest.approx(float(row["psnr"]), abs=1e-4)
        assert scheme["per_image"]["kodim01"]["lpips_alex"] == pytest.approx(float(row["lpips_alex"]), abs=1e-5)
    fig15 = read_results_csv(built / "reports/fig15.csv")
    costs = [r for r in fig15 if r.metric == "bandwidth_cost_vs_ldpc_percent"]
    assert {r.method for r in costs} == {"Deep JSCC (PSNR)", "NTSCC (PSNR)", "NTSCC (Perceptual)"}


@pytest.mark.slow
def test_a_corrupt_model_file_is_a_clear_error(built, tmp_path):
    folder = tmp_path / "ntscc_mse_lam64"
    folder.mkdir()
    (folder / "run.json").write_bytes((built / ROOT / "ntscc_mse_lam64/run.json").read_bytes())
    (folder / "model.pt").write_bytes((built / ROOT / "ntscc_mse_lam64/model.pt").read_bytes()[:1000])
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/mlflow.db", JSCC_PROGRESS="0")
    res = subprocess.run([sys.executable, "-m", "pipelines.ntscc.images", "evaluate", "--profile", PROFILE,
                          "--model", str(folder)], cwd=built, env=env, capture_output=True, text=True)
    assert res.returncode == 2, res.stderr
    assert "cannot read model weights" in res.stderr and "Traceback" not in res.stderr
    assert not (folder / "eval.csv").exists()


@pytest.mark.slow
def test_paper_profile_dry_runs_the_image_figures(project):
    """NTSCC's image figures and GJSCC's Figs. 6-9 in one dry run of the paper profile."""
    gjscc = [f"reports/gjscc/fig0{n}.pdf" for n in (6, 7, 8, 9)]
    res = subprocess.run([str(Path(sys.executable).parent / "snakemake"), "-n", "reports/fig11.pdf",
                          "reports/fig12.pdf", "reports/table1.pdf", *gjscc, "--config", "profile=paper"],
                         cwd=project, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    text = res.stdout + res.stderr
    for lam in ("1024", "256", "64", "16", "4"):  # the paper's lambda grid, one NTSCC per lambda
        assert f"ntscc_images_train_ntscc_mse_lam{lam}" in text
    for snr in ("1", "4", "7", "10", "13"):  # Fig. 12(a): lambda = 16 and deep JSCC fine-tuned at every test SNR
        for model in (f"ntscc_mse_lam16_snr{snr}", f"deepjscc_mse_c3_snr{snr}"):
            assert f"ntscc_images_train_{model}" in text and f"ntscc_images_evaluate_{model}" in text
    assert "data_open_images_train" in text
    # GJSCC at the paper's scale: CelebA-HQ, ImageNet, the official FFHQ G converted (not trained)
    for stage in ("data_celeba_hq", "data_imagenet", "data_ffhq_stylegan2", "gjscc_generator_convert",
                  "gjscc_train_deepjscc_natural_c8", "gjscc_train_generative_c2_stage2", "gjscc_inverse_natural_c2",
                  "gjscc_fig06", "gjscc_fig09"):
        assert stage in text, stage
    assert "gjscc_generator_train" not in text


@pytest.mark.slow
def test_tile_sweep_diagnostic(built, tmp_path, capsys):
    from pipelines.ntscc import tile_sweep

    out = tmp_path / "tiles.json"
    args = ["--profile", str(built / PROFILE), "--data", str(built / "data"), "--images", "1", "--tiles", "64", "128"]
    tile_sweep.main(args + ["--model", str(built / ROOT / "ntscc_mse_lam64"), "--out", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert [(r["tile"], r["tiles"]) for r in rows] == [(64, 4), (128, 1)]
    assert all(r["psnr"] > 5 and r["cbr"] > 0 and 0 < r["k_z_share"] < 1 for r in rows)  # z̄ and indices per tile
    whole = tmp_path / "whole.json"  # the profile's hyper_tile is 64: --hyper-tile 0 runs h_a / h_s on whole squares
    tile_sweep.main(args + ["--model", str(built / ROOT / "ntscc_mse_lam64"), "--out", str(whole), "--hyper-tile", "0"])
    untiled = json.loads(whole.read_text())
    assert untiled["hyper_tile"] is None and json.loads(out.read_text())["hyper_tile"] == 64
    assert untiled["rows"][0] == rows[0]  # a 64-px tile is one hyperprior tile either way
    assert untiled["rows"][1]["psnr"] != rows[1]["psnr"]  # the 128-px square: one hyperprior tile, not four
    with pytest.raises(SystemExit) as exc:
        tile_sweep.main(args + ["--model", str(built / ROOT / "deepjscc_mse_c3"), "--out", str(out)])
    assert exc.value.code == 2 and "a deepjscc model" in capsys.readouterr().err


@pytest.mark.slow
def test_learning_curve_diagnostic(built, tmp_path, capsys):
    from pipelines.ntscc import learning_curve

    args = ["--profile", str(built / PROFILE), "--data", str(built / "data"), "--images", "1", "--steps", "4",
            "--every", "2"]
    for transform in ("swin", "conv"):
        out = tmp_path / f"{transform}.json"
        learning_curve.main(args + ["--transform", transform, "--conv-channels", "8", "8", "--out", str(out)])
        rows = json.loads(out.read_text())["rows"]
        assert [r["step"] for r in rows] == [2, 4] and 0 < rows[0]["train_cpu_s"] < rows[1]["train_cpu_s"]
        assert all(r["psnr"] > 0 and r["bpp"] > 0 for r in rows)
        learning_curve.main(args + ["--transform", transform, "--conv-channels", "8", "8", "--out", str(out)])
        assert json.loads(out.read_text())["rows"] == rows  # a finished run resumes to its end and keeps its rows
    learning_curve.main(["--plot", str(tmp_path / "curves.pdf"), "--curves", *map(str, tmp_path.glob("*.json"))])
    assert (tmp_path / "curves.pdf").read_bytes()[:4] == b"%PDF"
    with pytest.raises(SystemExit) as exc:
        learning_curve.main(args + ["--profile", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "x.json")])
    assert exc.value.code == 2 and "missing.yaml" in capsys.readouterr().err


def _profile(tmp_path, name: str, images: str = "", **top):
    """The tiny profile with YAML lines added under ntscc.images and top-level keys overridden."""
    from pipelines.profile import load

    path = tmp_path / f"{name}.yaml"
    extra = "".join(f"{k}: {v}\n" for k, v in top.items())
    block = f"ntscc:\n  images:\n{images}" if images else ""
    path.write_text(f"extends: {Path(PROFILE).resolve()}\n{extra}{block}")
    return load(str(path))


def test_training_fingerprints_follow_what_training_reads(tmp_path):
    import torch

    from pipelines.ntscc.images import training_fingerprint

    ntc, other = tmp_path / "ntc.pt", tmp_path / "other.pt"
    torch.save({"w": torch.zeros(3)}, ntc)
    torch.save({"w": torch.ones(3)}, other)
    runs = {"ntc": ("ntc", {"lmbda": 64.0}), "deepjscc": ("deepjscc", {"c_out": 1}),
            "ntscc": ("ntscc", {"lmbda": 64.0, "ntc": str(ntc), "init": None})}

    def prints(profile, **params):
        return {kind: training_fingerprint(profile, kind, "images", sched, {**p, **params.get(kind, {})})
                for kind, (sched, p) in runs.items()}

    base = prints(_profile(tmp_path, "base"))
    # evaluation settings and other models' lists: every finished checkpoint stays valid
    assert prints(_profile(tmp_path, "eval", "    eta_test: [0.3]\n    test_snr_db: [1.0]\n"
                                             "    deepjscc: {filters: 8, c_out: [1, 2, 3]}\n")) == base
    assert set(prints(_profile(tmp_path, "crop", "    crop: 96\n")).values()).isdisjoint(base.values())
    jscc = prints(_profile(tmp_path, "jscc", "    jscc: {d: 16, n_e: 1, n_d: 1, heads: 2, rate_values: [4, 8]}\n"))
    assert jscc["ntc"] == base["ntc"] and jscc["deepjscc"] == base["deepjscc"] and jscc["ntscc"] != base["ntscc"]
    assert set(prints(_profile(tmp_path, "seed", seed=7)).values()).isdisjoint(base.values())
    # the NTC weights an NTSCC starts from count by value: new weights, new fingerprint; same weights elsewhere, same
    moved = tmp_path / "moved.pt"
    moved.write_bytes(ntc.read_bytes())
    same = prints(_profile(tmp_path, "base"), ntscc={"ntc": str(moved)})
    assert same["ntscc"] == base["ntscc"]
    assert prints(_profile(tmp_path, "base"), ntscc={"ntc": str(other)})["ntscc"] != base["ntscc"]


@pytest.mark.slow
def test_a_finished_model_survives_an_evaluation_edit_without_retraining(built, tmp_path):
    from jscc_core.training import weights_digest

    folder = built / ROOT / "ntscc_mse_lam64"
    before = weights_digest(folder / "model.pt"), json.loads((folder / "run.json").read_text())["final"]
    profile = built / PROFILE
    original = profile.read_text()
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/mlflow.db", JSCC_PROGRESS="0")
    try:
        profile.write_text(original.replace("eta_test: [0.2]", "eta_test: [0.2, 0.3]"))
        assert profile.read_text() != original
        res = subprocess.run([sys.executable, "-m", "pipelines.ntscc.images", "train-ntscc", "--profile", PROFILE,
                              "--lmbda", "64.0", "--ntc", f"{ROOT}/ntc_mse_lam64/model.pt", "--out", str(folder)],
                             cwd=built, env=env, capture_output=True, text=True)
    finally:
        profile.write_text(original)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "starting afresh" not in res.stdout + res.stderr
    after = weights_digest(folder / "model.pt"), json.loads((folder / "run.json").read_text())["final"]
    assert after == before and before[1]  # same weights, and the last metrics kept
