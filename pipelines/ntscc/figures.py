"""Rendering of NTSCC Figs. 9 and 10 from the banana evaluation stage's outputs.

Each figure writes <fig>.pdf, <fig>.csv (every plotted point, results contract)
and <fig>.json (provenance).  The paper prints no numbers for these figures, so
there are no reference rows; the findings the paper states are checked on our
points and written on the page.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jscc_core.channels import ChannelUseBudget  # noqa: E402
from jscc_core.results import ResultRow, read_results_csv, save_figure, write_provenance, write_results_csv  # noqa: E402

AXIS_R = "average " + ChannelUseBudget("real", symbol="R").axis_label + ", m = 2"


def _grid_rows(fig, panel, method, metric, maps, key, run_id, snr_db=None, bandwidth_ratio=None):
    x1, x2, values = maps["x1"], maps["x2"], maps[key]
    rows = []
    for i, b in enumerate(x2):
        for j, a in enumerate(x1):
            rows.append(ResultRow(figure=fig, panel=panel, method=method, dataset="banana", snr_db=snr_db,
                                  bandwidth_ratio=bandwidth_ratio, metric=metric, value=float(values[i, j]),
                                  run_id=run_id, extra={"x1": float(a), "x2": float(b)}))
    return rows


def _color_limits(maps, keys, mask, log=False):
    """Shared colour range of several maps: the central 96% of their values on the support
    (per-point SDR diverges near x = 0, where ||x||^2 -> 0)."""
    shown = np.concatenate([np.asarray(maps[k], dtype=float)[mask] for k in keys])
    if log:
        shown = np.log10(np.maximum(shown, 1e-12))
    shown = shown[np.isfinite(shown)]
    return tuple(np.percentile(shown, [2, 98])) if shown.size else (None, None)


def _image(ax, maps, key, title, cbar_label, mask=None, log=False, limits=None):
    values = np.array(maps[key], dtype=float)
    if log:
        values = np.log10(np.maximum(values, 1e-12))
    if mask is not None:
        values = np.where(mask, values, np.nan)
    extent = (maps["x1"][0], maps["x1"][-1], maps["x2"][0], maps["x2"][-1])
    vmin, vmax = limits or (None, None)
    im = ax.imshow(values, origin="lower", extent=extent, aspect="auto", cmap="viridis", vmin=vmin, vmax=vmax)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.figure.colorbar(im, ax=ax, label=cbar_label)


def _support(maps, mass: float = 0.99) -> np.ndarray:
    """Grid cells inside the highest-density region holding ``mass`` of the source's probability."""
    p = np.asarray(maps["source_density"], dtype=float)
    order = np.sort(p.ravel())[::-1]
    cum = np.cumsum(order) / order.sum()
    return p >= order[min(np.searchsorted(cum, mass), len(order) - 1)]


def _curves(rows):
    """Fig. 10(c) series: {label: sorted (R, SDR) array}, NTSCC split by lambda."""
    series: dict[str, list] = {}
    for r in rows:
        label = r.method if r.method != "NTSCC" else f"NTSCC, λ = 1/{round(1 / r.extra['lmbda'])}"
        series.setdefault(label, []).append((r.bandwidth_ratio, r.value))
    return {k: np.array(sorted(v)) for k, v in series.items()}


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


def findings(rows) -> list[tuple[str, bool, str]]:
    """The paper's statements about Fig. 10(c), checked on our points (time-sharing envelopes)."""
    def points(method):
        return np.array(sorted((r.bandwidth_ratio, r.value) for r in rows if r.method == method))

    ntscc, djscc, ntc = points("NTSCC"), points("Deep JSCC"), points("NTC + capacity")
    lo, hi = ntscc[:, 0].min(), ntscc[:, 0].max()
    inside = [p for p in djscc if lo <= p[0] <= hi]
    worse = [f"R={p[0]:g}: {time_sharing_sdr(ntscc, p[0]):.2f} vs {p[1]:.2f} dB" for p in inside
             if time_sharing_sdr(ntscc, p[0]) < p[1]]
    first = (f"NTSCC at or above deep JSCC over R in [{lo:.2f}, {hi:.2f}]", bool(inside) and not worse,
             "holds at all deep JSCC points" if inside and not worse else
             ("no deep JSCC point in NTSCC's range" if not inside else "fails at " + "; ".join(worse)))
    gains = [(r_, s - time_sharing_sdr(ntc, r_)) for r_, s in ntscc
             if 0.25 <= r_ <= 0.9 and ntc[:, 0].min() <= r_]
    best = max(gains, key=lambda g: g[1]) if gains else None
    second = ("NTSCC above NTC + capacity somewhere in R in [0.25, 0.9]", bool(best and best[1] > 0),
              f"largest gain {best[1]:+.2f} dB at R = {best[0]:.3f}" if best else
              "no NTSCC point with R in [0.25, 0.9] inside the NTC + capacity range")
    return [first, second]


