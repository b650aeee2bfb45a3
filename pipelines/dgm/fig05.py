"""Fig. 5 of Dai et al. 2024 (Sec. III-A): a face sent at bandwidth ratio <= 0.02 over AWGN at falling SNR by
separation with AMC (accurate and stale SNR estimates, and one fixed estimate), strongly-coupled JSCC and
generative JSCC by posterior sampling.

Top: one test face (``dgm.fig05.picture``) as each scheme reconstructs it, SNR falling left to right.
Bottom: per SNR over the evaluated test faces, (a) distortion (MSE), (b) consistency (LPIPS-VGG),
(c) realism (FD-VGG16; FID's Inception weights cannot be had here), (d) the share of images lost.

    python -m pipelines.dgm.fig05 --profile mini --scores results/mini/dgm/fig05/scores.csv \\
        --records results/mini/dgm/fig05/*.npz --split results/mini/gjscc/split.json --data data \\
        --out reports/dgm/fig05.pdf

Writes fig05.pdf, fig05.csv (every plotted number) and fig05.json (provenance and findings).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from jscc_core.results import ResultRow
from pipelines.dgm.fig05_record import picture_index, read_record, test_faces
from pipelines.dgm.paths import FIG05_SCHEMES
from pipelines.figures.cli import figure_parser, run_figure
from pipelines.figures.findings import Finding
from pipelines.figures.page import new_figure, write_page
from pipelines.figures.paper_values import load_paper_values
from pipelines.profile import load

FIG = "fig05"
VALUES_FILE = Path(__file__).with_name("paper_values.yaml")
SEPARATION = ("separation_amc", "separation_stale", "separation_fixed")
JSCC = ("deepjscc_mse", "ntscc", "posterior")
STYLE = {"separation_amc": "-s", "separation_stale": "--s", "separation_fixed": ":s", "deepjscc_mse": "-o",
         "ntscc": "-^", "posterior": "-D"}
PANELS = (("a", "mean_mse", "MSE (images in [0, 1]) \u2193"), ("b", "mean_lpips_vgg", "LPIPS-VGG (consistency) \u2193"),
          ("c", "fd_vgg16", "FD-VGG16 (realism) \u2193"), ("d", "loss_rate", "images lost"))
LEVEL_DB = 0.5  # "does not improve": PSNR within this above the estimate


def _claim(name: str, where: str = "") -> str:
    v = load_paper_values(VALUES_FILE).get(FIG, "findings", name)
    return f"{v.value} [{v.source}]" + (f", {where}" if where else "")


def _per_snr(info: dict, key: str, n_snr: int, default=None) -> list | None:
    """A record's per-SNR value ``key`` (its ``points`` list, one entry per SNR), or ``default`` for each."""
    points = info.get("points")
    if not points or any(p.get(key) is None for p in points):
        return None if default is None else [default] * n_snr
    if len(points) != n_snr:
        raise ValueError(f"the {info.get('scheme')} record has {len(points)} points, the figure {n_snr} SNRs")
    return [float(p[key]) for p in points]


