"""NTSCC Fig. 8 (Sec. III-B): an image and NTSCC's channel uses per patch (the rate k̄_y of each
y_i, eq. 28) for several λ, and the paper's reading of it: complex regions get more bandwidth,
and a smaller λ spends more.

    python -m pipelines.ntscc.fig08 --profile mini --maps results/mini/ntscc/images/fig08/maps.npz \\
        --out reports/ntscc/fig08.pdf

Reads the rate-map stage's maps.npz (image, lambdas, maps, cbr, eta) and maps.json; writes
fig08.pdf, fig08.csv (every patch's channel uses, each map's CBR and correlations) and fig08.json.
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from jscc_core.results import ResultRow
from pipelines.figures.cli import figure_parser, run_figure
from pipelines.figures.evals import need_file, read_record
from pipelines.figures.findings import Finding
from pipelines.figures.page import new_figure, write_page
from pipelines.ntscc.rd import dataset_of
from pipelines.profile import load

SPEARMAN_MIN = 0.3  # "more bandwidth on complex regions" holds if every map's rank correlation exceeds this


def patch_complexity(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Mean luminance gradient magnitude of the pixel block under each patch of a (h, w) map
    (block = image size / map size, 16 x 16 pixels for NTSCC's g_a)."""
    h, w = shape
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3), got {img.shape}")
    bh, bw = img.shape[0] // h, img.shape[1] // w
    if bh < 1 or bw < 1:
        raise ValueError(f"map {shape} is larger than the image {img.shape[:2]}")
    luma = img[: h * bh, : w * bw] @ np.array([0.299, 0.587, 0.114])
    gy, gx = np.gradient(luma)
    mag = np.hypot(gx, gy)
    return mag.reshape(h, bh, w, bw).mean(axis=(1, 3))


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def rate_complexity_correlation(image: np.ndarray, rate_map: np.ndarray) -> tuple[float, float]:
    """(Spearman, Pearson) correlation between each patch's channel uses in ``rate_map`` and its
    complexity in ``image``; NaN for a constant map."""
    c = patch_complexity(image, rate_map.shape).ravel()
    r = np.asarray(rate_map, dtype=np.float64).ravel()
    return _pearson(rankdata(r), rankdata(c)), _pearson(r, c)


def fig08_findings(image: np.ndarray, lambdas: Sequence[float], maps: np.ndarray,
                   cbr: Sequence[float]) -> tuple[list[Finding], list[tuple[float, float]]]:
    """The paper's two statements on Fig. 8, checked on the ``maps`` (one per λ in ``lambdas``, of
    mean CBR ``cbr``) of ``image``; also returns each map's (Spearman, Pearson) correlation."""
    corr = [rate_complexity_correlation(image, m) for m in maps]
    parts = [f"λ = {lam:g}: Spearman {s:.2f}, Pearson {p:.2f}" for lam, (s, p) in zip(lambdas, corr)]
    first = Finding("rate maps spend more bandwidth on complex regions", all(s > SPEARMAN_MIN for s, _ in corr),
                    "; ".join(parts) + "; complexity = mean luminance gradient magnitude of the patch's pixel block, "
                    f"holds if Spearman > {SPEARMAN_MIN:g} for every λ")
    order = np.argsort(lambdas)
    c_sorted = np.asarray(cbr, dtype=float)[order]
    lam_sorted = np.asarray(lambdas, dtype=float)[order]
    second = Finding("a smaller λ spends more bandwidth", len(lambdas) >= 2 and np.all(np.diff(c_sorted) < 0),
                     ", ".join(f"λ = {lam:g}: CBR {c:.4f}" for lam, c in zip(lam_sorted, c_sorted)))
    return [first, second], corr


