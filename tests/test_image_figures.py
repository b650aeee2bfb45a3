"""NTSCC image figures and tables rendered from small synthetic inputs (made up here to exercise
the renderers; they are not results): outputs, paper rows, findings, BD "n/a", errors."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from jscc_core.digital.codecs import get_codec
from jscc_core.digital.separation import ImageResult, write_image_results_csv
from jscc_core.results import read_results_csv
from pipelines.ntscc import fig08, fig11, fig13, fig17, table1, table2, table3
from pipelines.ntscc.evals import EVAL_COLUMNS, METHODS
from pipelines.ntscc.rd import LDPC_MCS
from pipelines.profile import load

IMAGES = ("kodim01", "kodim02")
LABEL = get_codec("hevc").label
SWEEP_CBR = (0.02, 0.04, 0.06, 0.08, 0.10, 0.12)


@pytest.fixture(scope="module")
def profile():
    return load("mini")


def anchor_psnr(cbr: float) -> float:
    """The synthetic HEVC-intra + LDPC curve: 25 dB at CBR 0.02, +10 dB per decade."""
    return 25.0 + 10.0 * math.log10(cbr / 0.02)


def synthetic_lpips(psnr: float) -> float:
    """A synthetic LPIPS falling with PSNR: 0.5 at 25 dB, 0.02 lower per dB."""
    return 0.5 - 0.02 * (psnr - 25.0)


def write_eval(root: Path, model: str, variant: str, points, distortion: str = "mse", snr: float = 10.0,
               lmbda: float | None = 64.0, images: tuple[str, ...] = IMAGES) -> Path:
    """eval.csv + eval.json of one model; points = [(eta, cbr, psnr)] or [(eta, cbr, psnr, snr)], the
    images +-0.2 dB around psnr."""
    folder = root / model
    folder.mkdir(parents=True)
    path = folder / "eval.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(EVAL_COLUMNS)
        for eta, cbr, psnr, *at in points:
            test_snr = at[0] if at else snr
            for j, image in enumerate(images):
                p = psnr + (0.2 if j else -0.2)
                ms = 1 - 10 ** (-(p - 10) / 10)  # MS-SSIM in dB = PSNR - 10
                k = cbr * 3 * 512 * 768
                w.writerow([METHODS[variant], model, variant, distortion, "" if lmbda is None else lmbda,
                            "" if eta is None else eta, snr, test_snr, image, p, ms, -10 * math.log10(1 - ms),
                            synthetic_lpips(p), 0.9 * k, 0.08 * k, 0.02 * k, k, cbr, f"eval_{model}@abc"])
    path.with_suffix(".json").write_text(json.dumps({
        "run_id": f"run-{model}", "run_key": f"eval_{model}@abc", "model_run_id": f"train-{model}",
        "model_run_key": f"train_{model}@abc", "wall_time_s": 1.0, "parameters": 1000, "train_wall_time_s": 2.0,
        "data_checksums": {"kodak/kodim01.png": "sha256:1"}}))
    return path


def write_sweep(root: Path, snr: float = 10.0, images: tuple[str, ...] = IMAGES, ldpc: str = LDPC_MCS,
                name: str = "kodak_cbr") -> Path:
    rows = []
    for mcs, gain, mode in ((ldpc, 0.0, "abstraction"), ("capacity", 0.5, "ideal")):
        for cbr in SWEEP_CBR:
            for image in images:
                p = anchor_psnr(cbr) + gain
                k = int(cbr * 3 * 512 * 768)
                rows.append(ImageResult(image_id=image, codec="hevc", mcs=mcs, mode=mode, snr_db=snr,
                                        bandwidth_ratio=cbr, channel_uses_budget=k, channel_uses_spent=k,
                                        budget_bits=2.0 * k, stream_bits=2 * k - 100, quality=30, codewords=3,
                                        failed_codewords=0, status="ok", psnr=p, ms_ssim=1 - 10 ** (-(p - 10) / 10),
                                        lpips_alex=synthetic_lpips(p)))
    path = root / f"{name}.csv"
    write_image_results_csv(rows, path)
    path.with_suffix(".json").write_text(json.dumps({
        "run_id": "run-sweep", "run_key": f"separation_{name}@def", "wall_time_s": 3.0,
        "data_checksums": {"kodak/kodim01.png": "sha256:1", "kodak/kodim02.png": "sha256:2"}}))
    return path


def rd_inputs(root: Path, ntscc_offset: float, dj_gap=lambda r: 0.3 + 10 * (r - 0.03),
              distortion: str = "mse", images: tuple[str, ...] = IMAGES, **sweep) -> tuple[list[Path], Path]:
    """NTSCC ntscc_offset dB above the anchor (five lambda models at eta 0.2, two of them also at a
    dominated eta 0.1); Deep JSCC dj_gap(cbr) below NTSCC."""
    lams = (1, 1 / 4, 1 / 16, 1 / 32, 1 / 128) if distortion == "ms_ssim" else (1024, 256, 64, 16, 4)
    evals = []
    for i, (lam, r) in enumerate(zip(lams, (0.025, 0.045, 0.065, 0.085, 0.105))):
        points = [(0.2, r, anchor_psnr(r) + ntscc_offset)]
        if i in (1, 3):
            points.append((0.1, r + 0.002, anchor_psnr(r) + ntscc_offset - 1.0))
        evals.append(write_eval(root, f"ntscc_{distortion}_lam{lam:g}", "ntscc", points, distortion, lmbda=lam,
                                images=images))
    for r in (0.03, 0.06, 0.09, 0.12):
        evals.append(write_eval(root, f"deepjscc_{distortion}_c{round(r * 100)}", "deepjscc",
                                [(None, r, anchor_psnr(r) + ntscc_offset - dj_gap(r))], distortion, lmbda=None,
                                images=images))
    return evals, write_sweep(root, images=images, **sweep)


def _findings(out: Path) -> dict[str, dict]:
    return {f["claim"]: f for f in json.loads(out.with_suffix(".json").read_text())["extra"]["findings"]}


def test_fig11_ntscc_above_deep_jscc(profile, tmp_path):
    evals, sweep = rd_inputs(tmp_path, ntscc_offset=1.0)
    out = tmp_path / "reports" / "fig11.pdf"
    fig11.render(profile, evals, sweep, out, 10.0)
    assert out.read_bytes()[:4] == b"%PDF"
    rows = read_results_csv(out.with_suffix(".csv"))
    assert {r.panel for r in rows} == {"kodak"} and {r.source for r in rows} == {"ours"}
    assert {r.method for r in rows} == {"NTSCC", "Deep JSCC", f"{LABEL} + LDPC", f"{LABEL} + capacity"}
    ntscc = [r for r in rows if r.method == "NTSCC" and r.metric == "psnr"]
    assert len(ntscc) == 7 and sum(r.extra["on_envelope"] for r in ntscc) == 5
    assert all(r.extra["n_images"] == 2 for r in ntscc)
    bd = {(r.method, r.metric): r.value for r in rows if r.metric.startswith("bd_")}
    assert bd[("NTSCC", "bd_psnr_db")] == pytest.approx(1.0, abs=0.05)  # constructed 1 dB above the anchor
    assert bd[("NTSCC", "bd_cbr_percent")] == pytest.approx(100 * (10 ** -0.1 - 1), abs=1.0)
    assert bd[(f"{LABEL} + capacity", "bd_psnr_db")] == pytest.approx(0.5, abs=0.05)
    f = _findings(out)
    assert f["NTSCC above Deep JSCC on Kodak (PSNR)"]["holds"]
    assert f["NTSCC's PSNR gain over Deep JSCC grows with CBR on Kodak"]["holds"]
    assert f[f"NTSCC's BD-CBR vs {LABEL} + LDPC is negative on Kodak"]["holds"]
    prov = json.loads(out.with_suffix(".json").read_text())
    assert {"run-sweep", "run-ntscc_mse_lam64", "train-ntscc_mse_lam1024"} <= set(prov["mlflow_run_ids"])
    assert set(prov["data_checksums"]) == {"kodak/kodim01.png", "kodak/kodim02.png"}
    assert prov["extra"]["run_keys"]["train_ntscc_mse_lam64@abc"] == "train-ntscc_mse_lam64"
    assert any("CIFAR10 and CLIC2021 panels are left out" in n for n in prov["extra"]["notes"])


def test_fig11_findings_fail_when_ntscc_is_below(profile, tmp_path):
    # NTSCC 1 dB below the anchor, Deep JSCC 0.5 dB above NTSCC everywhere
    evals, sweep = rd_inputs(tmp_path, ntscc_offset=-1.0, dj_gap=lambda r: -0.5)
    out = tmp_path / "fig11.pdf"
    fig11.render(profile, evals, sweep, out, 10.0)
    f = _findings(out)
    assert not f["NTSCC above Deep JSCC on Kodak (PSNR)"]["holds"]
    assert not f["NTSCC's PSNR gain over Deep JSCC grows with CBR on Kodak"]["holds"]
    neg = f[f"NTSCC's BD-CBR vs {LABEL} + LDPC is negative on Kodak"]
    assert not neg["holds"] and neg["detail"].startswith("BD-CBR +")


def test_table1_paper_rows_beside_ours(profile, tmp_path):
    evals, sweep = rd_inputs(tmp_path, ntscc_offset=1.0)
    out = tmp_path / "table1.pdf"
    table1.render(profile, evals, sweep, out, 10.0)
    assert out.read_bytes()[:4] == b"%PDF"
    rows = read_results_csv(out.with_suffix(".csv"))
    paper = {(r.method, r.dataset, r.metric): r.value for r in rows if r.source == "paper"}
    assert paper[("NTSCC", "kodak", "bd_cbr_percent")] == -17.96
    assert paper[("NTSCC", "cifar10", "bd_psnr_db")] == 2.64
    assert paper[("Deep JSCC", "clic2021", "bd_cbr_percent")] == 54.31
    assert paper[(f"{LABEL} + capacity", "kodak", "bd_psnr_db")] == 0.97
    ours = [r for r in rows if r.source == "ours"]
    assert {r.dataset for r in ours} == {"cifar10", "kodak", "clic2021"}
    assert all(r.value is None and r.extra["reason"] == "not run" for r in ours if r.dataset != "kodak")
    kodak = {(r.method, r.metric): r.value for r in ours if r.dataset == "kodak"}
    assert kodak[("NTSCC", "bd_cbr_percent")] < 0 and kodak[(f"{LABEL} + LDPC", "bd_cbr_percent")] == 0.0
    # BD at equal LPIPS (synthetic_lpips: 0.02 less per dB): NTSCC 1 dB above the anchor
    assert kodak[("NTSCC", "bd_lpips_alex")] == pytest.approx(-0.02, abs=0.002)
    assert kodak[("NTSCC", "bd_cbr_at_lpips_percent")] == pytest.approx(kodak[("NTSCC", "bd_cbr_percent")], abs=1.0)
    assert _findings(out)[f"NTSCC's BD-CBR vs {LABEL} + LDPC is negative on Kodak"]["holds"]


def test_fig14_lpips_of_every_training_target_with_bd_lpips(profile, tmp_path):
    """LPIPS falls with PSNR here (synthetic_lpips): the perceptual NTSCC 1.5 dB above the anchor has
    0.03 less LPIPS at equal CBR and needs 10^-0.15 of its CBR at equal LPIPS."""
    from pipelines.ntscc import fig14

    mse, sweep = rd_inputs(tmp_path / "mse", ntscc_offset=1.0)
    ms_ssim, _ = rd_inputs(tmp_path / "ms_ssim", ntscc_offset=0.5, distortion="ms_ssim")
    perceptual, _ = rd_inputs(tmp_path / "perceptual", ntscc_offset=1.5, distortion="perceptual")
    out = tmp_path / "fig14.pdf"
    fig14.render(profile, mse + ms_ssim + perceptual, sweep, out, 10.0)
    rows = read_results_csv(out.with_suffix(".csv"))
    assert {r.method for r in rows} == {"NTSCC (PSNR)", "NTSCC (MS-SSIM)", "NTSCC (Perceptual)", "Deep JSCC (PSNR)",
                                        "Deep JSCC (MS-SSIM)", f"{LABEL} + LDPC"}
    anchor = [r for r in rows if r.method == f"{LABEL} + LDPC" and r.metric == "lpips_alex"]
    assert [r.value for r in anchor] == pytest.approx([synthetic_lpips(anchor_psnr(c)) for c in SWEEP_CBR])
    bd = {(r.method, r.metric): r.value for r in rows if r.metric.startswith("bd_")}
    assert bd[("NTSCC (Perceptual)", "bd_lpips_alex")] == pytest.approx(-0.03, abs=0.003)
    assert bd[("NTSCC (Perceptual)", "bd_cbr_percent")] == pytest.approx(100 * (10 ** -0.15 - 1), abs=1.5)
    assert bd[("NTSCC (PSNR)", "bd_lpips_alex")] == pytest.approx(-0.02, abs=0.003)
    f = _findings(out)
    assert all(f[f"NTSCC (Perceptual) has a lower LPIPS than {m} on Kodak"]["holds"]
               for m in ("NTSCC (PSNR)", "NTSCC (MS-SSIM)", "Deep JSCC (PSNR)", f"{LABEL} + LDPC"))
    prov = json.loads(out.with_suffix(".json").read_text())
    assert {"run-ntscc_perceptual_lam64", "run-ntscc_mse_lam64", "run-ntscc_ms_ssim_lam0.25"} <= set(
        prov["mlflow_run_ids"])
    assert prov["mlflow_run_ids"].count("run-sweep") == 1
    with pytest.raises(ValueError, match="no NTSCC operating point trained for perceptual"):
        fig14.render(profile, mse, sweep, tmp_path / "none.pdf", 10.0)


CIFAR = ("cifar10_test_0000", "cifar10_test_0001")


def test_fig11_and_table1_take_a_cifar10_panel_with_its_own_ldpc_anchor(profile, tmp_path):
    kodak = rd_inputs(tmp_path / "kodak", ntscc_offset=1.0)
    cifar = rd_inputs(tmp_path / "cifar", ntscc_offset=-1.0, images=CIFAR, ldpc="16QAM 2/3 k256", name="cifar_cbr")
    out = tmp_path / "fig11.pdf"
    fig11.render(profile, *kodak, out, 10.0, panels=[cifar])
    rows = read_results_csv(out.with_suffix(".csv"))
    assert {r.panel for r in rows} == {"kodak", "cifar10"}
    anchors = {r.dataset: r.extra["anchor_mcs"] for r in rows if r.metric == "bd_cbr_percent"}
    assert anchors == {"kodak": LDPC_MCS, "cifar10": "16QAM 2/3 k256"}
    f = _findings(out)
    assert f["NTSCC above Deep JSCC on Kodak (PSNR)"]["holds"]
    assert not f[f"NTSCC's BD-CBR vs {LABEL} + LDPC is negative on CIFAR10"]["holds"]
    assert "CLIC2021" in " ".join(json.loads(out.with_suffix(".json").read_text())["extra"]["notes"])

    table = tmp_path / "table1.pdf"
    table1.render(profile, *kodak, table, 10.0, panels=[cifar])
    rows = read_results_csv(table.with_suffix(".csv"))
    ours = {(r.method, r.dataset, r.metric): r for r in rows if r.source == "ours"}
    assert ours[("NTSCC", "kodak", "bd_cbr_percent")].value < 0 < ours[("NTSCC", "cifar10", "bd_cbr_percent")].value
    assert ours[("NTSCC", "clic2021", "bd_cbr_percent")].extra["reason"] == "not run"
    with pytest.raises(ValueError, match="same data set"):
        table1.render(profile, *kodak, table, 10.0, panels=[kodak])


def test_bd_is_na_when_curves_do_not_overlap(profile, tmp_path):
    # far above the sweep and beyond its CBRs
    ntscc = [(eta, r, 45.0 + 10 * r) for eta, r in zip((0.05, 0.1, 0.15, 0.2), (0.3, 0.4, 0.5, 0.6))]
    evals = [write_eval(tmp_path, "ntscc_mse_lam4", "ntscc", ntscc)]
    out = tmp_path / "table1.pdf"
    table1.render(profile, evals, write_sweep(tmp_path), out, 10.0)
    rows = read_results_csv(out.with_suffix(".csv"))
    ntscc_bd = [r for r in rows if r.source == "ours" and r.method == "NTSCC" and r.dataset == "kodak"]
    assert {r.metric for r in ntscc_bd} == {"bd_cbr_percent", "bd_psnr_db", "bd_cbr_at_lpips_percent", "bd_lpips_alex"}
    assert all(r.value is None and r.extra["reason"] == "n/a (no overlap)" for r in ntscc_bd)
    deep = [r for r in rows if r.source == "ours" and r.method == "Deep JSCC" and r.dataset == "kodak"]
    assert deep and all(r.extra["reason"] == "not in the inputs" for r in deep)
    f = _findings(out)[f"NTSCC's BD-CBR vs {LABEL} + LDPC is negative on Kodak"]
    assert not f["holds"] and "no overlap" in f["detail"]


def test_fig13_and_table2_on_ms_ssim_models(profile, tmp_path):
    evals, sweep = rd_inputs(tmp_path, ntscc_offset=1.0, distortion="ms_ssim")
    mse_evals, _ = rd_inputs(tmp_path / "mse", ntscc_offset=1.0)
    fig, table = tmp_path / "fig13.pdf", tmp_path / "table2.pdf"
    fig13.render(profile, evals + mse_evals, sweep, fig, 10.0)  # the MSE-trained models are left out
    table2.render(profile, evals, sweep, table, 10.0)
    prov = json.loads(fig.with_suffix(".json").read_text())
    assert "run-ntscc_ms_ssim_lam1" in prov["mlflow_run_ids"]
    assert not any("_mse_" in r for r in prov["mlflow_run_ids"])
    rows = read_results_csv(fig.with_suffix(".csv"))
    assert not any("mse" in r.extra.get("model", "") for r in rows)
    assert {r.metric for r in rows if not r.metric.startswith("bd_")} == {"ms_ssim_db"}
    f = _findings(fig)
    assert f["NTSCC above Deep JSCC on Kodak (MS-SSIM)"]["holds"]
    assert f[f"NTSCC above {LABEL} + capacity on Kodak (MS-SSIM)"]["holds"]
    rows = read_results_csv(table.with_suffix(".csv"))
    assert {r.dataset for r in rows} == {"kodak", "clic2021"}
    (illegible,) = [r for r in rows if r.source == "paper" and r.method == "Deep JSCC" and r.dataset == "clic2021"
                    and r.metric == "bd_ms_ssim_db"]
    assert illegible.value is None and "illegible" in illegible.extra["reason"]
    ours = {r.metric: r.value for r in rows if r.source == "ours" and r.method == "NTSCC" and r.dataset == "kodak"}
    assert ours["bd_ms_ssim_db"] == pytest.approx(1.0, abs=0.1)
    with pytest.raises(ValueError, match="no NTSCC operating point trained for mse"):  # MSE figure, MS-SSIM models
        fig11.render(profile, evals, sweep, tmp_path / "fig11.pdf", 10.0)


def write_snr_sweep(root: Path, ratios: tuple[float, ...] = (0.0625,), snrs=(0.0, 4.0, 8.0, 12.0)) -> Path:
    """A separation sweep over SNR: a robust MCS at 22 dB everywhere, a fast one at 18 dB below 8 dB
    and 26 dB from 8 dB up, capacity at 20 + SNR / 2 dB."""
    rows = []
    for mcs, mode, psnr in (("QPSK 1/2", "abstraction", lambda s: 22.0), ("16QAM 2/3", "abstraction",
                            lambda s: 18.0 if s < 8 else 26.0), ("capacity", "ideal", lambda s: 20.0 + s / 2)):
        for ratio in ratios:
            for s in snrs:
                for image in IMAGES:
                    k = int(ratio * 3 * 512 * 768)
                    p = psnr(s)
                    rows.append(ImageResult(image_id=image, codec="hevc", mcs=mcs, mode=mode, snr_db=s,
                                            bandwidth_ratio=ratio, channel_uses_budget=k, channel_uses_spent=k,
                                            budget_bits=2.0 * k, stream_bits=2 * k - 100, quality=30, codewords=3,
                                            failed_codewords=0, status="ok", psnr=p,
                                            ms_ssim=1 - 10 ** (-(p - 10) / 10)))
    path = root / "kodak_awgn.csv"
    write_image_results_csv(rows, path)
    path.with_suffix(".json").write_text(json.dumps({
        "run_id": "run-snr-sweep", "run_key": "separation_kodak_awgn@ghi", "wall_time_s": 3.0,
        "data_checksums": {"kodak/kodim01.png": "sha256:1", "kodak/kodim02.png": "sha256:2"}}))
    return path


def test_fig13_panel_c_ms_ssim_versus_snr(profile, tmp_path):
    sweep = write_sweep(tmp_path)
    snrs = (1.0, 4.0, 7.0, 10.0, 13.0)
    # NTSCC within R <= 1/16, and a better point above it that the panel must leave out
    evals = [write_eval(tmp_path, "ntscc_ms_ssim_sweep", "ntscc",
                        [(0.2, 0.06, 24.0 + 0.3 * s, s) for s in snrs] + [(0.6, 0.08, 40.0, s) for s in snrs],
                        "ms_ssim", lmbda=0.25),
             write_eval(tmp_path, "deepjscc_ms_ssim_c3", "deepjscc", [(None, 0.0625, 22.0 + 0.3 * s, s)
                                                                     for s in snrs], "ms_ssim", lmbda=None)]
    out = tmp_path / "fig13.pdf"
    fig13.render(profile, evals, sweep, out, 10.0, snr_sweep=write_snr_sweep(tmp_path))
    rows = [r for r in read_results_csv(out.with_suffix(".csv")) if r.panel == "kodak_snr"]
    ntscc = sorted((r for r in rows if r.method == "NTSCC"), key=lambda r: r.snr_db)
    assert [r.snr_db for r in ntscc] == list(snrs)
    assert all(r.bandwidth_ratio <= 1 / 16 for r in ntscc)  # the point at R = 0.08 is left out
    assert [r.value for r in ntscc] == pytest.approx([14.0 + 0.3 * s for s in snrs], abs=0.05)
    ldpc = {r.snr_db: (r.value, r.extra["mcs"]) for r in rows if r.method == f"{LABEL} + LDPC (best MCS per SNR)"}
    assert ldpc[4.0] == (pytest.approx(12.0, abs=0.05), "QPSK 1/2") and ldpc[8.0][1] == "16QAM 2/3"
    assert len([r for r in rows if r.method == f"{LABEL} + capacity"]) == 4
    f = _findings(out)["NTSCC above Deep JSCC at every test SNR on Kodak (MS-SSIM, R <= 0.0625)"]
    assert f["holds"] and "+2.00 to +2.00 dB" in f["detail"]
    prov = json.loads(out.with_suffix(".json").read_text())
    assert {"run-snr-sweep", "run-ntscc_ms_ssim_sweep"} <= set(prov["mlflow_run_ids"])
    assert not any("panel (c) is not drawn" in n for n in prov["extra"]["notes"])

    worse = tmp_path / "worse"  # deep JSCC above NTSCC: the finding says so
    ev = [write_eval(worse, "ntscc_ms_ssim_sweep", "ntscc", [(0.2, 0.06, 24.0, s) for s in snrs] +
                     [(0.1, 0.03, 20.0, 10.0)], "ms_ssim", lmbda=0.25),
          write_eval(worse, "deepjscc_ms_ssim_c3", "deepjscc", [(None, 0.0625, 25.0, s) for s in snrs], "ms_ssim",
                     lmbda=None)]
    fig13.render(profile, ev, sweep, worse / "fig13.pdf", 10.0, snr_sweep=write_snr_sweep(worse))
    f = _findings(worse / "fig13.pdf")["NTSCC above Deep JSCC at every test SNR on Kodak (MS-SSIM, R <= 0.0625)"]
    assert not f["holds"] and "-1.00" in f["detail"]
    two = tmp_path / "two"
    two.mkdir()
    with pytest.raises(ValueError, match="one bandwidth ratio"):
        fig13.render(profile, evals, sweep, two / "fig13.pdf", 10.0,
                         snr_sweep=write_snr_sweep(two, ratios=(0.0625, 0.125)))


def _ablation(root: Path, order: tuple[float, float, float]) -> tuple[list[Path], Path]:
    evals = []
    for variant, off in zip(("ntscc", "comparison_i"), order):
        for lam, r in zip((1024, 256, 64, 16, 4), (0.03, 0.05, 0.07, 0.09, 0.11)):
            evals.append(write_eval(root, f"{variant}_mse_lam{lam}", variant,
                                    [(0.2 if variant == "ntscc" else None, r, anchor_psnr(r) + off)], lmbda=lam))
    for r in (0.04, 0.0625, 0.1):
        evals.append(write_eval(root, f"comparison_ii_mse_cbr{r}", "comparison_ii",
                                [(None, r, anchor_psnr(r) + order[2])], lmbda=None))
    return evals, write_sweep(root)


@pytest.mark.parametrize("order, holds", [((1.5, 1.0, 0.5), True), ((0.5, 1.0, 1.5), False)])
def test_fig17_ablation_findings(profile, tmp_path, order, holds):
    evals, sweep = _ablation(tmp_path, order)
    out = tmp_path / "fig17.pdf"
    fig17.render(profile, evals, sweep, out, 10.0)
    assert out.read_bytes()[:4] == b"%PDF"
    methods = {r.method for r in read_results_csv(out.with_suffix(".csv"))}
    assert methods == {METHODS["ntscc"], METHODS["comparison_i"], METHODS["comparison_ii"],
                       f"{LABEL} + LDPC"}
    f = _findings(out)
    assert f["refinement adds PSNR (NTSCC above Comparison-I)"]["holds"] is holds
    assert f["rate adaptation adds PSNR (Comparison-I above Comparison-II)"]["holds"] is holds


def write_maps(root: Path, rate_follows_texture: bool) -> Path:
    """A 64 x 96 image, flat on the left and textured on the right; 4 x 6 patches of 16 x 16 pixels."""
    rng = np.random.default_rng(0)
    image = np.full((64, 96, 3), 120, dtype=np.uint8)
    image[:, 48:] = rng.integers(0, 256, size=(64, 48, 3), dtype=np.uint8)
    texture = np.zeros((4, 6))
    texture[:, 3:] = 1
    if not rate_follows_texture:
        texture = 1 - texture
    lambdas = np.array([256.0, 16.0, 4.0])
    maps = np.stack([16 + (48 + 32 * i) * texture + rng.integers(0, 8, size=(4, 6)) for i in range(3)])
    cbr = maps.sum(axis=(1, 2)) * 1.1 / (3 * 64 * 96)
    path = root / "maps.npz"
    np.savez(path, image=image, lambdas=lambdas, maps=maps, cbr=cbr, eta=np.float64(0.2))
    path.with_suffix(".json").write_text(json.dumps({
        "run_id": "run-maps", "run_key": "ntscc_fig08_maps@ghi", "image_id": "kodim04",
        "model_run_ids": {"ntscc_mse_lam256": "m1", "ntscc_mse_lam16": "m2", "ntscc_mse_lam4": "m3"},
        "wall_time_s": 1.5, "cbr_is": "k_y / (3 H W)"}))
    return path


@pytest.mark.parametrize("follows", [True, False])
def test_fig08_rate_maps_and_complexity(profile, tmp_path, follows):
    out = tmp_path / "fig08.pdf"
    fig08.render(profile, write_maps(tmp_path, follows), out)
    assert out.read_bytes()[:4] == b"%PDF"
    rows = read_results_csv(out.with_suffix(".csv"))
    assert {r.panel for r in rows} == {"b", "c", "d"} and {r.dataset for r in rows} == {"kodak"}
    assert sum(r.metric == "channel_uses" for r in rows) == 3 * 4 * 6
    f = _findings(out)
    assert f["rate maps spend more bandwidth on complex regions"]["holds"] is follows
    assert f["a smaller λ spends more bandwidth"]["holds"]
    prov = json.loads(out.with_suffix(".json").read_text())
    assert {"run-maps", "m1", "m2", "m3"} == set(prov["mlflow_run_ids"])


def test_table3_timing_beside_the_paper(profile, tmp_path):
    timing = tmp_path / "timing.json"
    timing.write_text(json.dumps({
        "methods": {"NTSCC": {"parameters": 1_500_000, "seconds_per_image": 0.8, "images": 2},
                    "Deep JSCC": {"parameters": 400_000, "seconds_per_image": 0.2, "images": 2},
                    "HEVC-intra + LDPC": {"parameters": None, "seconds_per_image": 1.9, "images": 2}},
        "run_id": "run-timing", "run_key": "ntscc_table3@jkl", "model_run_ids": ["m1", "m2"], "device": "cpu",
        "threads": 2, "wall_time_s": 9.0}))
    out = tmp_path / "table3.pdf"
    table3.main(["--profile", "mini", "--timing", str(timing), "--out", str(out)])
    assert out.read_bytes()[:4] == b"%PDF"
    rows = read_results_csv(out.with_suffix(".csv"))
    paper = {(r.method, r.dataset, r.metric): r.value for r in rows if r.source == "paper"}
    assert paper[("NTSCC", "", "parameters")] == 32.94e6 and paper[("BPG", "clic2021", "seconds_per_image")] == 4.21
    ours = {(r.method, r.dataset, r.metric): r for r in rows if r.source == "ours"}
    assert ours[("NTSCC", "kodak", "seconds_per_image")].value == 0.8
    assert ours[("NTSCC", "clic2021", "seconds_per_image")].extra["reason"] == "not run"
    assert set(json.loads(out.with_suffix(".json").read_text())["mlflow_run_ids"]) == {"run-timing", "m1", "m2"}
    (finding,) = _findings(out).values()
    assert not finding["holds"]  # Deep JSCC is faster in these numbers


def test_missing_inputs_name_the_file(tmp_path, capsys):
    evals, sweep = rd_inputs(tmp_path, ntscc_offset=1.0)
    missing = tmp_path / "nope" / "eval.csv"
    with pytest.raises(SystemExit) as exc:
        fig11.main(["--profile", "mini", "--eval", str(evals[0]), str(missing), "--sweep-csv", str(sweep),
                  "--out", str(tmp_path / "fig11.pdf")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "Traceback" not in err
    evals[0].with_suffix(".json").unlink()
    with pytest.raises(SystemExit) as exc:
        table1.main(["--profile", "mini", "--eval", *map(str, evals), "--sweep-csv", str(sweep),
                  "--out", str(tmp_path / "table1.pdf")])
    assert exc.value.code == 2 and str(evals[0].with_suffix(".json")) in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        fig08.main(["--profile", "mini", "--out", str(tmp_path / "fig08.pdf")])
    assert exc.value.code == 2 and "required: --maps" in capsys.readouterr().err
    assert not (tmp_path / "fig11.pdf").exists() and not (tmp_path / "table1.pdf").exists()


def test_crop_cost_against_hevc_at_equal_lpips():
    from pipelines.ntscc.crops import matched_cost

    curve = [(0.02, 0.40), (0.04, 0.30), (0.08, 0.20), (0.16, 0.25)]  # the last point lost: not on the envelope
    cost, rel = matched_cost(0.02, 0.25, curve)  # HEVC needs sqrt(0.04 * 0.08) for LPIPS 0.25 (log interpolation)
    assert rel == "=" and cost == pytest.approx(100 * (0.02 / (0.04 * 0.08) ** 0.5 - 1))
    assert matched_cost(0.06, 0.10, curve) == (pytest.approx(100 * (0.06 / 0.16 - 1)), "<=")  # never reached
    assert matched_cost(0.03, 0.50, curve) == (pytest.approx(50.0), ">=")  # HEVC better already at its lowest R
    with pytest.raises(ValueError, match="no LPIPS"):
        matched_cost(0.03, 0.5, [(0.02, None)])
