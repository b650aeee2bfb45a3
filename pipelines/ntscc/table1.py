"""NTSCC Table I (Sec. IV-C 1): BD-CBR and BD-PSNR against HEVC-intra + LDPC (the paper's
BPG + LDPC) over AWGN at one SNR, of MSE-trained NTSCC and deep JSCC and of HEVC-intra +
capacity, computed on upper envelopes where the curves overlap; the paper's printed values
(paper_values.yaml) in grey rows above ours, and the paper's findings checked on our points.

    python -m pipelines.ntscc.table1 --profile mini --eval results/mini/ntscc/images/*/eval.csv \\
        --sweep-csv results/mini/separation/kodak_cbr.csv \\
        [--panel results/mini/separation/cifar_cbr.csv results/mini/ntscc/cifar/*/eval.csv] \\
        --out reports/ntscc/table1.pdf

Writes table1.pdf, table1.csv (ours and the paper's values, source "ours" / "paper") and table1.json.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipelines.ntscc.rd import Panel, rd_main
from pipelines.ntscc.rd_pages import render_bd_table


def render(profile, evals: Sequence[Path], sweep_csv: Path, out_pdf: Path, snr_db: float = 10.0,
           dataset: str | None = None, panels: Sequence[Panel] = ()) -> None:
    """Table I from the first data set's evaluations and sweep and any more panels (columns)."""
    render_bd_table("table1", profile, [(evals, sweep_csv), *panels], out_pdf, snr_db, title="Table I",
                    metric="psnr", distortion="mse", dataset=dataset)


def main(argv: list[str] | None = None) -> None:
    rd_main("python -m pipelines.ntscc.table1", __doc__, render, argv)


if __name__ == "__main__":
    main()
