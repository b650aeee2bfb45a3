"""What the four GJSCC pages share: the inputs they read (evaluations and their records), curves
versus SNR, the paper's comparisons as findings with the measured gap, and picture grids.

Curves are means over the test images at each SNR; a finding compares two curves at the SNRs where
both have points, paired on the same images and channel draws where the evaluation made them so.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jscc_core.results import ResultRow
from pipelines.figures.evals import EvalRun, need_file, read_record
from pipelines.figures.findings import MISSING, Finding
from pipelines.figures.paper_values import PaperValues, load_paper_values
from pipelines.gjscc.evals import Point, dataset_name, mean_points, picture_key, read_gjscc_eval

VALUES_FILE = Path(__file__).with_name("paper_values.yaml")

SNR_AXIS = "channel SNR (dB)"
RHO_NOTE = ("ρ = c_out / 1536 is the bandwidth ratio in complex channel uses per source dimension "
            "(k/m, k complex symbols, m = 3HW)")
METRIC_LABEL = {"lpips_vgg": "LPIPS (VGG)", "lpips_alex": "LPIPS (AlexNet)", "psnr": "PSNR (dB)",
                "ms_ssim": "MS-SSIM"}
LOWER_IS_BETTER = {"lpips_vgg": True, "lpips_alex": True, "psnr": False, "ms_ssim": False, "fd_vgg16": True}
METRIC_UNIT = {"lpips_vgg": "", "lpips_alex": "", "psnr": " dB", "ms_ssim": "", "fd_vgg16": ""}


def printed_values() -> PaperValues:
    """What the paper states about Figs. 6-9 (axes, methods, findings), each with its source."""
    return load_paper_values(VALUES_FILE)


def paper_claim(values: PaperValues, fig_id: str, name: str, where: str = "") -> str:
    """The paper's finding ``name`` of ``fig_id`` in its words, its source and ``where`` we check it."""
    v = values.get(fig_id, "findings", name)
    return f"{v.value} [{v.source}]" + (f", {where}" if where else "")


def read_evals(paths: Sequence[Path | str]) -> tuple[list[EvalRun], list[Point]]:
    """The evaluations at ``paths`` (eval.csv, with eval.json beside each) and their mean points."""
    runs = [read_gjscc_eval(p) for p in paths]
    return runs, mean_points(runs)


def provenance(runs: Sequence[EvalRun]) -> dict:
    """``write_page``'s provenance arguments from the evaluations' records: MLflow runs, run keys,
    data checksums, and the time of the evaluations and of the trainings behind them."""
    run_ids, keys, checksums, seconds = [], {}, {}, 0.0
    for run in runs:
        meta = run.meta
        for name in ("run_id", "run_key", "wall_time_s"):
            if name not in meta:
                raise ValueError(f"{run.path.with_suffix('.json')}: no {name} (not written by a GJSCC evaluation)")
        run_ids.append(meta["run_id"])
        keys[meta["run_key"]] = meta["run_id"]
        for key, rid in meta.get("model_runs", {}).items():
            keys.setdefault(key, rid)
            run_ids.append(rid)
        checksums.update(meta.get("data_checksums", {}))
        seconds += float(meta["wall_time_s"]) + float(meta.get("model_wall_time_s", 0.0))
    return {"run_ids": list(dict.fromkeys(run_ids)), "run_keys": keys, "data_checksums": checksums,
            "stage_time_s": seconds}


def metric_label(metric: str, runs: Sequence[EvalRun]) -> str:
    """The axis label of ``metric``; MS-SSIM says how many scales the evaluations used."""
    if metric != "ms_ssim":
        return METRIC_LABEL[metric]
    scales = sorted({int(r.meta.get("ms_ssim_scales", 5)) for r in runs})
    if scales == [5]:
        return "MS-SSIM"
    return f"MS-SSIM ({'/'.join(str(s) for s in scales)}-scale)"


def point_rows(fig_id: str, panel: str, label: str, points: Sequence[Point], metric: str) -> list[ResultRow]:
    """One results row per point of a curve: its mean, the spread and the images behind it."""
    return [ResultRow(figure=fig_id, panel=panel, method=label, dataset=dataset_name(p.dataset), snr_db=p.snr_db,
                      bandwidth_ratio=p.rho, metric=metric, value=p.value(metric), run_id=p.run_key,
                      extra={"method": p.method, "domain": p.domain, "c_out": p.c_out, "test_set": p.test_set,
                             "n_images": p.n_images, "std": p.std[metric], "channel_use": "complex"})
            for p in points]


def plot_curve(ax, points: Sequence[Point], metric: str, label: str, **style) -> None:
    """Mean ``metric`` versus SNR, with a band of one standard error of the mean."""
    if not points:
        return
    x = np.array([p.snr_db for p in points])
    y = np.array([p.value(metric) for p in points])
    se = np.array([p.std[metric] / np.sqrt(max(p.n_images, 1)) for p in points])
    line, = ax.plot(x, y, label=label, ms=4, **style)
    ax.fill_between(x, y - se, y + se, color=line.get_color(), alpha=0.12, lw=0)


