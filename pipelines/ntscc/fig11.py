"""NTSCC Fig. 11 (Sec. IV-C 1): PSNR versus CBR over AWGN at one SNR of MSE-trained NTSCC and
deep JSCC beside HEVC-intra + LDPC / + capacity, one panel per data set, BD metrics against
HEVC-intra + LDPC, and the paper's findings checked on our points.

    python -m pipelines.ntscc.fig11 --profile mini --snr 10 \\
        --eval results/mini/ntscc/images/*/eval.csv --sweep-csv results/mini/separation/kodak_cbr.csv \\
        [--panel results/mini/separation/cifar_cbr.csv results/mini/ntscc/cifar/*/eval.csv] \\
        --out reports/ntscc/fig11.pdf

Writes fig11.pdf, fig11.csv (every plotted point and BD value) and fig11.json (provenance).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipelines.ntscc.rd import Panel, rd_findings, rd_main
from pipelines.ntscc.rd_pages import render_rd_figure


def render(profile, evals: Sequence[Path], sweep_csv: Path, out_pdf: Path, snr_db: float = 10.0,
           dataset: str | None = None, panels: Sequence[Panel] = ()) -> None:
    """Fig. 11 from the first panel's evaluations and sweep and any more ``panels``."""
    render_rd_figure("fig11", profile, [(evals, sweep_csv), *panels], out_pdf, snr_db, metric="psnr",
                     distortion="mse", variants=("ntscc", "deepjscc"), dataset=dataset,
                     title="Fig. 11, PSNR (MSE-trained models)", paper_datasets=("cifar10", "kodak", "clic2021"),
                     findings_of=lambda inputs, bds: rd_findings(inputs, "psnr", bds))


def main(argv: list[str] | None = None) -> None:
    rd_main("python -m pipelines.ntscc.fig11", __doc__, render, argv)


if __name__ == "__main__":
    main()