def _findings(points: dict, snrs: list[float], estimates: dict) -> list[Finding]:
    """The magazine's observations checked on ``points`` ({scheme: {metric: array over snrs}})."""
    out = []
    snr = np.array(snrs)
    amc, stale, fixed = (points.get(s) for s in SEPARATION)
    if amc is not None:
        lost = amc["loss_rate"]
        best_jscc = {s: points[s]["mean_psnr"] for s in JSCC if s in points}
        wins = [f"{snrs[j]:g} dB" for j in range(len(snrs))
                if all(amc["mean_psnr"][j] > v[j] for v in best_jscc.values())]
        out.append(Finding(_claim("separation_at_estimate", "SNR_AMC = SNR"), bool(lost.max() <= 0.1 and wins),
                           f"loss rate {lost.min():.0%}-{lost.max():.0%}; PSNR above every JSCC scheme at "
                           f"{', '.join(wins) or 'no SNR'} (separation {np.round(amc['mean_psnr'], 2).tolist()} dB)"))
    if stale is not None and amc is not None:
        below = [j for j in range(len(snrs)) if estimates["separation_stale"][j] > snrs[j]]
        more = [j for j in below if stale["loss_rate"][j] > amc["loss_rate"][j]]
        out.append(Finding(_claim("cliff", "stale estimate (the previous, higher SNR)"), bool(more),
                           "loss rate stale / accurate: " + ", ".join(
                               f"{snrs[j]:g} dB {stale['loss_rate'][j]:.0%} / {amc['loss_rate'][j]:.0%}"
                               for j in below)))
    if fixed is not None:
        e = estimates["separation_fixed"][0]
        above, below = snr >= e, snr < e
        jumps = [fixed["loss_rate"][below].mean() if below.any() else float("nan"),
                 fixed["loss_rate"][above].mean() if above.any() else float("nan")]
        out.append(Finding(_claim("cliff", f"one MCS chosen for {e:g} dB"), bool(below.any() and jumps[0] > jumps[1]),
                           f"loss rate {jumps[0]:.0%} below {e:g} dB, {jumps[1]:.0%} at or above it"))
        spread = float(np.ptp(fixed["mean_psnr"][above])) if above.sum() > 1 else float("nan")
        gain = {s: float(points[s]["mean_psnr"][above].max() - points[s]["mean_psnr"][above].min())
                for s in JSCC if s in points and above.sum() > 1}
        out.append(Finding(_claim("levelling", f"one MCS chosen for {e:g} dB"), bool(spread <= LEVEL_DB),
                           f"separation PSNR spread {spread:.2f} dB over {snr[above].min():g}.."
                           f"{snr[above].max():g} dB; "
                           "JSCC gains " + ", ".join(f"{s} {g:.2f} dB" for s, g in gain.items())))
    for s in ("deepjscc_mse", "ntscc"):
        if s in points:
            p = points[s]["mean_psnr"]
            steps = -np.diff(p)  # snrs fall left to right
            sep = amc["mean_psnr"] if amc is not None else None
            sep_drop = float(np.max(-np.diff(sep))) if sep is not None else float("nan")
            limit = 3.0 if np.isnan(sep_drop) else sep_drop  # smaller than separation's worst step (its cliff)
            out.append(Finding(_claim("jscc_graceful", s), bool(points[s]["loss_rate"].max() == 0
                                                                 and steps.max() < limit),
                               f"no image lost; PSNR {p[0]:.2f} -> {p[-1]:.2f} dB, largest step {steps.max():.2f} dB "
                               f"per SNR step (separation, accurate estimate: {sep_drop:.2f} dB)"))
    if "deepjscc_mse" in points:
        fd = points["deepjscc_mse"]["fd_vgg16"]
        out.append(Finding(_claim("mse_schemes_lose_realism", "DeepJSCC (MSE)"), bool(fd[-1] > fd[0]),
                           f"FD-VGG16 {fd[0]:.1f} at {snrs[0]:g} dB -> {fd[-1]:.1f} at {snrs[-1]:g} dB"))
    if "posterior" in points:
        post = points["posterior"]
        others = {s: v["fd_vgg16"] for s, v in points.items() if s != "posterior"}
        lowest = [j for j in range(len(snrs)) if all(post["fd_vgg16"][j] < v[j] for v in others.values()
                                                     if np.isfinite(v[j]))]
        lp = post["mean_lpips_vgg"]
        where = "lowest FD-VGG16 at every SNR, LPIPS rising as SNR falls"
        out.append(Finding(_claim("generative_keeps_realism", where),
                           bool(len(lowest) == len(snrs) and lp[-1] > lp[0]),
                           f"lowest FD-VGG16 at {len(lowest)} of {len(snrs)} SNRs; FD-VGG16 "
                           f"{np.round(post['fd_vgg16'], 1).tolist()}; LPIPS-VGG {lp[0]:.3f} at {snrs[0]:g} dB -> "
                           f"{lp[-1]:.3f} at {snrs[-1]:g} dB"))
    return out