def _common(test: Sequence[Point], ref: Sequence[Point]) -> list[tuple[float, Point, Point]]:
    at = {p.snr_db: p for p in ref}
    return [(p.snr_db, p, at[p.snr_db]) for p in test if p.snr_db in at]


def gains(test: Sequence[Point], ref: Sequence[Point], metric: str) -> list[tuple[float, float]]:
    """(SNR, improvement of ``test`` over ``ref``) at every SNR both have, positive when ``test`` is
    better (a lower LPIPS, a higher PSNR or MS-SSIM)."""
    sign = -1.0 if LOWER_IS_BETTER[metric] else 1.0
    return [(s, sign * (t.value(metric) - r.value(metric))) for s, t, r in _common(test, ref)]


def _snrs(values: Sequence[float]) -> str:
    return f"{min(values):g} to {max(values):g} dB" if len(values) > 1 else f"{values[0]:g} dB"


def better_everywhere(claim: str, test: Sequence[Point], ref: Sequence[Point], metric: str) -> Finding:
    """``test`` better than ``ref`` on ``metric`` at every SNR where both have a point; the detail
    gives the measured improvement (in the metric's units) and where it is not positive."""
    if not test or not ref:
        return Finding(claim, False, MISSING)
    g = gains(test, ref, metric)
    if not g:
        return Finding(claim, False, "no SNR where both curves have points")
    name, unit = METRIC_LABEL.get(metric, metric), METRIC_UNIT[metric]
    values = [v for _, v in g]
    detail = (f"{name} improvement {min(values):+.4g} to {max(values):+.4g}{unit} at {len(g)} SNRs "
              f"({_snrs([s for s, _ in g])}; {test[0].n_images} images)")
    worse = [s for s, v in g if v <= 0]
    if worse:
        detail += f"; not better at {', '.join(f'{s:g}' for s in worse)} dB"
    return Finding(claim, not worse, detail)


def larger_at_low_snr(claim: str, test: Sequence[Point], ref: Sequence[Point], metric: str) -> Finding:
    """The improvement of ``test`` over ``ref`` shrinks as the SNR grows: the least-squares line of
    the improvement against SNR falls (and the lowest SNR gains more than the highest)."""
    if not test or not ref:
        return Finding(claim, False, MISSING)
    g = gains(test, ref, metric)
    if len(g) < 2:
        return Finding(claim, False, f"needs the improvement at 2 SNRs or more, have {len(g)}")
    x, y = np.array(g).T
    slope = float(np.polyfit(x, y, 1)[0])
    unit = METRIC_UNIT[metric]
    detail = (f"improvement {y[0]:+.4g}{unit} at {x[0]:g} dB, {y[-1]:+.4g}{unit} at {x[-1]:g} dB; "
              f"fitted change {slope * (x[-1] - x[0]):+.4g}{unit} across the SNRs")
    return Finding(claim, slope < 0 and y[0] > y[-1], detail)


def not_better_on_average(claim: str, test: Sequence[Point], ref: Sequence[Point], metric: str) -> Finding:
    """``test`` is not better than ``ref`` on ``metric`` averaged over the common SNRs (the paper's
    "only in terms of LPIPS": no gain in the pixel-wise measures)."""
    if not test or not ref:
        return Finding(claim, False, MISSING)
    g = gains(test, ref, metric)
    if not g:
        return Finding(claim, False, "no SNR where both curves have points")
    mean = float(np.mean([v for _, v in g]))
    return Finding(claim, mean <= 0, f"mean {METRIC_LABEL.get(metric, metric)} improvement {mean:+.4g}"
                                     f"{METRIC_UNIT[metric]} over {len(g)} SNRs ({_snrs([s for s, _ in g])})")


# --------------------------------------------------------------------------- picture grids


def read_pictures(path: Path | str) -> dict[str, np.ndarray]:
    """A ``pictures.npz`` (uint8 images (N, H, W, 3) per entry, ``image_ids``) as a dict."""
    path = need_file(path, "reconstructed pictures")
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def mosaic(rows: Sequence[Sequence[np.ndarray]], pad: int = 2, fill: int = 255) -> np.ndarray:
    """Rows of equal-size uint8 (H, W, 3) images as one image, ``pad`` pixels of ``fill`` between them."""
    h, w = rows[0][0].shape[:2]
    n_cols = max(len(r) for r in rows)
    out = np.full((len(rows) * (h + pad) - pad, n_cols * (w + pad) - pad, 3), fill, dtype=np.uint8)
    for i, row in enumerate(rows):
        for j, im in enumerate(row):
            if im.shape[:2] != (h, w):
                raise ValueError(f"picture grid: image ({i}, {j}) is {im.shape[0]} x {im.shape[1]}, expected {h} x {w}")
            out[i * (h + pad): i * (h + pad) + h, j * (w + pad): j * (w + pad) + w] = im
    return out


