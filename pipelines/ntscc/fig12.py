"""NTSCC Fig. 12 (Sec. IV-C 1): PSNR versus SNR on Kodak at R = 1/16 over AWGN.

(a) NTSCC (the best model whose mean R is at most 1/16 at each SNR) and deep JSCC at R = 1/16
against "HEVC-intra + LDPC" as the envelope of the best MCS at each SNR (a genie that knows the
SNR) and "HEVC-intra + capacity"; with ``--per-snr-eval`` the learned curves of (a) are the
models fine-tuned at each test SNR (the paper's setting, profile key
``ntscc.images.fig12_per_snr``), otherwise the models of (c);
(c) graceful degradation: the learned models, trained at one SNR, tested across SNRs, and one
MCS chosen for an *estimated* SNR and used at every actual SNR, which falls off a cliff below it.

Everything is read from the per-image CSVs of a separation sweep (pipelines.separation) and of
the image models' evaluations (pipelines.ntscc.images), so the figure never re-runs them.
Without ``--eval`` files only the separation curves are drawn.

    python -m pipelines.ntscc.fig12 --profile mini --sweep-csv results/mini/separation/kodak_awgn.csv \\
        --bler-dir results/mini/separation/bler --eval results/mini/ntscc/images/*/eval.csv \\
        --out reports/ntscc/fig12.pdf [--per-snr-eval results/paper/ntscc/images/*_snr*/eval.csv]

Writes fig12.pdf, fig12.csv (every plotted point) and fig12.json (provenance).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from jscc_core.digital.codecs import get_codec
from jscc_core.digital.separation import (
    CAPACITY,
    ImageResult,
    cliff,
    envelope,
    read_image_results_csv,
    select_for_snr_estimate,
    summarize,
)
from jscc_core.results import ResultRow
from pipelines.figures.cli import figure_parser, run_figure
from pipelines.figures.evals import need_file, read_record
from pipelines.figures.findings import Finding
from pipelines.figures.page import new_figure, write_page
from pipelines.ntscc.evals import OperatingPoint, mean_operating_points, read_ntscc_eval
from pipelines.ntscc.rd import learned_curves
from pipelines.profile import load
from pipelines.separation.sweeps import load_tables, sweep_schemes

FIG = "fig12"
CLIFF_DROP_DB = 3.0  # a "cliff": PSNR falls by more than this below the SNR the MCS was chosen for
STYLES = {"NTSCC": dict(marker="o", color="tab:blue"), "Deep JSCC": dict(marker="s", color="tab:green")}


def _curve(results: list[ImageResult]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(SNR, mean PSNR, image-loss rate) per SNR, sorted by SNR."""
    rows = sorted(summarize(results, by=("snr_db",)), key=lambda d: d["snr_db"])
    return (np.array([d["snr_db"] for d in rows]), np.array([d["mean_psnr"] for d in rows]),
            np.array([d["loss_rate"] for d in rows]))


def separation_rows(panel: str, method: str, results: list[ImageResult], run_id: str, **extra) -> list[ResultRow]:
    """PSNR, MS-SSIM and image-loss rate of ``results`` per (SNR, bandwidth ratio)."""
    out = []
    for d in summarize(results, by=("snr_db", "bandwidth_ratio")):
        for metric in ("psnr", "ms_ssim", "loss_rate"):
            value = d["mean_" + metric] if metric != "loss_rate" else d["loss_rate"]
            out.append(ResultRow(figure=FIG, panel=panel, method=method, dataset="kodak", snr_db=d["snr_db"],
                                 bandwidth_ratio=d["bandwidth_ratio"], metric=metric, value=value, run_id=run_id,
                                 extra={"n_images": d["n_images"], "channel_use": "complex", **extra}))
    return out


def learned_rows(panel: str, method: str, pts: list[OperatingPoint]) -> list[ResultRow]:
    """PSNR of a learned method's points (one per test SNR)."""
    return [ResultRow(figure=FIG, panel=panel, method=method, dataset="kodak", snr_db=p.snr_db,
                      bandwidth_ratio=p.cbr, metric="psnr", value=p.psnr, run_id=p.run_key,
                      extra={"model": p.model, "eta": p.eta, "train_snr_db": p.train_snr_db,
                             "n_images": p.n_images, "channel_use": "complex"}) for p in pts]


