"""NTSCC Fig. 10 (Sec. IV-B): SDR (eq. 30) over the banana source's space of deep JSCC (a) and
NTSCC (b) at the map operating point, and the average SDR versus R over AWGN of NTSCC (per λ),
deep JSCC and NTC + capacity (c), with the paper's findings on (c) checked by time-sharing.

    python -m pipelines.ntscc.fig10 --profile mini --eval results/mini/ntscc/banana/eval \\
        --out reports/ntscc/fig10.pdf

Writes fig10.pdf, fig10.csv (every point of (c), every grid point of (a) and (b)) and fig10.json.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jscc_core.channels import ChannelUseBudget
from jscc_core.results import ResultRow
from pipelines.figures.cli import figure_parser, run_figure
from pipelines.figures.findings import Finding
from pipelines.figures.page import new_figure
from pipelines.ntscc.banana_maps import (
    color_limits,
    draw_map,
    grid_rows,
    map_setting,
    read_banana_eval,
    support,
    write_banana_page,
)
from pipelines.ntscc.paper import printed_values
from pipelines.profile import load

AXIS_R = "average " + ChannelUseBudget("real", symbol="R").axis_label + ", m = 2"
STYLES = {"Deep JSCC": dict(marker="s", color="tab:blue"), "NTC + capacity": dict(marker="^", color="k", ls="--")}


def time_sharing_sdr(points: np.ndarray, r: float) -> float:
    """Best SDR reachable at average bandwidth ratio ``r`` from operating points (R, SDR dB).

    Time-sharing two operating points averages both their bandwidth and their distortion, so
    the reachable set is the lower convex hull of (R, D) with D = 10^(-SDR/10) (distortion
    relative to E||x||^2, eq. 30); -inf below the smallest R.
    """
    pts = sorted((float(a), 10 ** (-float(b) / 10)) for a, b in points)
    if not pts or r < pts[0][0] - 1e-12:
        return -np.inf
    hull: list[tuple[float, float]] = []
    for p in pts:  # Andrew's monotone chain, lower hull
        while len(hull) >= 2 and (hull[-1][0] - hull[-2][0]) * (p[1] - hull[-2][1]) - \
                (hull[-1][1] - hull[-2][1]) * (p[0] - hull[-2][0]) <= 0:
            hull.pop()
        hull.append(p)
    xs, ds = np.array([h[0] for h in hull]), np.array([h[1] for h in hull])
    d = np.interp(r, xs, np.minimum.accumulate(ds))  # beyond the last point: its distortion
    return float(-10 * np.log10(d))


def fig10_findings(rows: Sequence[ResultRow], r_range: Sequence[float]) -> list[Finding]:
    """The paper's statements about Fig. 10(c), checked on our points (``rows``, SDR versus R)
    by time-sharing envelopes; ``r_range``: where the paper finds NTSCC above NTC + capacity."""
    def points(method):
        return np.array(sorted((r.bandwidth_ratio, r.value) for r in rows if r.method == method))

    r_lo, r_hi = r_range
    ntscc, djscc, ntc = points("NTSCC"), points("Deep JSCC"), points("NTC + capacity")
    lo, hi = ntscc[:, 0].min(), ntscc[:, 0].max()
    inside = [p for p in djscc if lo <= p[0] <= hi]
    worse = [f"R={p[0]:g}: {time_sharing_sdr(ntscc, p[0]):.2f} vs {p[1]:.2f} dB" for p in inside
             if time_sharing_sdr(ntscc, p[0]) < p[1]]
    first = Finding(f"NTSCC at or above deep JSCC over R in [{lo:.2f}, {hi:.2f}]", bool(inside) and not worse,
                    "holds at all deep JSCC points" if inside and not worse else
                    ("no deep JSCC point in NTSCC's range" if not inside else "fails at " + "; ".join(worse)))
    gains = [(r_, s - time_sharing_sdr(ntc, r_)) for r_, s in ntscc
             if r_lo <= r_ <= r_hi and ntc[:, 0].min() <= r_]
    best = max(gains, key=lambda g: g[1]) if gains else None
    second = Finding(f"NTSCC above NTC + capacity somewhere in R in [{r_lo:g}, {r_hi:g}]", bool(best and best[1] > 0),
                     f"largest gain {best[1]:+.2f} dB at R = {best[0]:.3f}" if best else
                     f"no NTSCC point with R in [{r_lo:g}, {r_hi:g}] inside the NTC + capacity range")
    return [first, second]


def sdr_curves(rows: Sequence[ResultRow]) -> dict[str, np.ndarray]:
    """Fig. 10(c) series: {label: (R, SDR) sorted by R}, NTSCC split by λ."""
    series: dict[str, list] = {}
    for r in rows:
        label = r.method if r.method != "NTSCC" else f"NTSCC, λ = 1/{round(1 / r.extra['lmbda'])}"
        series.setdefault(label, []).append((r.bandwidth_ratio, r.value))
    return {k: np.array(sorted(v)) for k, v in series.items()}


def render(profile, eval_dir: Path, out_pdf: Path) -> None:
    """Fig. 10 from the banana evaluation folder ``eval_dir``."""
    started = time.perf_counter()
    ev = read_banana_eval(eval_dir)
    maps, run_key, points = ev.maps, ev.run_key, ev.points
    r_range = printed_values().value("fig10", "ntscc_above_ntc_capacity_r")
    snr = float(profile.get("ntscc.banana")["snr_db"])
    mask = support(maps)
    setting = map_setting(profile)
    r_map = float(maps["ntscc_bandwidth_ratio"])
    k_dj = int(maps["deepjscc_channel_uses"])
    fig = new_figure(15, 4.4)
    axes = fig.subplots(1, 3)
    limits = color_limits(maps, ("sdr_deepjscc", "sdr_ntscc"), mask)  # one scale for (a) and (b)
    draw_map(axes[0], maps, "sdr_deepjscc", f"(a) deep JSCC, k = {k_dj} (R = {k_dj / 2:g})", "SDR (dB)", mask=mask,
             limits=limits)
    draw_map(axes[1], maps, "sdr_ntscc", f"(b) NTSCC, {setting}, R = {r_map:.2f}", "SDR (dB)", mask=mask,
             limits=limits)
    ax = axes[2]
    for label, arr in sdr_curves(points).items():
        ax.plot(arr[:, 0], arr[:, 1], label=label, ms=4, **STYLES.get(label, dict(marker="o")))
    ax.axvspan(*r_range, color="0.9", zorder=0)
    ax.set_xlabel(AXIS_R)
    ax.set_ylabel("SDR (dB), eq. (30)")
    ax.set_title(f"(c) AWGN, SNR = {snr:g} dB", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    rows = ([ResultRow(figure="fig10", panel="c", method=r.method, dataset=r.dataset, snr_db=r.snr_db,
                       bandwidth_ratio=r.bandwidth_ratio, metric=r.metric, value=r.value, run_id=r.run_id,
                       source=r.source, extra=r.extra) for r in points]
            + grid_rows("fig10", "a", "Deep JSCC", "sdr_db", maps, "sdr_deepjscc", run_key, snr, k_dj / 2)
            + grid_rows("fig10", "b", "NTSCC", "sdr_db", maps, "sdr_ntscc", run_key, snr, r_map))
    write_banana_page(fig, "fig10", ev, rows, profile, out_pdf, findings=fig10_findings(points, r_range), notes=[],
                      started=started)


def main(argv: list[str] | None = None) -> None:
    parser = figure_parser("python -m pipelines.ntscc.fig10", __doc__)
    parser.add_argument("--eval", required=True, help="the banana evaluation folder (points.csv, maps.npz, run.json)")
    run_figure(parser, argv, lambda args: render(load(args.profile), Path(args.eval), Path(args.out)))


if __name__ == "__main__":
    main()