def render(profile, scores: Path, records: list[Path], split: Path, root: Path, out_pdf: Path,
           models: list[Path] = ()) -> None:
    """The page from ``scores`` (scores.csv), the schemes' ``records``, the faces (``split``, data ``root``)
    and the trained ``models`` behind them (folders with run.json: their runs and training time)."""
    started = time.perf_counter()
    js = scores.with_suffix(".json")
    if not js.is_file():
        raise FileNotFoundError(f"{js}: no scores; run the dgm_fig05_scores stage first")
    score_info = json.loads(js.read_text())
    recs = {}
    for p in records:
        info, arrays = read_record(p)
        recs[info["scheme"]] = (info, arrays)
    order = [s for s in FIG05_SCHEMES if s in recs]
    snrs = [float(s) for s in profile.get("dgm.fig05.snr_db")]
    points: dict[str, dict[str, np.ndarray]] = {}
    estimates = {}
    rows = []
    n_images = int(score_info["n_images"])
    for s in order:
        info, arrays = recs[s]
        if [float(v) for v in arrays["snr_db"]] != snrs:
            raise ValueError(f"the {s} record holds SNRs {arrays['snr_db'].tolist()}, dgm.fig05.snr_db is {snrs}")
        by_snr = {float(p["snr_db"]): p for p in score_info["points"] if p["scheme"] == s}
        if sorted(by_snr) != sorted(snrs):
            raise ValueError(f"{scores} scores {s} at {sorted(by_snr)} dB, the record at {snrs}: rerun the scores")
        loss = _per_snr(info, "loss_rate", len(snrs), 0.0)  # 0: a JSCC scheme never loses a face
        points[s] = {m: np.array([np.nan if by_snr[v].get(m) is None else float(by_snr[v][m]) for v in snrs])
                     for m in ("mean_mse", "mean_psnr", "mean_lpips_vgg", "mean_lpips_alex", "fd_vgg16", "rho_mean",
                               "rho_max")}
        points[s]["loss_rate"] = np.array(loss)
        if _per_snr(info, "estimate_db", len(snrs)) is not None:
            estimates[s] = _per_snr(info, "estimate_db", len(snrs))
        for j, v in enumerate(snrs):
            extra = {"scheme": s, "n_images": n_images, "rho_max": float(points[s]["rho_max"][j])}
            if s in estimates:
                extra["snr_amc_db"] = estimates[s][j]
            for panel, metric in (("a", "mean_mse"), ("a", "mean_psnr"), ("b", "mean_lpips_vgg"),
                                  ("b", "mean_lpips_alex"), ("c", "fd_vgg16"), ("d", "loss_rate")):
                value = points[s][metric][j]
                if np.isfinite(value):
                    rows.append(ResultRow(FIG, panel, info["label"], str(profile.get("gjscc.data.faces")), v,
                                          float(points[s]["rho_mean"][j]), metric.removeprefix("mean_"),
                                          float(value), extra=extra))
    findings = _findings(points, snrs, estimates)

    # ---- page: the picture grid above, four panels below
    pic = picture_index(profile, n_images)
    face_id = str(score_info["image_ids"][pic])
    grid_rows = len(order) + 1  # the original, then one row per scheme
    fig = new_figure(11.0, 1.15 * grid_rows + 4.2)
    gs = fig.add_gridspec(grid_rows + 3, len(snrs) + 1, height_ratios=[1.0] * grid_rows + [0.25, 2.6, 0.35])
    ids, faces = test_faces(profile, split, root)
    if ids[pic] != face_id:
        raise ValueError(f"{scores} was scored on other faces than the profile's ({face_id} != {ids[pic]})")
    ax = fig.add_subplot(gs[0, 0])
    ax.imshow(faces[pic])
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title("original", fontsize=6)
    for r, s in enumerate(order, start=1):
        info, arrays = recs[s]
        ax = fig.add_subplot(gs[r, 0])
        ax.axis("off")
        ax.text(1.0, 0.5, info["label"], ha="right", va="center", fontsize=6, wrap=True, transform=ax.transAxes)
        for j, v in enumerate(snrs):
            ax = fig.add_subplot(gs[r, j + 1])
            ax.imshow(arrays["images"][j, pic])
            ax.set_xticks([])
            ax.set_yticks([])
            title = f"{v:g} dB" if r == 1 else ""
            if s in estimates:
                title = (title + "\n" if title else "") + f"SNR_AMC {estimates[s][j]:g} dB"
            if title:
                ax.set_title(title, fontsize=6)
    panels = gs[grid_rows + 1, :].subgridspec(1, 4, wspace=0.35)
    axes = [fig.add_subplot(panels[0, k]) for k in range(4)]
    for ax, (panel, metric, ylabel) in zip(axes, PANELS):
        for s in order:
            y = points[s][metric]
            if np.isfinite(y).any():
                ax.plot(snrs, y, STYLE[s], ms=3, lw=1, label=recs[s][0]["label"])
        ax.set_xlabel("channel SNR (dB)", fontsize=7)
        ax.set_title(f"({panel}) {ylabel}", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.invert_xaxis()
    axes[0].legend(fontsize=5, loc="upper left")
    fig.suptitle(f"Fig. 5: a face at bandwidth ratio \u2264 {profile.get('dgm.fig05.max_rho'):g} over AWGN "
                 f"(picture: test face {face_id}; curves: {n_images} test faces)", fontsize=9)

    notes = [
        f"the pictured face is test face {pic} of the seeded split ({face_id}); the figure's FFHQ 69037 is not "
        "available here",
        "realism: FD-VGG16 between the reconstructions and the same test faces (VGG16 relu5_3, pooled, 512 "
        f"features, {n_images} faces: small sets bias it upward alike for every scheme); FID: not available ("
        f"{score_info['fid']['reason']})",
        "bandwidth: complex channel uses per source dimension, every side bit counted; largest per face: "
        + ", ".join(f"{s} {float(points[s]['rho_max'].max()):.4f}" for s in order),
    ]
    by_note: dict[str, list[str]] = {}  # a note several records share is printed once, naming them all
    for s in order:
        for n in recs[s][0].get("notes", []):
            by_note.setdefault(n, []).append(s)
    notes += [f"{', '.join(schemes)}: {n}" for n, schemes in by_note.items()]
    # stage time: the scores, every record (the work behind it when resumed) and every model's training
    run_keys = {}
    stage_time = float(score_info.get("wall_time_s", 0))
    for s in order:
        info = recs[s][0]
        stage_time += max(float(info.get("wall_time_s") or 0), float(info.get("compute_seconds") or 0))
        if info.get("run_key"):
            run_keys[info["run_key"]] = info.get("run_id")
    for folder in models:
        meta = json.loads((folder / "run.json").read_text())
        run_keys[meta["run_key"]] = meta.get("run_id")
        stage_time += max(float(meta.get("wall_time_s") or 0), float(meta.get("train_time_s") or 0))

    def layout(bottom: float) -> None:
        fig.subplots_adjust(left=0.06, right=0.99, top=0.93, bottom=bottom + 0.02, wspace=0.35, hspace=0.25)

    write_page(fig, out_pdf, rows, profile, name=f"DGM {FIG}", findings=findings, notes=notes,
               run_ids=[v for v in run_keys.values() if v], run_keys=run_keys,
               data_checksums=score_info.get("data_checksums", {}), stage_time_s=stage_time, started=started,
               layout=layout, picture={"index": pic, "image_id": face_id})


def main(argv: list[str] | None = None) -> None:
    parser = figure_parser("python -m pipelines.dgm.fig05", __doc__)
    parser.add_argument("--scores", required=True, help="scores.csv (with scores.json beside it)")
    parser.add_argument("--records", required=True, nargs="+", help="the schemes' records (.npz)")
    parser.add_argument("--split", required=True, help="gjscc's split.json of the face set")
    parser.add_argument("--data", default="data", help="data root (the face set)")
    parser.add_argument("--models", nargs="*", default=[], help="the trained model folders behind the records")
    run_figure(parser, argv, lambda a: render(load(a.profile), Path(a.scores), [Path(p) for p in a.records],
                                              Path(a.split), Path(a.data), Path(a.out),
                                              [Path(p) for p in a.models]))


if __name__ == "__main__":
    main()
