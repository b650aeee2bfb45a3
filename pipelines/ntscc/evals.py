"""NTSCC image evaluations: the columns of ``eval.csv``, the learned methods, and the mean
operating points the figures draw.

``eval.csv`` has one row per image and operating point (model, eta, test SNR): PSNR, MS-SSIM,
LPIPS-Alex (``lpips_alex``, ``pipelines.perceptual``), the channel uses k = k_y + k_z + k_q
(the latent's, the side information z's, the rate indices') and the CBR k / (3HW). An operating
point's CBR and quality are means over the images; MS-SSIM in dB is that of the mean MS-SSIM
(``jscc_core.metrics.ms_ssim_db``), for every method alike.
"""
from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from jscc_core.metrics import ms_ssim_db
from pipelines.figures.evals import EvalRun, group_points, mean, number, read_eval

EVAL_COLUMNS = ("method", "model", "variant", "distortion", "lmbda", "eta", "train_snr_db", "snr_db", "image_id",
                "psnr", "ms_ssim", "ms_ssim_db", "lpips_alex", "k_y", "k_z", "k_q", "k", "cbr", "run_key")
LPIPS_COLUMN = "lpips_alex"  # LPIPS with the AlexNet backbone (pipelines.perceptual)
METHODS = {"ntscc": "NTSCC", "comparison_i": "NTSCC w/o refinement (Comparison-I)",
           "comparison_ii": "Transformer deep JSCC (Comparison-II)", "deepjscc": "Deep JSCC"}  # variant -> method
#: Columns of an NTC's ``ntc_rd.csv`` (no channel, ``pipelines.ntscc.ntc_rd_eval``): one row per image.
RD_COLUMNS = ("model", "kind", "ntc", "distortion", "lmbda", "image_id", "height", "width", "bytes_y", "bytes_z",
              "bpp", "psnr", "ms_ssim", "encode_s", "decode_s", "run_key")
#: Model kind -> the NTC ``ntc_rd.csv`` holds: trained on its own, or g_a, h_a, h_s, g_s after joint training.
NTC_OF = {"ntc": "pretrained", "ntscc": "inside NTSCC", "comparison_i": "inside Comparison-I"}


#: (key, variant, training target, label) of the curves told apart by their training target (Figs. 14-16).
TARGET_CURVES = (("ntscc", "ntscc", "mse", "NTSCC (PSNR)"), ("ntscc_ms_ssim", "ntscc", "ms_ssim", "NTSCC (MS-SSIM)"),
                 ("ntscc_perceptual", "ntscc", "perceptual", "NTSCC (Perceptual)"),
                 ("deepjscc", "deepjscc", "mse", "Deep JSCC (PSNR)"),
                 ("deepjscc_ms_ssim", "deepjscc", "ms_ssim", "Deep JSCC (MS-SSIM)"))


def read_ntscc_eval(path: Path | str) -> EvalRun:
    """One image model's ``eval.csv`` (and ``eval.json``): the columns above, variants of ``METHODS``."""
    return read_eval(path, EVAL_COLUMNS, {"variant": METHODS})


@dataclass(frozen=True)
class OperatingPoint:
    """Means over the images of one (model, eta, SNR)."""

    method: str
    variant: str
    model: str
    distortion: str
    lmbda: float | None
    eta: float | None
    train_snr_db: float | None
    snr_db: float
    cbr: float
    psnr: float
    ms_ssim: float
    lpips_alex: float
    n_images: int
    k: float
    k_y: float
    k_z: float
    k_q: float
    run_key: str

    def quality(self, metric: str) -> float:
        """``metric`` "psnr" (dB), "ms_ssim_db" (MS-SSIM of the mean, in dB) or "lpips_alex" (minus the
        mean LPIPS-Alex, so that quality grows upwards for every metric)."""
        if metric == LPIPS_COLUMN:
            return -self.lpips_alex
        return self.psnr if metric == "psnr" else ms_ssim_db(self.ms_ssim)


def mean_operating_points(runs: Sequence[EvalRun]) -> list[OperatingPoint]:
    """One point per (model, eta, test SNR) of the evaluations, in order of first appearance."""
    out = []
    for (model, eta, snr), rows in group_points(runs, {"model": str, "eta": number, "snr_db": float}).items():
        first = rows[0]
        out.append(OperatingPoint(
            method=first["method"], variant=first["variant"], model=model, distortion=first["distortion"],
            lmbda=number(first["lmbda"]), eta=eta, train_snr_db=number(first["train_snr_db"]), snr_db=snr,
            cbr=mean(rows, "cbr"), psnr=mean(rows, "psnr"), ms_ssim=mean(rows, "ms_ssim"),
            lpips_alex=mean(rows, LPIPS_COLUMN), n_images=len(rows),
            k=mean(rows, "k"), k_y=mean(rows, "k_y"), k_z=mean(rows, "k_z"), k_q=mean(rows, "k_q"),
            run_key=first["run_key"]))
    return out


def write_eval_csv(path: Path, rows: Sequence[dict], columns: Sequence[str]) -> None:
    """Write per-image ``rows`` (dicts keyed by ``columns``; floats to 6 significant digits) to
    ``path`` through a temporary file, so a stopped stage leaves no half-written CSV."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(columns), lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    os.replace(tmp, path)