def draw_grid(ax, rows: Sequence[Sequence[np.ndarray]], labels: Sequence[str], fontsize: float = 6.0) -> None:
    """The picture grid on ``ax`` with one label left of each row."""
    grid = mosaic(rows)
    ax.imshow(grid, interpolation="nearest")
    ax.set_axis_off()
    n = len(rows)
    for i, label in enumerate(labels):
        ax.text(-0.01, 1 - (i + 0.5) / n, label, transform=ax.transAxes, ha="right", va="center", fontsize=fontsize)


def tile(im: np.ndarray, max_side: int = 256) -> np.ndarray:
    """A picture at most ``max_side`` pixels wide for the page (area averaging by an integer factor)."""
    f = int(np.ceil(im.shape[0] / max_side))
    if f <= 1:
        return im
    h, w = (im.shape[0] // f) * f, (im.shape[1] // f) * f
    return im[:h, :w].reshape(h // f, f, w // f, f, 3).mean((1, 3)).round().astype(np.uint8)


def shown_values(run: EvalRun, method: str, snr_db: float, image_ids: Sequence[str]) -> dict[str, dict]:
    """``{image id: row}`` of the evaluation rows of the pictures shown (test faces at one SNR)."""
    found = {r["image_id"]: r for r in run.rows
             if r["method"] == method and r["test_set"] == "test" and float(r["snr_db"]) == float(snr_db)}
    missing = [i for i in image_ids if i not in found]
    if missing:
        raise ValueError(f"{run.path}: no {method} row at {snr_db:g} dB for the pictured faces {', '.join(missing)}")
    return {i: found[i] for i in image_ids}


def picture_rows(fig_id: str, panel: str, label: str, values: dict[str, dict], snr_db: float,
                 run_key: str) -> list[ResultRow]:
    """One results row per shown picture and metric (LPIPS-VGG, PSNR), its image id in ``extra``."""
    return [ResultRow(figure=fig_id, panel=panel, method=label, dataset=dataset_name(r["dataset"]), snr_db=snr_db,
                      bandwidth_ratio=float(r["rho"]), metric=metric, value=float(r[metric]), run_id=run_key,
                      extra={"image_id": image_id, "method": r["method"], "domain": r["domain"],
                             "c_out": int(r["c_out"]), "channel_use": "complex"})
            for image_id, r in values.items() for metric in ("lpips_vgg", "psnr")]


def check_grid(what: str, pictures: dict[str, np.ndarray], n_images: int, snrs: Sequence[float],
               kinds: Sequence[str]) -> list[str]:
    """The first ``n_images`` image ids of ``pictures``, after checking it holds every array the grid
    needs (a clear error names the missing SNR or too few faces and the profile key behind it)."""
    ids = [str(i) for i in pictures["image_ids"]]
    if len(ids) < n_images:
        raise ValueError(f"{what} holds {len(ids)} pictured faces, the grid asks for {n_images} "
                         "(the evaluation keeps the first <figure>.images faces: rerun it)")
    for kind in kinds:
        for s in snrs:
            if picture_key(kind, s) not in pictures:
                have = sorted(k for k in pictures if k.startswith(kind))
                raise ValueError(f"{what} has no {kind} pictures at {s:g} dB (has {', '.join(have)}): the grid's "
                                 "SNRs must be among the SNRs evaluated")
    return ids[:n_images]


def with_generator(prov: dict, report: Path | str | None) -> tuple[dict, str]:
    """``prov`` (from :func:`provenance`) with the generator report's run added, and its page line."""
    line, run = generator_note(report)
    return {**prov, "run_keys": {**prov["run_keys"], **run},
            "run_ids": list(dict.fromkeys([*prov["run_ids"], *run.values()]))}, line


def generator_note(report: Path | str | None) -> tuple[str, dict]:
    """A page's line on the prior G from its report (held-out projection check), and its run for the
    provenance ({run key: run id}); no report, no line."""
    if report is None:
        return "", {}
    info = read_record(report, "the generator's report")
    proj = info.get("projection", {})
    source = {"train": "StyleGAN-2 trained here on the face set's training split",
              "ffhq": "the official StyleGAN-2 FFHQ generator, converted"}.get(info.get("source"), "StyleGAN-2")
    line = (f"G: {source}; held-out projection check "
            f"{proj.get('mean_psnr_db', float('nan')):.2f} dB PSNR on {proj.get('images')} validation faces "
            f"after {proj.get('steps')} steps (generator report)")
    run = {f"gjscc_generator_report@{info['run_id']}": info["run_id"]} if info.get("run_id") else {}
    return line, run