def render(profile, maps_npz: Path, out_pdf: Path, dataset: str | None = None) -> None:
    """Fig. 8 from the rate-map stage's ``maps_npz`` (and the .json beside it)."""
    started = time.perf_counter()
    maps_npz = need_file(Path(maps_npz), "Fig. 8 rate maps")
    meta = read_record(maps_npz.with_suffix(".json"), f"record beside {maps_npz.name}")
    with np.load(maps_npz) as npz:
        missing = [k for k in ("image", "lambdas", "maps", "cbr", "eta") if k not in npz.files]
        if missing:
            raise ValueError(f"{maps_npz}: missing arrays {', '.join(missing)}")
        image, lambdas, maps = npz["image"], np.asarray(npz["lambdas"], float), np.asarray(npz["maps"], float)
        cbr, eta = np.asarray(npz["cbr"], float), float(npz["eta"])
    if maps.ndim != 3 or maps.shape[0] != lambdas.size or cbr.size != lambdas.size:
        raise ValueError(f"{maps_npz}: maps {maps.shape}, lambdas {lambdas.shape}, cbr {cbr.shape} do not match")
    ds = dataset or dataset_of([meta["image_id"]], str(maps_npz))
    findings, corr = fig08_findings(image, lambdas, maps, cbr)
    run_key = meta["run_key"]
    snr = meta.get("snr_db")
    cbr_is = meta.get("cbr_is", "k / (3 H W)")
    complexity = patch_complexity(image, maps.shape[1:])
    bh, bw = image.shape[0] // maps.shape[1], image.shape[1] // maps.shape[2]

    n = lambdas.size
    fig = new_figure(3.6 * (n + 1), 3.6)
    axes = np.atleast_1d(fig.subplots(1, n + 1))
    axes[0].imshow(image)
    axes[0].set_title(f"(a) {meta['image_id']}", fontsize=9)
    rows: list[ResultRow] = []
    m = 3 * image.shape[0] * image.shape[1]
    for i, (lam, rate, c, (sp, pe)) in enumerate(zip(lambdas, maps, cbr, corr)):
        panel = chr(ord("b") + i)
        ax = axes[i + 1]
        im = ax.imshow(rate, cmap="viridis", interpolation="nearest")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03).set_label("complex channel uses per patch", fontsize=7)
        ax.set_title(f"({panel}) λ = {lam:g}, η = {eta:g}, CBR = {c:.4f}", fontsize=9)
        common = dict(figure="fig08", panel=panel, method="NTSCC", dataset=ds, snr_db=snr, run_id=run_key)
        rows.append(ResultRow(**common, bandwidth_ratio=float(c), metric="cbr", value=float(c),
                              extra={"lmbda": float(lam), "eta": eta, "image_id": meta["image_id"],
                                     "cbr_is": cbr_is, "map_uses_over_3HW": float(rate.sum() / m)}))
        for name, v in (("spearman_rate_complexity", sp), ("pearson_rate_complexity", pe)):
            rows.append(ResultRow(**common, bandwidth_ratio=float(c), metric=name,
                                  value=None if math.isnan(v) else float(v),
                                  extra={"lmbda": float(lam), "eta": eta, "complexity": "mean luminance gradient "
                                         f"magnitude per {bh}x{bw}-pixel block"}))
        for (y, x), v in np.ndenumerate(rate):
            rows.append(ResultRow(**common, bandwidth_ratio=float(c), metric="channel_uses", value=float(v),
                                  extra={"lmbda": float(lam), "eta": eta, "row": y, "col": x,
                                         "complexity": round(float(complexity[y, x]), 6)}))
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    model_ids = dict(meta.get("model_run_ids", {}))
    write_page(fig, out_pdf, rows, profile, name="NTSCC fig08", findings=findings,
               notes=[f"patches of {bh}x{bw} pixels; CBR = {cbr_is} as recorded by the rate-map stage"],
               run_ids=[meta["run_id"], *model_ids.values()], run_keys={run_key: meta["run_id"], **model_ids},
               data_checksums=dict(meta.get("data_checksums", {})), stage_time_s=float(meta.get("wall_time_s", 0.0)),
               started=started, dataset=ds, image_id=meta["image_id"])


def main(argv: list[str] | None = None) -> None:
    parser = figure_parser("python -m pipelines.ntscc.fig08", __doc__)
    parser.add_argument("--maps", required=True, help="the rate-map stage's maps.npz")
    parser.add_argument("--dataset", default=None, help="data set name, if the image id does not tell")
    run_figure(parser, argv, lambda args: render(load(args.profile), Path(args.maps), Path(args.out), args.dataset))


if __name__ == "__main__":
    main()
