"""NTSCC Fig. 17 (Sec. IV-D): the ablation, PSNR versus CBR over AWGN at one SNR of NTSCC,
Comparison-I (no hyperprior-aided refinement), Comparison-II (no rate adaptation: a Transformer
deep JSCC) and deep JSCC, beside HEVC-intra + LDPC.

    python -m pipelines.ntscc.fig17 --profile mini --snr 10 \\
        --eval results/mini/ntscc/images/{ntscc_mse_lam64,comparison_i_mse_lam64,comparison_ii_*}/eval.csv \\
        --sweep-csv results/mini/separation/kodak_cbr.csv --out reports/ntscc/fig17.pdf

Writes fig17.pdf, fig17.csv (every plotted point) and fig17.json (provenance).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipelines.figures.findings import Finding, above
from pipelines.ntscc.paper import printed_values
from pipelines.ntscc.rd import Panel, RDInputs, rd_main
from pipelines.ntscc.rd_pages import render_rd_figure


def ablation_findings(inputs: RDInputs, bds: dict) -> list[Finding]:
    """The paper's reading of Fig. 17: each removed mechanism costs PSNR."""
    s = inputs.series
    out = [above("refinement adds PSNR (NTSCC above Comparison-I)", s.get("ntscc"), s.get("comparison_i")),
           above("rate adaptation adds PSNR (Comparison-I above Comparison-II)", s.get("comparison_i"),
                 s.get("comparison_ii"))]
    if "deepjscc" in s:
        out.append(above("the Transformer backbone adds PSNR (Comparison-II above Deep JSCC)", s.get("comparison_ii"),
                         s.get("deepjscc")))
    return out


def render(profile, evals: Sequence[Path], sweep_csv: Path, out_pdf: Path, snr_db: float = 10.0,
           dataset: str | None = None, panels: Sequence[Panel] = ()) -> None:
    """Fig. 17 from the ablation models' evaluations and the sweep (and any more ``panels``)."""
    eta = printed_values().value("fig17", "ntscc_eta")
    render_rd_figure("fig17", profile, [(evals, sweep_csv), *panels], out_pdf, snr_db, metric="psnr",
                     distortion="mse", variants=("ntscc", "comparison_i", "comparison_ii", "deepjscc"),
                     dataset=dataset, title="Fig. 17, ablation (PSNR)", paper_datasets=(),
                     findings_of=ablation_findings, with_bd=False, with_capacity=False,
                     extra_notes=[f"the paper's NTSCC curve uses η = {eta:g}; "
                                  "here every evaluated η enters the envelope"])


def main(argv: list[str] | None = None) -> None:
    rd_main("python -m pipelines.ntscc.fig17", __doc__, render, argv)


if __name__ == "__main__":
    main()