def render(fig_id: str, profile, eval_dir: Path, out_pdf: Path) -> None:
    started = time.perf_counter()
    meta = json.loads((eval_dir / "run.json").read_text())
    maps = dict(np.load(eval_dir / "maps.npz"))
    points = read_results_csv(eval_dir / "points.csv")
    cfg = profile.get("ntscc.banana")
    snr = float(cfg["snr_db"])
    support = _support(maps)
    run_key = meta["run_key"]
    r_map = float(maps["ntscc_bandwidth_ratio"])
    k_dj = int(maps["deepjscc_channel_uses"])
    lam = cfg["maps"]["lmbda"]
    setting = f"λ = 1/{round(1 / lam)}, η = {cfg['maps']['eta']:g}, SNR = {snr:g} dB"

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    if fig_id == "fig09":
        limits = _color_limits(maps, ("source_density", "learned_density"), support, log=True)
        _image(axes[0], maps, "source_density", "(a) source density", "log10 p(x)", mask=support, log=True,
               limits=limits)
        _image(axes[1], maps, "learned_density", f"(b) learned density (NTSCC, {setting})", "log10 p̂(x)",
               mask=support, log=True, limits=limits)
        _image(axes[2], maps, "bandwidth", f"(c) bandwidth cost k̄_y, average R = {r_map:.2f}",
               "real channel uses", mask=support)
        rows = (_grid_rows("fig09", "a", "source (exact density)", "density", maps, "source_density", run_key)
                + _grid_rows("fig09", "b", "NTSCC", "learned_density", maps, "learned_density", run_key, snr)
                + _grid_rows("fig09", "c", "NTSCC", "channel_uses", maps, "bandwidth", run_key, snr))
        notes = [f"Shown on the region holding 99% of the source probability; {setting}."]
        checks = []
    else:
        limits = _color_limits(maps, ("sdr_deepjscc", "sdr_ntscc"), support)  # one scale for (a) and (b)
        _image(axes[0], maps, "sdr_deepjscc", f"(a) deep JSCC, k = {k_dj} (R = {k_dj / 2:g})", "SDR (dB)",
               mask=support, limits=limits)
        _image(axes[1], maps, "sdr_ntscc", f"(b) NTSCC, {setting}, R = {r_map:.2f}", "SDR (dB)", mask=support,
               limits=limits)
        ax = axes[2]
        styles = {"Deep JSCC": dict(marker="s", color="tab:blue"), "NTC + capacity": dict(marker="^", color="k", ls="--")}
        for label, arr in _curves(points).items():
            ax.plot(arr[:, 0], arr[:, 1], label=label, ms=4, **styles.get(label, dict(marker="o")))
        ax.axvspan(0.25, 0.9, color="0.9", zorder=0)
        ax.set_xlabel(AXIS_R)
        ax.set_ylabel("SDR (dB), eq. (30)")
        ax.set_title(f"(c) AWGN, SNR = {snr:g} dB", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        rows = ([ResultRow(figure="fig10", panel="c", method=r.method, dataset=r.dataset, snr_db=r.snr_db,
                           bandwidth_ratio=r.bandwidth_ratio, metric=r.metric, value=r.value, run_id=r.run_id,
                           source=r.source, extra=r.extra) for r in points]
                + _grid_rows("fig10", "a", "Deep JSCC", "sdr_db", maps, "sdr_deepjscc", run_key, snr, k_dj / 2)
                + _grid_rows("fig10", "b", "NTSCC", "sdr_db", maps, "sdr_ntscc", run_key, snr, r_map))
        checks = findings(points)
        notes = [f"{'HOLDS' if ok else 'DOES NOT HOLD'}: {claim} ({detail})" for claim, ok, detail in checks]
    fig.text(0.01, 0.01, f"profile {profile.name}: " + " | ".join(notes), fontsize=7, va="bottom")
    fig.tight_layout(rect=(0, 0.05, 1, 1))

    out_pdf = Path(out_pdf)
    out_pdf.parent.mkdir(parents=True, exist_ok=True)
    write_results_csv(rows, out_pdf.with_suffix(".csv"))
    run_ids = [meta["run_id"], *meta["model_run_ids"].values()]
    prov = write_provenance(
        out_pdf.with_suffix(".json"), profile=profile,
        data_checksums={"banana_train_sha256": meta["train_sha256"], "banana_test_sha256": meta["test_sha256"]},
        mlflow_run_ids=run_ids, wall_time_s=time.perf_counter() - started, seed=int(profile["seed"]),
        extra={"figure": f"NTSCC {fig_id}", "run_keys": meta["run_keys"],
               # summed wall time of every stage behind this figure (training + evaluation)
               "stage_time_s": round(meta["pipeline_wall_time_s"] + time.perf_counter() - started, 3),
               "findings": [{"claim": c, "holds": ok, "detail": d} for c, ok, d in checks],
               "notes": notes})
    save_figure(fig, out_pdf, prov)
    plt.close(fig)
