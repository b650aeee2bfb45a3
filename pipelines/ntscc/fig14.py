"""NTSCC Fig. 14 (Sec. IV-C 3): LPIPS-Alex versus CBR over AWGN at one SNR (10 dB) of NTSCC trained
for PSNR (MSE), for MS-SSIM and for eq. (29) ("Perceptual"), of deep JSCC and of HEVC-intra + LDPC,
with BD-CBR (at equal LPIPS) and BD-LPIPS (at equal CBR) against HEVC-intra + LDPC and the
paper's finding checked on our points.

    python -m pipelines.ntscc.fig14 --profile mini --snr 10 --eval results/mini/ntscc/images/*/eval.csv \\
        --sweep-csv results/mini/separation/kodak_cbr.csv --out reports/ntscc/fig14.pdf

The curves are the upper envelopes of minus LPIPS (lower LPIPS is better), so the y axis runs
from high LPIPS at the bottom to low LPIPS at the top. BD-LPIPS is the mean LPIPS difference at
equal log CBR (negative: lower LPIPS than the anchor). The paper prints no numbers for Fig. 14;
its finding is in paper_values.yaml. Writes fig14.pdf, fig14.csv and fig14.json.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from matplotlib.ticker import FuncFormatter

from jscc_core.results import ResultRow
from pipelines.figures.bd_compare import bd_against
from pipelines.figures.curves import Series
from pipelines.figures.evals import read_record
from pipelines.figures.findings import Finding, above, bd_negative
from pipelines.figures.page import new_figure, write_page
from pipelines.figures.tables import cell
from pipelines.ntscc.evals import TARGET_CURVES
from pipelines.ntscc.paper import printed_values
from pipelines.ntscc.rd import DATASETS, LDPC_MCS, Panel, RDInputs, learned_series, load_rd, rd_main
from pipelines.ntscc.rd_pages import AXIS_CBR, bd_rows, plot_series, series_rows

METRIC = "lpips_alex"
CURVES = TARGET_CURVES  # the curves of Fig. 14, in the legend's order


def fig14_series(inputs: RDInputs, snr_db: float) -> dict[str, Series]:
    """Every curve of :data:`CURVES` the evaluations have at ``snr_db`` (quality: minus LPIPS-Alex),
    and HEVC-intra + LDPC."""
    out = {}
    for key, variant, target, label in CURVES:
        s = learned_series(inputs.points, variant, target, snr_db, METRIC)
        if s is not None:
            out[key] = Series(key, label, s.cbr, s.quality, s.info, s.run_keys)
    out["ldpc"] = inputs.series["ldpc"]
    return out


def fig14_findings(series: dict[str, Series], bds: dict[str, dict], dataset: str) -> list[Finding]:
    """"Clearly, the perceptually optimized NTSCC overpasses other schemes by a large margin" (lower
    LPIPS than every other curve wherever their CBRs overlap), and its BD-CBR at equal LPIPS."""
    ds, perceptual = DATASETS[dataset], series.get("ntscc_perceptual")
    out = [above(f"NTSCC (Perceptual) has a lower LPIPS than {s.method} on {ds}", perceptual, s, unit="(minus LPIPS)")
           for key, s in series.items() if key != "ntscc_perceptual"]
    out.append(bd_negative(f"NTSCC (Perceptual)'s BD-CBR vs {series['ldpc'].method} at equal LPIPS is negative "
                           f"on {ds}", bds.get("ntscc_perceptual")))
    return out


def render(profile, evals: Sequence[Path], sweep_csv: Path, out_pdf: Path, snr_db: float = 10.0,
           dataset: str | None = None, panels: Sequence[Panel] = ()) -> None:
    """Fig. 14 from the Kodak evaluations (every training target) and the separation sweep over CBR."""
    started = time.perf_counter()
    if panels:
        raise ValueError("Fig. 14 has one panel (Kodak); --panel is not accepted")
    inputs = load_rd(evals, sweep_csv, snr_db, METRIC, "perceptual", ("ntscc",), dataset)
    series = fig14_series(inputs, snr_db)
    anchor = series["ldpc"]
    bds = {k: bd_against(anchor, s) for k, s in series.items() if k != "ldpc"}
    for r in bds.values():  # BD-quality of minus LPIPS, as BD-LPIPS: the mean LPIPS difference
        if r["bd_quality"] is not None:
            r["bd_quality"] = -r["bd_quality"]
    ds = inputs.dataset
    fig = new_figure(7.6, 5.6)
    ax = fig.subplots()
    rows: list[ResultRow] = []
    for key, s in series.items():
        plot_series(ax, s, annotate=key == "ntscc_perceptual")
        rows += [replace(r, value=-r.value) for r in series_rows("fig14", ds, s, ds, snr_db, METRIC)]  # LPIPS itself
    inputs.series.update(series)
    rows += bd_rows("fig14", ds, inputs, bds, snr_db, METRIC)
    lines = [f"vs {anchor.method}:"] + [
        f"{series[k].method}: BD-CBR {cell(r['bd_cbr'], '%', r['bd_cbr_reason'])}, "
        f"BD-LPIPS {cell(r['bd_quality'], '', r['bd_quality_reason'])}" for k, r in bds.items()]
    ax.text(0.99, 0.02, "\n".join(lines), transform=ax.transAxes, fontsize=6, ha="right", va="bottom",
            bbox=dict(fc="white", ec="0.7", alpha=0.9))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{-v:.2f}"))
    ax.set_xlabel(AXIS_CBR, fontsize=8)
    ax.set_ylabel(f"LPIPS-Alex, {DATASETS[ds]} mean (lower is better, plotted upwards)", fontsize=8)
    ax.set_title(f"Fig. 14, LPIPS: {DATASETS[ds]}, AWGN, SNR = {snr_db:g} dB", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, loc="upper left")
    findings = fig14_findings(series, bds, ds)
    paper = printed_values()
    loss = max(i["loss_rate"] for i in anchor.info)
    code = "rate-2/3 (6144, 4096) LDPC + 16-QAM, the paper's BPG + LDPC" if inputs.ldpc_mcs == LDPC_MCS else ""
    # provenance: the perceptual models' runs and those of every other training target drawn here
    targets = [t for key, variant, t, _ in CURVES if key in series and variant == "ntscc" and t != "perceptual"]
    others = [load_rd(evals, sweep_csv, snr_db, METRIC, t, ("ntscc", "deepjscc"), dataset) for t in targets]
    sweep_time = float(read_record(Path(sweep_csv).with_suffix(".json"), "sweep record").get("wall_time_s", 0.0))
    run_ids, run_keys, checksums = list(inputs.run_ids), dict(inputs.run_keys), dict(inputs.data_checksums)
    stage_time = inputs.stage_time_s
    for o in others:
        run_ids += [r for r in o.run_ids if r not in run_ids]
        run_keys.update(o.run_keys)
        checksums.update(o.data_checksums)
        stage_time += o.stage_time_s - sweep_time  # the sweep once
    notes = inputs.notes + [
        f"the paper prints no values for Fig. 14; its finding: \"{paper.value('fig14', 'finding')}\" "
        f"({paper.get('fig14', 'finding').source})",
        "LPIPS with the AlexNet backbone (LPIPS v0.1; the paper does not name its backbone, AlexNet is LPIPS's "
        "default and HiFiC's [21]) on every whole Kodak image; the paper's BPG is our HEVC-intra",
        f"{DATASETS[ds]}: {anchor.method} = {inputs.ldpc_mcs} {code}; lost images shown as the data set's mean "
        f"colour (largest loss rate {loss:.0%})",
        "curves: upper envelopes of minus LPIPS over each method's (λ, η) points (hollow: dominated points); "
        "BD-LPIPS: mean LPIPS difference at equal log CBR, negative = lower LPIPS than the anchor"]
    write_page(fig, out_pdf, rows, profile, name="NTSCC fig14", findings=findings, notes=notes, started=started,
               dataset=ds, snr_db=snr_db, run_ids=run_ids, run_keys=run_keys, data_checksums=checksums,
               stage_time_s=stage_time)


def main(argv: list[str] | None = None) -> None:
    rd_main("python -m pipelines.ntscc.fig14", __doc__, render, argv)


if __name__ == "__main__":
    main()
