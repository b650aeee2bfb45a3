"""NTSCC Fig. 13 (Sec. IV-C 2): MS-SSIM in dB, -10 log10(1 - MS-SSIM), of MS-SSIM-trained NTSCC
and deep JSCC over AWGN: versus CBR at one SNR beside HEVC-intra + LDPC / + capacity, one panel
per data set (a, b), and, given a separation sweep over SNR at one bandwidth ratio, versus SNR
at that ratio (c).

    python -m pipelines.ntscc.fig13 --profile mini --snr 10 \\
        --eval results/mini/ntscc/images/*_ms_ssim_*/eval.csv --sweep-csv results/mini/separation/kodak_cbr.csv \\
        [--snr-sweep-csv results/mini/separation/kodak_awgn.csv] --out reports/ntscc/fig13.pdf

Writes fig13.pdf, fig13.csv (every plotted point and BD value) and fig13.json (provenance).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jscc_core.digital.codecs import get_codec
from jscc_core.digital.separation import CAPACITY, envelope, read_image_results_csv, summarize
from jscc_core.metrics import ms_ssim_db
from jscc_core.results import ResultRow
from pipelines.figures.cli import figure_parser, run_figure
from pipelines.figures.evals import need_file, read_record
from pipelines.figures.findings import MISSING, Finding
from pipelines.ntscc.rd import (
    DATASETS,
    QUALITY_NAME,
    Panel,
    RDInputs,
    add_rd_arguments,
    dataset_of,
    learned_curves,
    panels_of,
    rd_findings,
)
from pipelines.ntscc.rd_pages import QUALITY_LABEL, STYLE, render_rd_figure
from pipelines.profile import load

METRIC, DISTORTION = "ms_ssim_db", "ms_ssim"


def snr_panel(ax, inputs: RDInputs, sweep_csv: Path, fig_id: str = "fig13", metric: str = METRIC,
              distortion: str = DISTORTION) -> tuple[list[ResultRow], list[Finding], list[str], dict[str, Any]]:
    """Quality versus SNR at the one bandwidth ratio of a separation sweep over SNR (Fig. 13(c)) on
    ``inputs``' data set: NTSCC's best point with mean R <= that ratio at each SNR, deep JSCC at it,
    HEVC-intra + LDPC as the best MCS per SNR (a genie that knows the SNR) and + capacity.
    Returns rows, findings, notes and the sweep's provenance."""
    dataset, points = inputs.dataset, inputs.points
    sweep_csv = need_file(Path(sweep_csv), "separation sweep CSV over SNR")
    meta = read_record(sweep_csv.with_suffix(".json"), f"sweep record beside {sweep_csv.name}")
    results = read_image_results_csv(sweep_csv)
    ratios = sorted({r.bandwidth_ratio for r in results})
    if len(ratios) != 1:
        raise ValueError(f"{sweep_csv}: the SNR panel needs one bandwidth ratio, the sweep has {ratios}")
    if dataset_of((r.image_id for r in results), str(sweep_csv)) != dataset:
        raise ValueError(f"{sweep_csv}: the sweep's images are not from {dataset}, the evaluated data set")
    ratio, key = ratios[0], meta["run_key"]
    label = get_codec(sorted({r.codec for r in results})[0]).label
    panel, q = f"{dataset}_snr", QUALITY_NAME[metric]
    learned = learned_curves([p for p in points if p.distortion == distortion], ratio, metric)
    rows: list[ResultRow] = []
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for method, pts in learned.items():
        variant = pts[0].variant
        x, y = np.array([p.snr_db for p in pts]), np.array([p.quality(metric) for p in pts])
        style = {k: v for k, v in STYLE.get(variant, dict(marker="o")).items() if k != "ls"}
        ax.plot(x, y, "-", ms=5, label=f"{method} (trained at {pts[0].train_snr_db:g} dB)", **style)
        curves[variant] = (x, y)
        rows += [ResultRow(figure=fig_id, panel=panel, method=method, dataset=dataset, snr_db=p.snr_db,
                           bandwidth_ratio=p.cbr, metric=metric, value=p.quality(metric), run_id=p.run_key,
                           extra={"model": p.model, "eta": p.eta, "lmbda": p.lmbda, "train_snr_db": p.train_snr_db,
                                  "n_images": p.n_images, "mean_ms_ssim": p.ms_ssim, "channel_use": "complex"})
                 for p in pts]
    sep_metric = "psnr" if metric == "psnr" else "ms_ssim"
    env = envelope([r for r in results if r.mcs != CAPACITY], by=("snr_db",), metric=sep_metric)
    for skey, name, rs in (("ldpc", f"{label} + LDPC (best MCS per SNR)", env),
                           ("capacity", f"{label} + capacity", [r for r in results if r.mcs == CAPACITY])):
        groups = sorted(summarize(rs, by=("snr_db", "mcs")), key=lambda d: d["snr_db"])
        if not groups:
            continue
        x = np.array([d["snr_db"] for d in groups])
        y = np.array([d["mean_psnr"] if metric == "psnr" else ms_ssim_db(d["mean_ms_ssim"]) for d in groups])
        style = dict(STYLE[skey])
        ax.plot(x, y, ls=style.pop("ls", "-"), ms=5, label=name, **style)
        curves[skey] = (x, y)
        rows += [ResultRow(figure=fig_id, panel=panel, method=name, dataset=dataset, snr_db=d["snr_db"],
                           bandwidth_ratio=ratio, metric=metric, value=float(v), run_id=key,
                           extra={"mcs": d["mcs"], "loss_rate": d["loss_rate"], "n_images": d["n_images"],
                                  "mean_ms_ssim": d["mean_ms_ssim"], "channel_use": "complex"})
                 for d, v in zip(groups, y)]
    claim = f"NTSCC above Deep JSCC at every test SNR on {DATASETS[dataset]} ({q}, R <= {ratio:g})"
    if "ntscc" in curves and "deepjscc" in curves:
        (xn, yn), (xd, yd) = curves["ntscc"], curves["deepjscc"]
        common = sorted(set(xn.tolist()) & set(xd.tolist()))
        g = [float(yn[xn == s][0] - yd[xd == s][0]) for s in common]
        findings = [Finding(claim, bool(g) and min(g) > 0,
                            f"gap {min(g):+.2f} to {max(g):+.2f} dB at SNR {', '.join(f'{s:g}' for s in common)} dB"
                            if g else "no SNR where both were evaluated")]
    else:
        findings = [Finding(claim, False, MISSING)]
    notes = [f"{DATASETS[dataset]} versus SNR: NTSCC is the best (λ, η) point with mean R <= {ratio:g} at each SNR; "
             f"learned models are trained at one SNR and tested at every SNR; {label} + LDPC picks the best MCS "
             "knowing the SNR"]
    if "ntscc" in curves and "ldpc" in curves:
        (xn, yn), (xl, yl) = curves["ntscc"], curves["ldpc"]
        inside = (xn >= xl.min()) & (xn <= xl.max())
        if inside.any():
            g = yn[inside] - np.interp(xn[inside], xl, yl)
            notes.append(f"NTSCC - {label} + LDPC (best MCS, interpolated in SNR): {g.min():+.2f} to {g.max():+.2f} dB")
    ax.set_xlabel("SNR (dB), Es/N0 per complex channel use", fontsize=8)
    ax.set_ylabel(f"{QUALITY_LABEL[metric]}, {DATASETS[dataset]} mean", fontsize=8)
    ax.set_title(f"{DATASETS[dataset]}, AWGN, R = k/m <= {ratio:g}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, loc="lower right")
    prov = {"run_ids": [meta["run_id"]], "run_keys": {key: meta["run_id"]},
            "data_checksums": dict(meta.get("data_checksums", {})), "stage_time_s": float(meta.get("wall_time_s", 0.0))}
    return rows, findings, notes, prov


def render(profile, evals: Sequence[Path], sweep_csv: Path, out_pdf: Path, snr_db: float = 10.0,
           dataset: str | None = None, panels: Sequence[Panel] = (), snr_sweep: Path | None = None) -> None:
    """Fig. 13 versus CBR from the evaluations and sweep (and any more ``panels``) and, given a
    separation sweep over SNR at one bandwidth ratio (``snr_sweep``), versus SNR."""
    render_rd_figure(
        "fig13", profile, [(evals, sweep_csv), *panels], out_pdf, snr_db, metric=METRIC, distortion=DISTORTION,
        variants=("ntscc", "deepjscc"), dataset=dataset, title="Fig. 13, MS-SSIM (MS-SSIM-trained models)",
        paper_datasets=("kodak", "clic2021"), findings_of=lambda inputs, bds: rd_findings(inputs, METRIC, bds),
        extra_axis=None if snr_sweep is None else lambda ax, inputs: snr_panel(ax, inputs, snr_sweep),
        extra_notes=[] if snr_sweep is not None else ["the MS-SSIM-versus-SNR panel (c) is not drawn: no separation "
                                                      "sweep over SNR given (--snr-sweep-csv)"])


def main(argv: list[str] | None = None) -> None:
    parser = figure_parser("python -m pipelines.ntscc.fig13", __doc__)
    add_rd_arguments(parser)
    parser.add_argument("--snr-sweep-csv", help="separation sweep over SNR at one CBR, for panel (c)")

    def run(args):
        first, *more = panels_of(args)
        render(load(args.profile), *first, Path(args.out), args.snr, args.dataset, more,
               snr_sweep=Path(args.snr_sweep_csv) if args.snr_sweep_csv else None)

    run_figure(parser, argv, run)


if __name__ == "__main__":
    main()
