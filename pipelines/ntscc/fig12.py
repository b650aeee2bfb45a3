"""NTSCC Fig. 12: PSNR versus SNR on Kodak at R = 1/16 over AWGN.

(a) NTSCC (the best model whose mean R is at most 1/16 at each SNR) and deep JSCC at R = 1/16
against "HEVC-intra + LDPC" as the envelope of the best MCS at each SNR (a genie that knows the
SNR) and "HEVC-intra + capacity";
(c) graceful degradation: the learned models, trained at one SNR, tested across SNRs, and one
MCS chosen for an *estimated* SNR and used at every actual SNR, which falls off a cliff below it.

Everything is read from the per-image CSVs of a separation sweep (pipelines.separation) and of
the image models' evaluations (pipelines.ntscc.images), so the figure never re-runs them.
Without ``--eval`` files only the separation curves are drawn.  Writes fig12.pdf, fig12.csv
(every plotted point, results contract) and fig12.json (provenance).

    python -m pipelines.ntscc.fig12 --profile mini --sweep-csv results/mini/separation/kodak_awgn.csv \
        --bler-dir results/mini/separation/bler --eval results/mini/ntscc/images/*/eval.csv \
        --out reports/ntscc/fig12.pdf
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jscc_core.digital.codecs import get_codec  # noqa: E402
from jscc_core.digital.separation import (CAPACITY, cliff, envelope, read_image_results_csv,  # noqa: E402
                                          select_for_snr_estimate, summarize)
from jscc_core.profiles import ProfileError  # noqa: E402
from jscc_core.results import ResultRow, save_figure, write_provenance, write_results_csv  # noqa: E402
from pipelines.ntscc.image_figures import learned_curves, operating_points, read_eval  # noqa: E402
from pipelines.profile import load  # noqa: E402
from pipelines.separation.run import load_tables  # noqa: E402
from pipelines.separation.stages import sweep_schemes  # noqa: E402

FIG = "fig12"


def _curve(results) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(SNR, mean PSNR, image-loss rate) per SNR, sorted by SNR."""
    rows = sorted(summarize(results, by=("snr_db",)), key=lambda d: d["snr_db"])
    return (np.array([d["snr_db"] for d in rows]), np.array([d["mean_psnr"] for d in rows]),
            np.array([d["loss_rate"] for d in rows]))


def _rows(panel: str, method: str, results, run_id: str, **extra) -> list[ResultRow]:
    out = []
    for d in summarize(results, by=("snr_db", "bandwidth_ratio")):
        for metric in ("psnr", "ms_ssim", "loss_rate"):
            value = d["mean_" + metric] if metric != "loss_rate" else d["loss_rate"]
            out.append(ResultRow(figure=FIG, panel=panel, method=method, dataset="kodak", snr_db=d["snr_db"],
                                 bandwidth_ratio=d["bandwidth_ratio"], metric=metric, value=value, run_id=run_id,
                                 extra={"n_images": d["n_images"], "channel_use": "complex", **extra}))
    return out


def _learned_rows(panel: str, method: str, pts: list) -> list[ResultRow]:
    return [ResultRow(figure=FIG, panel=panel, method=method, dataset="kodak", snr_db=p.snr_db,
                      bandwidth_ratio=p.cbr, metric="psnr", value=p.psnr, run_id=p.run_key,
                      extra={"model": p.model, "eta": p.eta, "train_snr_db": p.train_snr_db,
                             "n_images": p.n_images, "channel_use": "complex"}) for p in pts]


