"""Fig. 6 of Dai et al. 2024 (Sec. III-B): Kodak over a network whose packet loss varies in time.

(a) PSNR per interval of the loss trace for our scheme (coding mode set by the running estimate)
and HEVC-intra + FEC (N x) at the same transmitted bits, decoding failures marked; the measured loss
and the running estimate (dashed) on the second axis.  (b) The zero-loss rate-distortion curves.

    python -m pipelines.dgm.fig06 --profile mini --trace results/mini/dgm/trace_ours.csv \\
        --trace-hevc results/mini/dgm/trace_hevc.csv --rd-hevc results/mini/dgm/rd_hevc.csv \\
        --rd-ours results/mini/dgm/rd_ours_lam0.013.csv --out reports/dgm/fig06.pdf

Writes fig06.pdf, fig06.csv (every plotted number) and fig06.json (provenance and findings).
"""
from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from jscc_core.results import ResultRow
from pipelines.dgm.common import read_rows
from pipelines.figures.cli import figure_parser, run_figure
from pipelines.figures.curves import Series, gaps
from pipelines.figures.findings import Finding
from pipelines.figures.page import new_figure, write_page
from pipelines.figures.paper_values import load_paper_values
from pipelines.profile import load

FIG = "fig06"
VALUES_FILE = Path(__file__).with_name("paper_values.yaml")
HIGH_LOSS = (0.20, 0.30)  # the range where the magazine reports that even 4x FEC fails


def _claim(name: str, where: str = "") -> str:
    v = load_paper_values(VALUES_FILE).get(FIG, "findings", name)
    return f"{v.value} [{v.source}]" + (f", {where}" if where else "")


def _record(path: Path) -> dict:
    js = path.with_suffix(".json")
    if not js.is_file():
        raise FileNotFoundError(f"{js}: no run record beside {path.name}; rerun its dgm stage")
    return json.loads(js.read_text())