def render(profile, sweep_csv: Path, bler_dir: Path, out_pdf: Path, evals: list[Path] | None = None,
           per_snr: list[Path] | None = None) -> None:
    """Fig. 12 from the separation sweep over SNR (its BLER tables in ``bler_dir`` for mode
    abstraction), the image models' evaluations ``evals`` (panel (c), and (a) unless ``per_snr``)
    and those of the models fine-tuned at each test SNR, ``per_snr`` (panel (a))."""
    started = time.perf_counter()
    cfg = profile.get("ntscc.fig12")
    sep = profile.get("separation")
    sweep_csv = need_file(Path(sweep_csv), "separation sweep CSV over SNR")
    meta = read_record(sweep_csv.with_suffix(".json"), f"sweep record beside {sweep_csv.name}")
    results = read_image_results_csv(sweep_csv)
    label = get_codec(sep["codec"]).label
    run_key = meta["run_key"]
    schemes = sweep_schemes(sep["sweeps"][cfg["sweep"]])
    mcs_names = [m.name for m in schemes if m != CAPACITY]
    tables = load_tables(Path(bler_dir), schemes) if sep["mode"] == "abstraction" else None
    ratio = sorted({r.bandwidth_ratio for r in results})
    if len(ratio) != 1:
        raise ValueError(f"{sweep_csv}: Fig. 12 needs one bandwidth ratio, the sweep has {ratio}")

    runs = [read_ntscc_eval(e) for e in evals or []]
    learned = learned_curves(mean_operating_points(runs), ratio[0]) if runs else {}
    tuned_runs = [read_ntscc_eval(e) for e in per_snr or []]
    tuned = learned_curves(mean_operating_points(tuned_runs), ratio[0]) if tuned_runs else None
    fig = new_figure(11, 4.4)
    axes = fig.subplots(1, 2)
    rows: list[ResultRow] = []
    for panel, ax, curves in (("a", axes[0], learned if tuned is None else tuned), ("c", axes[1], learned)):
        for method, pts in curves.items():
            how = "fine-tuned at each SNR" if curves is tuned else f"trained at {pts[0].train_snr_db:g} dB"
            ax.plot([p.snr_db for p in pts], [p.psnr for p in pts], "-", label=f"{method} ({how})",
                    **STYLES.get(method, dict(marker="o")))
            rows += learned_rows(panel, method, pts)
    # (a) envelope over the MCS set and the capacity bound
    ax = axes[0]
    env = envelope([r for r in results if r.mcs in mcs_names])
    snr, psnr, _ = _curve(env)
    ax.plot(snr, psnr, "o-", color="tab:red", label=f"{label} + LDPC (best MCS per SNR)")
    # the winning MCS per SNR; "none" where every MCS loses every image
    chosen = {d["snr_db"]: d["mcs"] if d["loss_rate"] < 1 else "none" for d in summarize(env, by=("snr_db", "mcs"))}
    for x, y in zip(snr, psnr):
        ax.annotate(chosen[x], (x, y), textcoords="offset points", xytext=(0, -11), fontsize=6, ha="center")
    rows += separation_rows("a", f"{label} + LDPC (envelope)", env, run_key, mode=sep["mode"],
                            mcs_per_snr={f"{k:g}": v for k, v in chosen.items()})
    cap = [r for r in results if r.mcs == CAPACITY]
    if cap:
        snr_c, psnr_c, _ = _curve(cap)
        ax.plot(snr_c, psnr_c, "^--", color="k", label=f"{label} + capacity")
        rows += separation_rows("a", f"{label} + capacity", cap, run_key)
    ax.set_title(f"(a) Kodak, AWGN, R = k/m = {ratio[0]:g}", fontsize=9)

    # (c) one MCS per estimated SNR, used at every actual SNR
    ax = axes[1]
    findings, cliff_drops = [], []
    for snr_est in cfg["cliff_snr_est_db"]:
        mcs = select_for_snr_estimate(snr_est, [m for m in schemes if m != CAPACITY], bler_tables=tables)
        picked = [r for r in results if r.mcs == mcs.name]
        s, p, loss = _curve(picked)
        line, = ax.plot(s, p, "o-", ms=4, label=f"{label} + LDPC, {mcs.name} (chosen for {snr_est:g} dB)")
        ax.axvline(snr_est, color=line.get_color(), ls=":", lw=0.8)
        rows += separation_rows("c", f"{label} + LDPC ({mcs.name}, SNR_est = {snr_est:g} dB)", picked, run_key,
                                mcs=mcs.name, snr_est_db=snr_est, mode=sep["mode"])
        c = cliff(picked)
        above = p[s >= snr_est]
        below = p[s < snr_est]
        drop = float(above.min() - below.min()) if above.size and below.size else float("nan")
        cliff_drops.append(drop)
        findings.append(Finding(f"{mcs.name} chosen for {snr_est:g} dB falls off a cliff below it",
                                c.cliff_snr_db is not None and drop > CLIFF_DROP_DB,
                                f"image-loss rate crosses 1/2 at {c.cliff_snr_db:.2f} dB, PSNR falls by {drop:.1f} dB"
                                if c.cliff_snr_db is not None else
                                f"loss rate never crosses 1/2 in {s.min():g}..{s.max():g} dB"))
    for method, pts in learned.items():
        train_snr = pts[0].train_snr_db
        below = [p for p in pts if p.snr_db <= train_snr]
        drops = [(lo.snr_db, hi.psnr - lo.psnr) for lo, hi in zip(below, below[1:])]
        worst = max(drops, key=lambda d: d[1]) if drops else None
        ok = worst is not None and bool(cliff_drops) and worst[1] < min(cliff_drops) / 2  # at most half a cliff
        findings.append(Finding(f"{method} degrades gracefully below its training SNR ({train_snr:g} dB)", ok,
                                f"largest PSNR fall between neighbouring test SNRs {worst[1]:.1f} dB (from "
                                f"{worst[0]:g} dB up), vs the separation cliffs' "
                                f"{', '.join(f'{c:.1f}' for c in cliff_drops)} dB"
                                if worst else "no test SNR below the training SNR"))
    ax.set_title("(c) graceful degradation: learned models trained at one SNR; MCS fixed for an estimated SNR",
                 fontsize=8)
    for ax in axes:
        ax.set_xlabel("SNR (dB), Es/N0 per complex channel use")
        ax.set_ylabel("PSNR (dB), Kodak mean")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    if tuned is not None:
        setting = ("(a): each learned model fine-tuned from the model of (c) at the test SNR and tested there, "
                   "NTSCC's best eta within R <= 1/16, as the paper; (c): the models trained at one SNR")
    else:
        setting = ("learned models are trained at one SNR and tested at every SNR, in (a) too"
                   if learned else "learned schemes are not evaluated in this run")
    notes = [f"link mode {sep['mode']}; lost images shown as the data set's mean colour; {setting}"]
    write_page(fig, out_pdf, rows, profile, name="NTSCC fig12", findings=findings, notes=notes,
               run_ids=[meta["run_id"]] + [run.meta["run_id"] for run in (*runs, *tuned_runs)],
               run_keys={run_key: meta["run_id"]},
               data_checksums=meta["data_checksums"], stage_time_s=meta["wall_time_s"], started=started)


def main(argv: list[str] | None = None) -> None:
    parser = figure_parser("python -m pipelines.ntscc.fig12", __doc__)
    parser.add_argument("--sweep-csv", required=True, help="per-image CSV of the separation sweep over SNR")
    parser.add_argument("--bler-dir", required=True, help="BLER tables (mode abstraction)")
    parser.add_argument("--eval", nargs="*", default=[], help="eval.csv files of the image models")
    parser.add_argument("--per-snr-eval", nargs="*", default=[],
                        help="eval.csv files of the models fine-tuned at each test SNR (panel (a))")
    run_figure(parser, argv, lambda args: render(load(args.profile), Path(args.sweep_csv), Path(args.bler_dir),
                                                 Path(args.out), [Path(e) for e in args.eval],
                                                 [Path(e) for e in args.per_snr_eval]))


if __name__ == "__main__":
    main()