def render(profile, sweep_csv: Path, bler_dir: Path, out_pdf: Path, evals: list[Path] | None = None) -> None:
    started = time.perf_counter()
    cfg = profile.get("ntscc.fig12")
    sep = profile.get("separation")
    meta = json.loads(Path(sweep_csv).with_suffix(".json").read_text())
    results = read_image_results_csv(sweep_csv)
    label = get_codec(sep["codec"]).label
    run_key = meta["run_key"]
    schemes = sweep_schemes(sep["sweeps"][cfg["sweep"]])
    mcs_names = [m.name for m in schemes if m != CAPACITY]
    tables = load_tables(Path(bler_dir), schemes) if sep["mode"] == "abstraction" else None
    ratio = sorted({r.bandwidth_ratio for r in results})
    if len(ratio) != 1:
        raise ValueError(f"{sweep_csv}: Fig. 12 needs one bandwidth ratio, the sweep has {ratio}")

    evals = [Path(e) for e in evals or []]
    learned = learned_curves(operating_points([read_eval(e) for e in evals]), ratio[0]) if evals else {}
    styles = {"NTSCC": dict(marker="o", color="tab:blue"), "Deep JSCC": dict(marker="s", color="tab:green")}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    rows: list[ResultRow] = []
    for method, pts in learned.items():
        for ax, panel in zip(axes, "ac"):
            ax.plot([p.snr_db for p in pts], [p.psnr for p in pts], "-", label=f"{method} (trained at "
                    f"{pts[0].train_snr_db:g} dB)", **styles.get(method, dict(marker="o")))
            rows += _learned_rows(panel, method, pts)
    # (a) envelope over the MCS set and the capacity bound
    ax = axes[0]
    env = envelope([r for r in results if r.mcs in mcs_names])
    snr, psnr, _ = _curve(env)
    ax.plot(snr, psnr, "o-", color="tab:red", label=f"{label} + LDPC (best MCS per SNR)")
    # the winning MCS per SNR; "none" where every MCS loses every image
    chosen = {d["snr_db"]: d["mcs"] if d["loss_rate"] < 1 else "none" for d in summarize(env, by=("snr_db", "mcs"))}
    for x, y in zip(snr, psnr):
        ax.annotate(chosen[x], (x, y), textcoords="offset points", xytext=(0, -11), fontsize=6, ha="center")
    rows += _rows("a", f"{label} + LDPC (envelope)", env, run_key, mode=sep["mode"],
                  mcs_per_snr={f"{k:g}": v for k, v in chosen.items()})
    cap = [r for r in results if r.mcs == CAPACITY]
    if cap:
        snr_c, psnr_c, _ = _curve(cap)
        ax.plot(snr_c, psnr_c, "^--", color="k", label=f"{label} + capacity")
        rows += _rows("a", f"{label} + capacity", cap, run_key)
    ax.set_title(f"(a) Kodak, AWGN, R = k/m = {ratio[0]:g}", fontsize=9)

    # (c) one MCS per estimated SNR, used at every actual SNR
    ax = axes[1]
    checks, cliff_drops = [], []
    for snr_est in cfg["cliff_snr_est_db"]:
        mcs = select_for_snr_estimate(snr_est, [m for m in schemes if m != CAPACITY], bler_tables=tables)
        picked = [r for r in results if r.mcs == mcs.name]
        s, p, loss = _curve(picked)
        line, = ax.plot(s, p, "o-", ms=4, label=f"{label} + LDPC, {mcs.name} (chosen for {snr_est:g} dB)")
        ax.axvline(snr_est, color=line.get_color(), ls=":", lw=0.8)
        rows += _rows("c", f"{label} + LDPC ({mcs.name}, SNR_est = {snr_est:g} dB)", picked, run_key,
                      mcs=mcs.name, snr_est_db=snr_est, mode=sep["mode"])
        c = cliff(picked)
        above = p[s >= snr_est]
        below = p[s < snr_est]
        drop = float(above.min() - below.min()) if above.size and below.size else float("nan")
        cliff_drops.append(drop)
        checks.append((f"{mcs.name} chosen for {snr_est:g} dB falls off a cliff below it",
                       bool(c.cliff_snr_db is not None and drop > 3.0),
                       f"image-loss rate crosses 1/2 at {c.cliff_snr_db:.2f} dB, PSNR falls by {drop:.1f} dB"
                       if c.cliff_snr_db is not None else f"loss rate never crosses 1/2 in {s.min():g}..{s.max():g} dB"))
    for method, pts in learned.items():
        train_snr = pts[0].train_snr_db
        below = [p for p in pts if p.snr_db <= train_snr]
        drops = [(lo.snr_db, hi.psnr - lo.psnr) for lo, hi in zip(below, below[1:])]
        worst = max(drops, key=lambda d: d[1]) if drops else None
        ok = worst is not None and bool(cliff_drops) and worst[1] < min(cliff_drops) / 2  # at most half a cliff
        checks.append((f"{method} degrades gracefully below its training SNR ({train_snr:g} dB)", ok,
                       f"largest PSNR fall between neighbouring test SNRs {worst[1]:.1f} dB (from {worst[0]:g} dB up), "
                       f"vs the separation cliffs' {', '.join(f'{c:.1f}' for c in cliff_drops)} dB"
                       if worst else "no test SNR below the training SNR"))
    ax.set_title("(c) graceful degradation: learned models trained at one SNR; MCS fixed for an estimated SNR",
                 fontsize=8)
    for ax in axes:
        ax.set_xlabel("SNR (dB), Es/N0 per complex channel use")
        ax.set_ylabel("PSNR (dB), Kodak mean")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    notes = [f"{'HOLDS' if ok else 'DOES NOT HOLD'}: {claim} ({detail})" for claim, ok, detail in checks]
    notes.append(f"link mode {sep['mode']}; lost images shown as the data set's mean colour; "
                 + ("learned models are trained at one SNR and tested at every SNR, in (a) too"
                    if learned else "learned schemes are not evaluated in this run"))
    fig.text(0.01, 0.01, f"profile {profile.name}: " + " | ".join(notes), fontsize=6, va="bottom", wrap=True)
    fig.tight_layout(rect=(0, 0.07, 1, 1))

    out_pdf = Path(out_pdf)
    out_pdf.parent.mkdir(parents=True, exist_ok=True)
    write_results_csv(rows, out_pdf.with_suffix(".csv"))
    prov = write_provenance(
        out_pdf.with_suffix(".json"), profile=profile, data_checksums=meta["data_checksums"],
        mlflow_run_ids=[meta["run_id"]] + [json.loads(e.with_suffix(".json").read_text())["run_id"] for e in evals],
        wall_time_s=time.perf_counter() - started, seed=int(profile["seed"]),
        extra={"figure": "NTSCC fig12", "run_keys": {run_key: meta["run_id"]},
               "stage_time_s": round(meta["wall_time_s"] + time.perf_counter() - started, 3),
               "findings": [{"claim": c, "holds": ok, "detail": d} for c, ok, d in checks], "notes": notes})
    save_figure(fig, out_pdf, prov)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipelines.ntscc.fig12", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default=None, help="profile name (mini, paper) or YAML path")
    parser.add_argument("--sweep-csv", required=True, help="per-image CSV of the separation sweep")
    parser.add_argument("--bler-dir", required=True, help="BLER tables (mode abstraction)")
    parser.add_argument("--eval", nargs="*", default=[], help="eval.csv files of the image models")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        render(load(args.profile), Path(args.sweep_csv), Path(args.bler_dir), Path(args.out), args.eval)
    except (ProfileError, FileNotFoundError, ValueError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")


if __name__ == "__main__":
    main()
