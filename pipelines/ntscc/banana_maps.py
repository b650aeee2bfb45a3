"""NTSCC's banana-source pages (Figs. 9 and 10, Sec. IV-B): reading the banana evaluation
stage's outputs, drawing maps over the source space, and writing a page with their provenance.

The evaluation folder holds ``points.csv`` (SDR versus R of every model, results contract),
``maps.npz`` (grid ``x1``, ``x2``; densities, bandwidth and SDR per grid point at the paper's
Fig. 9 operating point) and ``run.json`` (run ids and keys, data checksums, wall times).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jscc_core.results import ResultRow, read_results_csv
from pipelines.figures.evals import need_file, read_record
from pipelines.figures.findings import Finding
from pipelines.figures.page import write_page

SUPPORT_MASS = 0.99  # maps are shown on the region holding this much of the source's probability


@dataclass
class BananaEval:
    """The banana evaluation stage's outputs: its run record, maps and SDR points."""

    meta: dict
    maps: dict[str, np.ndarray]
    points: list[ResultRow]

    @property
    def run_key(self) -> str:
        return self.meta["run_key"]


def read_banana_eval(eval_dir: Path | str) -> BananaEval:
    """Read ``run.json``, ``maps.npz`` and ``points.csv`` of the banana evaluation folder ``eval_dir``."""
    eval_dir = Path(eval_dir)
    meta = read_record(eval_dir / "run.json", "banana evaluation record")
    with np.load(need_file(eval_dir / "maps.npz", "banana maps")) as npz:
        maps = dict(npz)
    points = read_results_csv(need_file(eval_dir / "points.csv", "banana SDR points"))
    return BananaEval(meta, maps, points)


def map_setting(profile) -> str:
    """The maps' operating point in words: λ, η and SNR from the profile (``ntscc.banana``)."""
    cfg = profile.get("ntscc.banana")
    return f"λ = 1/{round(1 / cfg['maps']['lmbda'])}, η = {cfg['maps']['eta']:g}, SNR = {float(cfg['snr_db']):g} dB"


def support(maps: dict, mass: float = SUPPORT_MASS) -> np.ndarray:
    """Grid cells inside the highest-density region holding ``mass`` of the source's probability."""
    p = np.asarray(maps["source_density"], dtype=float)
    order = np.sort(p.ravel())[::-1]
    cum = np.cumsum(order) / order.sum()
    return p >= order[min(np.searchsorted(cum, mass), len(order) - 1)]


def color_limits(maps: dict, keys: tuple[str, ...], mask: np.ndarray, log: bool = False) -> tuple:
    """Shared colour range of the maps ``keys``: the central 96% of their values on ``mask``
    (per-point SDR diverges near x = 0, where ||x||^2 -> 0)."""
    shown = np.concatenate([np.asarray(maps[k], dtype=float)[mask] for k in keys])
    if log:
        shown = np.log10(np.maximum(shown, 1e-12))
    shown = shown[np.isfinite(shown)]
    return tuple(np.percentile(shown, [2, 98])) if shown.size else (None, None)


def draw_map(ax, maps: dict, key: str, title: str, cbar_label: str, mask: np.ndarray | None = None,
             log: bool = False, limits: tuple | None = None) -> None:
    """The map ``maps[key]`` over (x1, x2), NaN outside ``mask``, log10 if ``log``, colour range ``limits``."""
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


def grid_rows(fig_id: str, panel: str, method: str, metric: str, maps: dict, key: str, run_id: str,
              snr_db: float | None = None, bandwidth_ratio: float | None = None) -> list[ResultRow]:
    """One row per grid point of the map ``maps[key]``, its (x1, x2) in ``extra``."""
    x1, x2, values = maps["x1"], maps["x2"], maps[key]
    rows = []
    for i, b in enumerate(x2):
        for j, a in enumerate(x1):
            rows.append(ResultRow(figure=fig_id, panel=panel, method=method, dataset="banana", snr_db=snr_db,
                                  bandwidth_ratio=bandwidth_ratio, metric=metric, value=float(values[i, j]),
                                  run_id=run_id, extra={"x1": float(a), "x2": float(b)}))
    return rows


def write_banana_page(fig, fig_id: str, ev: BananaEval, rows: list[ResultRow], profile, out_pdf: Path | str, *,
                      findings: list[Finding], notes: list[str], started: float) -> dict:
    """Write the page of ``fig_id`` with the provenance of every stage behind ``ev`` (trainings and evaluation)."""
    meta = ev.meta
    return write_page(fig, out_pdf, rows, profile, name=f"NTSCC {fig_id}", findings=findings, notes=notes,
                      run_ids=[meta["run_id"], *meta["model_run_ids"].values()], run_keys=meta["run_keys"],
                      data_checksums={"banana_train_sha256": meta["train_sha256"],
                                      "banana_test_sha256": meta["test_sha256"]},
                      stage_time_s=meta["pipeline_wall_time_s"], started=started)