def _per_interval(rows: list[dict], key: str) -> dict[str, dict[int, list[dict]]]:
    out: dict[str, dict[int, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        out[key.format(**r)][int(r["interval"])].append(r)
    return out


def _mean(rows: list[dict], col: str) -> float:
    return float(np.mean([float(r[col]) for r in rows]))


def _rd_series(key: str, label: str, rows: list[dict], by: str) -> Series:
    points: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        points[r[by]].append(r)
    xs = [_mean(v, "bpp") for v in points.values()]
    ys = [_mean(v, "psnr") for v in points.values()]
    return Series(key, label, xs, ys, [{by: k, "ms_ssim": _mean(v, "ms_ssim")} for k, v in points.items()], [])


def render(profile, trace: Path, trace_hevc: Path, rd_hevc: Path, rd_ours: list[Path], out_pdf: Path) -> None:
    started = time.perf_counter()
    ours_rows, hevc_rows = read_rows(trace), read_rows(trace_hevc)
    records = [_record(p) for p in (trace, trace_hevc, rd_hevc, *rd_ours)]
    dataset = profile.get("dgm.test_set")
    schemes = {"ours": _per_interval(ours_rows, "ours")["ours"]}
    for n, per in sorted(_per_interval(hevc_rows, "{provisioning}").items(), key=lambda kv: float(kv[0])):
        schemes[f"HEVC-intra + FEC ({float(n):g}x)"] = per
    intervals = sorted(schemes["ours"])
    for name, per in schemes.items():
        if sorted(per) != intervals:
            raise ValueError(f"{trace_hevc}: {name} covers intervals {sorted(per)}, {trace} covers {intervals}")
    loss = np.array([_mean(schemes["ours"][i], "measured_loss") for i in intervals])
    estimate = np.array([_mean(schemes["ours"][i], "estimate") for i in intervals])
    psnr = {s: np.array([_mean(per[i], "psnr") for i in intervals]) for s, per in schemes.items()}
    fails = {s: np.array([sum(1 - int(r["decoded"]) for r in per[i]) for i in intervals]) for s, per in schemes.items()}
    n_images = len(schemes["ours"][intervals[0]])
    ours_label = "ours (masked-transformer entropy model + concealment)"

    rows = []
    for s, per in schemes.items():
        method = ours_label if s == "ours" else s
        for k, i in enumerate(intervals):
            extra = {"interval": i, "measured_loss": float(loss[k]), "running_estimate": float(estimate[k]),
                     "bpp": _mean(per[i], "bpp")}
            if s == "ours":
                extra["modes"] = sorted({r["mode"] for r in per[i]})
            for metric, value in (("psnr", psnr[s][k]), ("ms_ssim", _mean(per[i], "ms_ssim")),
                                  ("decoding_failures", float(fails[s][k])), ("bpp", extra["bpp"])):
                rows.append(ResultRow(FIG, "a", method, dataset, None, None, metric, float(value), extra=extra))
    rd = [_rd_series("ours", ours_label, [r for p in rd_ours for r in read_rows(p)], "step"),
          _rd_series("hevc", "HEVC-intra (x265)", read_rows(rd_hevc), "quality")]
    for series in rd:
        for x, y, info in zip(series.cbr, series.quality, series.info):
            for metric, value in (("psnr", y), ("ms_ssim", info["ms_ssim"])):
                rows.append(ResultRow(FIG, "b", series.method, dataset, None, None, metric, float(value),
                                      extra={"bpp": float(x), **{k: v for k, v in info.items() if k != "ms_ssim"}}))

    # ---- findings
    findings = []
    high = [k for k in range(len(intervals)) if loss[k] >= HIGH_LOSS[0]]
    fec = [s for s in schemes if s != "ours"]
    most = fec[-1] if fec else None
    least = fec[0] if fec else None
    if not high or most is None:
        why = f"no interval measured {HIGH_LOSS[0]:.0%} loss or more" if not high else "no FEC scheme"
        findings.append(Finding(_claim("fec_fails_at_high_loss"), False, why))
    else:
        detail = ", ".join(f"interval {intervals[k]} ({loss[k]:.1%} loss): {fails[most][k]}/{n_images} lost"
                           for k in high)
        findings.append(Finding(_claim("fec_fails_at_high_loss", most), bool(sum(fails[most][k] for k in high) > 0),
                                detail))
    if least is not None and most is not None:
        findings.append(Finding(_claim("insufficient_fec_fails", f"{least} against {most}"),
                                bool(fails[least].sum() > 0),
                                f"{int(fails[least].sum())} images lost with {least}, {int(fails[most].sum())} with "
                                f"{most}, over {len(intervals)} intervals of {n_images} images"))
        clean = [k for k in range(len(intervals)) if fails[least][k] == 0 and fails[most][k] == 0]
        if clean:
            gap = float(np.mean(psnr[most][clean] - psnr[least][clean]))
            findings.append(Finding(_claim("excess_fec_wastes_rate", f"{most} against {least}"), gap < 0,
                                    f"{gap:+.2f} dB mean PSNR over the {len(clean)} intervals where neither lost an "
                                    "image"))
        else:
            findings.append(Finding(_claim("excess_fec_wastes_rate"), False, "no interval where neither lost an image"))
    best = {k: max(psnr[s][k] for s in fec) for k in range(len(intervals))} if fec else {}
    worst_gap = min((psnr["ours"][k] - best[k] for k in (high or range(len(intervals)))), default=float("nan"))
    findings.append(Finding(
        _claim("ours_graceful", "the intervals of 20 % loss or more" if high else "every interval"),
        bool(fails["ours"].sum() == 0 and worst_gap > 0),
        f"ours: {int(fails['ours'].sum())} images undecodable; PSNR minus the best HEVC + FEC from {worst_gap:+.2f} dB "
        f"(worst interval); ours from {psnr['ours'].max():.2f} dB to {psnr['ours'].min():.2f} dB over the trace"))
    g = gaps(rd[0], rd[1])
    if g:
        lo, hi = min(v for _, v in g), max(v for _, v in g)
        findings.append(Finding(_claim("ours_efficient_at_zero_loss", "against HEVC-intra (x265) at zero loss"),
                                lo > 0, f"PSNR gap {lo:+.2f} to {hi:+.2f} dB at {len(g)} rates in "
                                        f"[{g[0][0]:.3f}, {g[-1][0]:.3f}] bpp" + (
                                            "; ours is below HEVC-intra there" if hi < 0 else "")))
    else:
        findings.append(Finding(_claim("ours_efficient_at_zero_loss"), False,
                                f"the curves share no rate (ours {rd[0].cbr_range()}, HEVC {rd[1].cbr_range()} bpp)"))

    # ---- page
    fig = new_figure(10.0, 4.2)
    ax, bx = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
    styles = ["-o", "--s", "-.^", ":v", "-d"]
    for (s, y), style in zip(psnr.items(), styles):
        ax.plot(intervals, y, style, ms=4, label=ours_label if s == "ours" else s)
        bad = fails[s] > 0
        if bad.any():
            ax.plot(np.array(intervals)[bad], y[bad], "x", color="red", ms=9, mew=2)
            for i, v, f in zip(np.array(intervals)[bad], y[bad], fails[s][bad]):
                ax.annotate(f"{f}", (i, v), textcoords="offset points", xytext=(4, -10), fontsize=6, color="red")
    abbrev = {"layered": "L", "independent": "I", "multiple-description": "MD"}
    for i, v in zip(intervals, psnr["ours"]):  # our coding mode per interval
        modes = "/".join(abbrev.get(m, m) for m in sorted({r["mode"] for r in schemes["ours"][i]}))
        ax.annotate(modes, (i, v), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=6, color="C0")
    ax.set_xlabel("interval of the loss trace (ours: L layered, I independent, MD multiple-description)")
    ax.set_ylabel(f"PSNR (dB), mean over {n_images} {dataset} images")
    ax.set_title("(a) over the time-varying packet-loss trace", fontsize=9)
    ax2 = ax.twinx()
    ax2.bar(intervals, loss, alpha=0.15, color="grey", label="measured loss")
    ax2.plot(intervals, estimate, "k--", lw=1, label="running estimate (previous interval)")
    ax2.set_ylabel("packet loss rate")
    ax2.set_ylim(0, max(0.5, float(loss.max()) * 1.6))
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3)
    for series, style in zip(rd, ("-o", "--s")):
        bx.plot(series.cbr[series.env], series.quality[series.env], style, ms=4, label=series.method)
    bx.set_xlabel("transmitted bits per pixel (headers included)")
    bx.set_ylabel("PSNR (dB)")
    bx.set_title("(b) zero loss", fontsize=9)
    bx.legend(fontsize=6)
    fig.suptitle("Fig. 6: resilient image transmission over bursty packet loss", fontsize=10)
    trace_meta, hevc_meta = records[0], records[1]
    conceal = [(float(r["psnr"]) - float(r["psnr_zero_fill"])) for r in ours_rows if int(r["concealed_tokens"]) > 0]
    md_from = profile.get("dgm.multiple_description_from")
    redundant = sum(int(r.get("redundant_sets", 0)) for r in ours_rows)
    notes = [
        f"x: decoding failures (count of {n_images} images beside each mark); a lost image counts as the test set's "
        f"mean colour {np.round(hevc_meta.get('fallback_rgb', []), 3).tolist()} in the mean PSNR",
        "equal transmitted bits: per image and interval, HEVC + FEC takes the highest quality whose k data + r parity "
        "packets (4-byte headers) fit within the bits our scheme sent (13-byte headers with CRC-32 included); "
        f"HEVC-intra is x265 ({hevc_meta.get('preset')}), the project's stand-in for VTM-20.0, which is stronger",
        f"our coding mode: layered while the running estimate is below {profile.get('dgm.layered_below'):g}, "
        + (f"multiple-description from {md_from:g} (each packet also carries a redundant description of another "
           f"packet's tokens at quantisation step {trace_meta.get('redundant_step', float('nan')):g}; "
           f"{redundant} lost token sets were taken from one), " if md_from is not None else "")
        + "independent otherwise; lost tokens concealed by the regression head" + (
            f" (concealment vs zero-filling the same tokens: {np.mean(conceal):+.2f} dB mean PSNR over the "
            f"{len(conceal)} images with lost tokens)" if conceal else ""),
        f"the loss trace: Gilbert channels per interval (dgm.trace.schedule), "
        f"{trace_meta['trace']['packets_per_interval']} packet slots per interval; the schedule is the project's "
        "choice (the magazine prints none)",
    ]
    model = trace_meta["model"]
    stage_time = sum(float(r.get("wall_time_s", 0)) for r in records) + float(model.get("wall_time_s") or 0)
    checksums = {}
    for r in records:
        checksums.update(r.get("data_checksums", {}))
    layout = None
    write_page(fig, out_pdf, rows, profile, name=f"DGM {FIG}", findings=findings, notes=notes,
               run_ids=[model.get("run_id") or ""], run_keys={model.get("run_key"): model.get("run_id")},
               data_checksums=checksums, stage_time_s=stage_time, started=started, layout=layout)


def main(argv: list[str] | None = None) -> None:
    parser = figure_parser("python -m pipelines.dgm.fig06", __doc__)
    parser.add_argument("--trace", required=True, help="trace_ours.csv")
    parser.add_argument("--trace-hevc", required=True, help="trace_hevc.csv")
    parser.add_argument("--rd-hevc", required=True, help="rd_hevc.csv")
    parser.add_argument("--rd-ours", required=True, nargs="+", help="rd_ours_<lambda>.csv, one per model")
    run_figure(parser, argv, lambda a: render(load(a.profile), Path(a.trace), Path(a.trace_hevc), Path(a.rd_hevc),
                                              [Path(p) for p in a.rd_ours], Path(a.out)))


if __name__ == "__main__":
    main()
