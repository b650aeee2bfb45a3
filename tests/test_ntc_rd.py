"""The NTC rate-distortion diagnostic (pipelines/ntscc/ntc_rd_eval.py, ntc_rd.py) on tiny NTC and
NTSCC models with random weights, two Kodak images: real byte counts, PSNR that recomputes, the
page beside HEVC-intra, and bad checkpoints named. The sweep and NTSCC evaluation the page reads
are made up here to exercise it; they are not results."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from jscc_core import registry
from jscc_core.digital.separation import ImageResult, write_image_results_csv
from jscc_core.images import to_tensor, to_uint8
from jscc_core.results import read_results_csv
from ntscc.image.model import ImageNTSCC
from ntscc.image.ntc import ImageNTC
from pipelines.ntscc import images, ntc_rd, ntc_rd_eval
from pipelines.ntscc.evals import EVAL_COLUMNS
from pipelines.profile import load

TINY = str(Path(__file__).parent / "profiles" / "images_tiny.yaml")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    try:
        registry.fetch("kodak", root=root, progress=False)
    except registry.DataUnavailableError as exc:
        pytest.skip(f"data mirror lacks kodak: {exc}")
    return root


def _save(folder: Path, model, kind: str, lmbda: float) -> Path:
    folder.mkdir(parents=True)
    model.update(force=True)
    torch.save(model.state_dict(), folder / "model.pt")
    name = folder.name
    (folder / "run.json").write_text(json.dumps({
        "kind": kind, "name": name, "params": {"lmbda": lmbda, "distortion": "mse", "tag": name},
        "run_id": f"train-{name}", "run_key": f"train_{name}@abc", "wall_time_s": 1.0, "parameters": 1,
        "data_checksums": {}}))
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory, data, one_thread):
    """A tiny NTC (λ 64) and an NTSCC built on it with the same weights, each evaluated."""
    profile = load(TINY)
    cfg = images.images_cfg(profile)
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    ntc = ImageNTC(images.ntc_config(cfg))
    ntscc = ImageNTSCC.from_pretrained_ntc(images.ntscc_config(cfg), ntc)
    folders = (_save(root / "ntc_mse_lam64", ntc, "ntc", 64.0), _save(root / "ntscc_mse_lam64", ntscc, "ntscc", 64.0))
    for folder in folders:
        ntc_rd_eval.main(["run", "--profile", TINY, "--data", str(data), "--model", str(folder)])
    return profile, folders


def _rows(folder: Path) -> list[dict]:
    with open(folder / "ntc_rd.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_bpp_is_the_real_byte_count_and_psnr_recomputes(models, data):
    profile, (ntc_dir, ntscc_dir) = models
    model, _ = images.load_model(profile, ntc_dir)
    test = images.test_images(profile, data)
    rows = _rows(ntc_dir)
    assert [r["image_id"] for r in rows] == list(test) == ["kodim01", "kodim02"]
    for r in rows:
        img = test[r["image_id"]]
        coded = model.compress(to_tensor(img))
        assert (int(r["bytes_y"]), int(r["bytes_z"])) == tuple(sum(map(len, s)) for s in coded["strings"])
        h, w = img.shape[:2]
        assert (int(r["height"]), int(r["width"])) == (h, w)
        assert float(r["bpp"]) == pytest.approx(8 * (int(r["bytes_y"]) + int(r["bytes_z"])) / (h * w), rel=1e-5)
        rec = to_uint8(model.decompress(coded["strings"], coded["shape"])["x_hat"])[0]
        mse = np.mean((img.astype(np.float64) - rec) ** 2)
        assert float(r["psnr"]) == pytest.approx(10 * np.log10(255 ** 2 / mse), abs=1e-4)
        assert float(r["encode_s"]) > 0 and float(r["decode_s"]) > 0 and r["ntc"] == "pretrained"
    inside = _rows(ntscc_dir)  # NTSCC built on the same weights: its NTC codes every image the same
    assert [r["ntc"] for r in inside] == ["inside NTSCC"] * 2
    assert [(r["bytes_y"], r["bytes_z"], r["psnr"]) for r in inside] == [(r["bytes_y"], r["bytes_z"], r["psnr"])
                                                                        for r in rows]
    info = json.loads((ntc_dir / "ntc_rd.json").read_text())
    assert info["model_run_key"] == "train_ntc_mse_lam64@abc" and info["images"] == 2
    # the images it coded (a test process may have read other Kodak files before, and records them too)
    assert {"kodak/kodim01.png", "kodak/kodim02.png"} <= set(info["data_checksums"])


def _sweep(root: Path, bits: tuple[int, ...]) -> Path:
    rows = [ImageResult(image_id=f"kodim0{i}", codec="hevc", mcs=mcs, mode="ideal" if mcs == "capacity" else "exact",
                        snr_db=10.0, bandwidth_ratio=0.03 * (j + 1), channel_uses_budget=1, channel_uses_spent=1,
                        budget_bits=b + 10.0, stream_bits=b + 1000 * i, quality=30, codewords=0, failed_codewords=0,
                        status="ok", psnr=25.0 + 2 * j + i, ms_ssim=0.9)
            for mcs in ("capacity", "16qam-2/3") for j, b in enumerate(bits) for i in (1, 2)]
    path = root / "kodak_cbr.csv"
    write_image_results_csv(rows, path)
    path.with_suffix(".json").write_text(json.dumps({"run_id": "run-sweep", "run_key": "separation_kodak_cbr@d",
                                                     "wall_time_s": 2.0, "data_checksums": {}}))
    return path


def _ntscc_eval(root: Path, psnr: dict[str, float]) -> Path:
    path = root / "eval.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(EVAL_COLUMNS)
        for eta, offset in ((0.1, -1.0), (0.2, 0.0)):  # the better η is the point compared
            for image, p in psnr.items():
                row = {"method": "NTSCC", "model": "ntscc_mse_lam64", "variant": "ntscc", "distortion": "mse",
                       "lmbda": 64.0, "eta": eta, "train_snr_db": 10.0, "snr_db": 10.0, "image_id": image,
                       "psnr": p + offset, "ms_ssim": 0.9, "ms_ssim_db": 10.0, "lpips_alex": 0.3, "k_y": 90,
                       "k_z": 8, "k_q": 2, "k": 100, "cbr": 0.05, "run_key": "eval_ntscc@e"}
                w.writerow([row[c] for c in EVAL_COLUMNS])
    path.with_suffix(".json").write_text(json.dumps({"run_id": "run-eval", "run_key": "eval_ntscc@e",
                                                     "wall_time_s": 1.0}))
    return path


def test_page_sets_the_ntcs_beside_hevc_intra_and_ntscc(models, tmp_path):
    profile, folders = models
    rows = _rows(folders[0])
    ntc_psnr = np.mean([float(r["psnr"]) for r in rows])
    ntc_bpp = np.mean([float(r["bpp"]) for r in rows])
    sweep = _sweep(tmp_path, (int(0.5 * ntc_bpp * 393216), int(2 * ntc_bpp * 393216)))
    ev = _ntscc_eval(tmp_path, {r["image_id"]: float(r["psnr"]) - 0.5 for r in rows})
    out = tmp_path / "ntc_rd.pdf"
    ntc_rd.main(["--profile", TINY, "--rd", *(str(f / "ntc_rd.csv") for f in folders), "--sweep-csv", str(sweep),
                 "--ntscc-eval", str(ev), "--out", str(out)])
    assert out.read_bytes()[:4] == b"%PDF"
    got = read_results_csv(out.with_suffix(".csv"))
    hevc = sorted((r.extra["bpp"], r.value) for r in got if r.method.startswith("HEVC"))
    # one point per stream budget: mean of stream bits / (H W) and of PSNR over the two images
    assert hevc[0][0] == pytest.approx((2 * int(0.5 * ntc_bpp * 393216) + 3000) / 2 / 393216)
    assert [q for _, q in hevc] == [26.5, 28.5]
    assert {r.source for r in got} == {"ours", "reference"}
    assert all(r.method.startswith("CompressAI") for r in got if r.source == "reference")
    findings = json.loads(out.with_suffix(".json").read_text())["extra"]["findings"]
    ceiling = findings[0]
    assert ceiling["holds"] and "(-0.50 dB)" in ceiling["detail"]
    assert f"{ntc_psnr - 0.5:.2f} dB (η 0.2" in ceiling["detail"]  # the better η of the two
    hevc_gap = next(f for f in findings if f["claim"].startswith("the NTC (pretrained) reaches HEVC-intra"))
    assert not hevc_gap["holds"] and "PSNR gap" in hevc_gap["detail"]  # random weights: far below


def test_bad_checkpoints_are_named(models, data, tmp_path, capsys):
    _, (ntc_dir, _) = models
    bad = tmp_path / "ntc_mse_lam64"
    bad.mkdir()
    (bad / "run.json").write_bytes((ntc_dir / "run.json").read_bytes())
    (bad / "model.pt").write_bytes((ntc_dir / "model.pt").read_bytes()[:500])
    with pytest.raises(SystemExit) as exc:
        ntc_rd_eval.main(["run", "--profile", TINY, "--data", str(data), "--model", str(bad)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "cannot read model weights" in err and str(bad / "model.pt") in err
    assert not (bad / "ntc_rd.csv").exists()
    meta = json.loads((ntc_dir / "run.json").read_text())
    (bad / "run.json").write_text(json.dumps({**meta, "kind": "deepjscc", "params": {"c_out": 1}}))
    torch.save(images.DeepJSCC(1, filters=8).state_dict(), bad / "model.pt")
    with pytest.raises(SystemExit):
        ntc_rd_eval.main(["run", "--profile", TINY, "--data", str(data), "--model", str(bad)])
    assert "a deepjscc model has no NTC with a hyperprior" in capsys.readouterr().err
