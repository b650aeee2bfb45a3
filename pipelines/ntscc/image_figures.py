"""NTSCC image results: Figs. 8, 11, 13, 17 and Tables I-III (Sec. IV-C to IV-E).

Read from the outputs of the image stages, never recomputed:

* per-model evaluations ``results/<profile>/ntscc/images/<model>/eval.csv`` (one row per image
  and operating point) with ``eval.json`` beside it;
* a separation sweep (per-image CSV of ``jscc_core.digital.separation``) with ``<sweep>.json``;
  "HEVC-intra + LDPC" is the paper's BPG + LDPC, the rate-2/3 (6144, 4096) LDPC code with
  16-QAM (on CIFAR-10, where one such codeword is longer than a whole image's budget, the one
  other MCS of the sweep), "+ capacity" the ideal channel code;
* Fig. 8's rate maps ``maps.npz`` / ``maps.json`` and Table III's ``timing.json``.

An operating point of a learned model is (model, eta, SNR); its CBR and quality are means over
the images (MS-SSIM in dB is -10 log10(1 - mean MS-SSIM), for every method alike). Each NTSCC
curve is the upper envelope of all its (lambda, eta) points: the points no other point beats in
both CBR and quality. BD metrics (VCEG-M33, ``jscc_core.bd``) run on envelopes, against
HEVC-intra + LDPC, and only where the two curves overlap over at least ``MIN_OVERLAP`` of their
joint range; elsewhere the table says "n/a".

Every output writes <name>.pdf, <name>.csv (every plotted or tabulated number, results contract;
the paper's printed values as rows with source = "paper") and <name>.json (provenance, with the
paper's findings checked on our numbers).

    python -m pipelines.ntscc.image_figures fig11 --profile mini --snr 10 \\
        --eval results/mini/ntscc/images/*/eval.csv --sweep-csv results/mini/separation/kodak_cbr.csv \\
        --out reports/ntscc/fig11.pdf
    # Fig. 11 / Table I with a CIFAR-10 panel: --panel SWEEP_CSV EVAL... (repeatable)
    python -m pipelines.ntscc.image_figures fig11 --profile mini --eval ... --sweep-csv ... \
        --panel results/mini/separation/cifar_cbr.csv results/mini/ntscc/cifar/*/eval.csv --out reports/ntscc/fig11.pdf
    python -m pipelines.ntscc.image_figures fig08 --profile mini --maps results/mini/ntscc/images/fig08/maps.npz \\
        --out reports/ntscc/fig08.pdf
    python -m pipelines.ntscc.image_figures table3 --profile mini \\
        --timing results/mini/ntscc/images/table3/timing.json --out reports/ntscc/table3.pdf
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import textwrap
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jscc_core import bd  # noqa: E402
from jscc_core.channels import ChannelUseBudget  # noqa: E402
from jscc_core.digital.codecs import get_codec  # noqa: E402
from jscc_core.digital.mcs import NTSCC_BPG_LDPC  # noqa: E402
from jscc_core.digital.separation import (CAPACITY, ImageResult, envelope, read_image_results_csv,  # noqa: E402
                                          summarize)
from jscc_core.profiles import ProfileError  # noqa: E402
from jscc_core.results import ResultRow, save_figure, write_provenance, write_results_csv  # noqa: E402
from pipelines.profile import load  # noqa: E402

EVAL_COLUMNS = ("method", "model", "variant", "distortion", "lmbda", "eta", "train_snr_db", "snr_db", "image_id",
                "psnr", "ms_ssim", "ms_ssim_db", "k_y", "k_z", "k_q", "k", "cbr", "run_key")
LDPC_MCS = NTSCC_BPG_LDPC.name  # "16QAM 2/3 (NTSCC BPG+LDPC)"
MIN_OVERLAP = 0.5  # BD needs the curves to share at least half of their joint range
GROWTH_TOL_DB = 0.1  # a gap "grows with CBR" if its linear fit rises by more than this across the CBRs
DATASETS = {"cifar10": "CIFAR10", "kodak": "Kodak", "clic2021": "CLIC2021"}
_ID_PREFIXES = {"kodim": "kodak", "cifar10_": "cifar10"}
AXIS_CBR = "average channel " + ChannelUseBudget("complex", symbol="CBR ρ").axis_label + ", m = 3HW"
QUALITY_LABEL = {"psnr": "PSNR (dB)", "ms_ssim_db": "MS-SSIM (dB), -10 log10(1 - MS-SSIM)"}
QUALITY_NAME = {"psnr": "PSNR", "ms_ssim_db": "MS-SSIM"}
LEARNED = {"ntscc": "NTSCC", "comparison_i": "NTSCC w/o refinement (Comparison-I)",
           "comparison_ii": "Transformer deep JSCC (Comparison-II)", "deepjscc": "Deep JSCC"}
STYLE = {"ntscc": dict(color="tab:red", marker="o"), "comparison_i": dict(color="tab:orange", marker="D"),
         "comparison_ii": dict(color="tab:purple", marker="v"), "deepjscc": dict(color="tab:blue", marker="s"),
         "ldpc": dict(color="k", marker="^"), "capacity": dict(color="0.35", marker="^", ls="--")}

# Values printed in the paper (Dai et al., JSAC 2022), carried as source = "paper" rows only.
# Table I: BD-CBR (%) and BD-PSNR (dB) against "BPG + LDPC", AWGN, SNR = 10 dB, PSNR-trained models.
# Table II: BD-CBR (%) and BD-MS-SSIM (dB) against "BPG + LDPC", MS-SSIM-trained models.
# Table III: parameters and encode + decode time per image (two Xeon Gold 6226R + one RTX 3090).
PAPER = {
    "table1": {
        "ntscc": {"cifar10": (-28.91, 2.64), "kodak": (-17.96, 0.81), "clic2021": (-28.09, 1.31)},
        "capacity": {"cifar10": (-21.41, 1.77), "kodak": (-22.91, 0.97), "clic2021": (-22.91, 1.09)},
        "ldpc": {"cifar10": (0.0, None), "kodak": (0.0, None), "clic2021": (0.0, None)},
        "deepjscc": {"cifar10": (-22.71, 1.71), "kodak": (45.48, -1.55), "clic2021": (54.31, -1.76)},
    },
    "table2": {
        "ntscc": {"kodak": (-43.01, 2.29), "clic2021": (-64.27, 4.18)},
        "capacity": {"kodak": (-20.99, 1.30), "clic2021": (-22.92, 1.09)},
        "ldpc": {"kodak": (0.0, None), "clic2021": (0.0, None)},
        "deepjscc": {"kodak": (-21.47, 1.01), "clic2021": (-31.77, None)},
    },
    "table3": {  # parameters; seconds per image on Kodak and CLIC2021
        "NTSCC": (32.94e6, {"kodak": 0.053, "clic2021": 0.224}),
        "Deep JSCC": (10.61e6, {"kodak": 0.058, "clic2021": 0.398}),
        "BPG": (None, {"kodak": 1.336, "clic2021": 4.210}),
    },
}
PAPER_LABEL = {"ntscc": "NTSCC", "capacity": "BPG + Capacity", "ldpc": "BPG + LDPC", "deepjscc": "Deep JSCC"}
PAPER_NOTES = {("table2", "deepjscc", "clic2021", "bd_quality"):
               "illegible in our copy of the paper (printed as '-77')"}
TABLES = {"table1": dict(title="Table I", metric="psnr", distortion="mse", datasets=("cifar10", "kodak", "clic2021")),
          "table2": dict(title="Table II", metric="ms_ssim_db", distortion="ms_ssim", datasets=("kodak", "clic2021"))}


# --------------------------------------------------------------------------- inputs


def _need(path: Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file ({what})")
    return path


def _json(path: Path, what: str) -> dict:
    return json.loads(_need(path, what).read_text())


def _float(x: str | None) -> float | None:
    return None if x is None or x.strip() == "" else float(x)


def _db(ms_ssim: float) -> float:
    """MS-SSIM in dB, -10 log10(1 - MS-SSIM) (Fig. 13)."""
    return float(-10 * math.log10(max(1.0 - ms_ssim, 1e-10)))


def dataset_of(image_ids: Iterable[str], where: str) -> str:
    """The data set the image ids come from (e.g. kodim01 -> kodak)."""
    ids = sorted(set(image_ids))
    found = {next((d for p, d in _ID_PREFIXES.items() if i.startswith(p)), None) for i in ids}
    if len(found) != 1 or None in found:
        raise ValueError(f"{where}: cannot tell the data set of images {ids[:3]}; pass --dataset")
    return found.pop()


@dataclass(frozen=True)
class EvalRun:
    """One model's evaluation: its per-image rows and eval.json."""

    path: Path
    rows: list[dict]
    meta: dict


def read_eval(path: Path) -> EvalRun:
    path = _need(path, "per-model evaluation CSV")
    meta = _json(path.with_suffix(".json"), f"evaluation record beside {path.name}")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in EVAL_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"{path}: missing columns {', '.join(missing)}")
        rows = list(reader)
    if not rows:
        raise ValueError(f"{path}: no rows")
    bad = sorted({r["variant"] for r in rows} - set(LEARNED))
    if bad:
        raise ValueError(f"{path}: unknown variant {bad[0]!r}; expected one of {', '.join(LEARNED)}")
    return EvalRun(path, rows, meta)


@dataclass(frozen=True)
class OperatingPoint:
    """Means over the images of one (model, eta, SNR)."""

    method: str
    variant: str
    model: str
    distortion: str
    lmbda: float | None
    eta: float | None
    train_snr_db: float | None
    snr_db: float
    cbr: float
    psnr: float
    ms_ssim: float
    n_images: int
    k: float
    k_y: float
    k_z: float
    k_q: float
    run_key: str

    def quality(self, metric: str) -> float:
        return self.psnr if metric == "psnr" else _db(self.ms_ssim)


def operating_points(runs: Sequence[EvalRun]) -> list[OperatingPoint]:
    groups: dict[tuple, list[dict]] = {}
    seen: dict[tuple, Path] = {}
    for run in runs:
        for r in run.rows:
            key = (r["model"], _float(r["eta"]), float(r["snr_db"]))
            image = key + (r["image_id"],)
            if image in seen:
                raise ValueError(f"{run.path}: image {r['image_id']} of model {r['model']} at eta {key[1]}, "
                                 f"SNR {key[2]:g} dB is also in {seen[image]}")
            seen[image] = run.path
            groups.setdefault(key, []).append(r)
    out = []
    for (model, eta, snr), rows in groups.items():
        first = rows[0]

        def mean(col: str) -> float:
            return float(np.mean([float(r[col]) for r in rows]))

        out.append(OperatingPoint(
            method=first["method"], variant=first["variant"], model=model, distortion=first["distortion"],
            lmbda=_float(first["lmbda"]), eta=eta, train_snr_db=_float(first["train_snr_db"]), snr_db=snr,
            cbr=mean("cbr"), psnr=mean("psnr"), ms_ssim=mean("ms_ssim"), n_images=len(rows), k=mean("k"),
            k_y=mean("k_y"), k_z=mean("k_z"), k_q=mean("k_q"), run_key=first["run_key"]))
    return out


# --------------------------------------------------------------------------- curves


def learned_curves(points: Sequence[OperatingPoint], max_cbr: float, metric: str = "psnr") -> dict[str, list]:
    """Quality versus SNR at one bandwidth ratio (Figs. 12(a), 13(c)): per SNR, the NTSCC operating
    point (any model and eta) with the best mean ``metric`` among those with mean R <= max_cbr, and
    the deep JSCC model whose R is max_cbr. {method: points sorted by SNR}."""
    curves: dict[str, dict] = {}
    for p in points:
        if p.variant == "deepjscc" and abs(p.cbr - max_cbr) > 1e-6:
            continue
        if p.variant == "ntscc" and p.cbr > max_cbr + 1e-9:
            continue
        best = curves.setdefault(p.method, {}).get(p.snr_db)
        if best is None or p.quality(metric) > best.quality(metric):
            curves[p.method][p.snr_db] = p
    return {m: [c[s] for s in sorted(c)] for m, c in curves.items() if c}


def upper_envelope(cbr: Sequence[float], quality: Sequence[float]) -> np.ndarray:
    """Indices of the points no other point beats (lower or equal CBR with higher or equal
    quality), sorted by CBR; along them the quality increases strictly."""
    x, y = np.asarray(cbr, dtype=float), np.asarray(quality, dtype=float)
    order = sorted(range(x.size), key=lambda i: (x[i], -y[i]))
    keep, best = [], -np.inf
    for i in order:
        if np.isfinite(y[i]) and y[i] > best:
            keep.append(i)
            best = y[i]
    return np.array(keep, dtype=int)


@dataclass
class Series:
    """One method's points at the figure's SNR (CBR, quality) and its upper envelope."""

    key: str
    method: str
    cbr: np.ndarray
    quality: np.ndarray
    info: list[dict]
    run_keys: list[str]
    env: np.ndarray = field(init=False)

    def __post_init__(self):
        self.cbr = np.asarray(self.cbr, dtype=float)
        self.quality = np.asarray(self.quality, dtype=float)
        self.env = upper_envelope(self.cbr, self.quality)

    @property
    def env_cbr(self) -> np.ndarray:
        return self.cbr[self.env]

    @property
    def env_quality(self) -> np.ndarray:
        return self.quality[self.env]


def learned_series(points: Sequence[OperatingPoint], variant: str, distortion: str, snr_db: float,
                   metric: str) -> Series | None:
    pts = [p for p in points if p.variant == variant and p.distortion == distortion
           and math.isclose(p.snr_db, snr_db, abs_tol=1e-9)]
    if not pts:
        return None
    pts.sort(key=lambda p: (p.cbr, p.model, p.eta or 0.0))
    info = [{"model": p.model, "variant": p.variant, "distortion": p.distortion, "lmbda": p.lmbda, "eta": p.eta,
             "train_snr_db": p.train_snr_db, "n_images": p.n_images, "mean_k": p.k, "mean_k_y": p.k_y,
             "mean_k_z": p.k_z, "mean_k_q": p.k_q, "mean_ms_ssim": p.ms_ssim, "channel_use": "complex",
             "run_key": p.run_key} for p in pts]
    return Series(variant, pts[0].method, [p.cbr for p in pts], [p.quality(metric) for p in pts], info,
                  sorted({p.run_key for p in pts}))


def separation_series(results: Sequence[ImageResult], mcs: str, snr_db: float, metric: str, method: str,
                      run_key: str) -> Series | None:
    picked = [r for r in results if r.mcs == mcs and math.isclose(r.snr_db, snr_db, abs_tol=1e-9)]
    if not picked:
        return None
    rows = sorted(summarize(picked, by=("codec", "mode", "mcs", "bandwidth_ratio")), key=lambda d: d["bandwidth_ratio"])
    info = [{"codec": d["codec"], "mcs": d["mcs"], "mode": d["mode"], "n_images": d["n_images"],
             "loss_rate": d["loss_rate"], "spent_ratio": d["spent_ratio"], "mean_ms_ssim": d["mean_ms_ssim"],
             "channel_use": "complex", "run_key": run_key} for d in rows]
    q = [d["mean_psnr"] if metric == "psnr" else _db(d["mean_ms_ssim"]) for d in rows]
    return Series("capacity" if mcs == CAPACITY else "ldpc", method, [d["bandwidth_ratio"] for d in rows], q, info,
                  [run_key])


@dataclass
class RDInputs:
    """Everything a rate-distortion figure or BD table draws on."""

    series: dict[str, Series]
    dataset: str
    codec_label: str
    ldpc_mcs: str
    run_ids: list[str]
    run_keys: dict[str, str]
    data_checksums: dict
    stage_time_s: float
    notes: list[str]
    points: list[OperatingPoint]  # every operating point of the evaluations, at every SNR


def load_rd(evals: Sequence[Path], sweep_csv: Path, snr_db: float, metric: str, distortion: str,
            variants: Sequence[str], dataset: str | None = None) -> RDInputs:
    """The learned curves (``variants`` trained for ``distortion``) and HEVC-intra + LDPC /
    + capacity at ``snr_db``; NTSCC must have points there."""
    if not evals:
        raise ValueError("no evaluation CSVs given (--eval)")
    runs = [read_eval(Path(p)) for p in evals]
    sweep_csv = _need(Path(sweep_csv), "separation sweep CSV")
    sweep_meta = _json(sweep_csv.with_suffix(".json"), f"sweep record beside {sweep_csv.name}")
    results = read_image_results_csv(sweep_csv)
    if not results:
        raise ValueError(f"{sweep_csv}: no rows")
    ds = dataset
    if ds is None:  # the evaluation CSVs tell which data set was run
        named = {r["dataset"] for run in runs for r in run.rows if r.get("dataset")}
        found = named or {dataset_of((r["image_id"] for run in runs for r in run.rows), "evaluation CSVs")}
        if len(found) != 1:
            raise ValueError(f"evaluation CSVs mix data sets {sorted(found)}")
        ds = found.pop()
        if dataset_of((r.image_id for r in results), str(sweep_csv)) != ds:
            raise ValueError(f"{sweep_csv}: the sweep's images are not from {ds}, the evaluated data set")
    points = operating_points(runs)
    series: dict[str, Series] = {}
    for v in variants:
        s = learned_series(points, v, distortion, snr_db, metric)
        if s is not None:
            series[v] = s
    if "ntscc" not in series:
        have = sorted({(p.distortion, p.snr_db) for p in points if p.variant == "ntscc"})
        raise ValueError(f"no NTSCC operating point trained for {distortion} at SNR {snr_db:g} dB in the "
                         f"evaluation CSVs (NTSCC points: {', '.join(f'{d} @ {s:g} dB' for d, s in have) or 'none'})")
    codecs = sorted({r.codec for r in results})
    if len(codecs) != 1:
        raise ValueError(f"{sweep_csv}: one codec expected, the sweep has {codecs}")
    label = get_codec(codecs[0]).label
    key = sweep_meta["run_key"]
    ldpc_mcs = ldpc_anchor(results, snr_db, sweep_csv)
    for mcs, name in ((ldpc_mcs, f"{label} + LDPC"), (CAPACITY, f"{label} + capacity")):
        s = separation_series(results, mcs, snr_db, metric, name, key)
        if s is not None:
            series[s.key] = s
    run_ids = [sweep_meta["run_id"]]
    run_keys = {key: sweep_meta["run_id"]}
    checksums = dict(sweep_meta.get("data_checksums", {}))
    stage_time = float(sweep_meta.get("wall_time_s", 0.0))
    used = {k for v in variants if v in series for k in series[v].run_keys}
    notes = []
    for run in runs:
        if run.meta["run_key"] not in used and not used & {r["run_key"] for r in run.rows}:
            continue  # an evaluation with no point on this page
        run_ids += [run.meta["run_id"], run.meta.get("model_run_id") or run.meta["run_id"]]
        run_keys[run.meta["run_key"]] = run.meta["run_id"]
        if run.meta.get("model_run_key") and run.meta.get("model_run_id"):
            run_keys[run.meta["model_run_key"]] = run.meta["model_run_id"]
        stage_time += float(run.meta.get("wall_time_s", 0.0)) + float(run.meta.get("train_wall_time_s", 0.0))
        for name, value in run.meta.get("data_checksums", {}).items():
            if checksums.setdefault(name, value) != value:
                notes.append(f"data checksum of {name} differs between {sweep_csv.name} and {run.path}")
    absent = [LEARNED[v] for v in variants if v not in series]
    if absent:
        notes.append(f"not in the inputs at SNR {snr_db:g} dB ({distortion}-trained): {', '.join(absent)}")
    return RDInputs(series, ds, label, ldpc_mcs, run_ids, run_keys, checksums, stage_time, notes, points)


def ldpc_anchor(results: Sequence[ImageResult], snr_db: float, where: Path) -> str:
    """The MCS of "HEVC-intra + LDPC": the paper's (6144, 4096) 16-QAM code when the sweep has it,
    else the sweep's only other MCS at ``snr_db`` (CIFAR-10's short code)."""
    here = sorted({r.mcs for r in results if math.isclose(r.snr_db, snr_db)} - {CAPACITY})
    if LDPC_MCS in here:
        return LDPC_MCS
    if len(here) == 1:
        return here[0]
    raise ValueError(f"{where}: cannot tell the BPG + LDPC anchor at SNR {snr_db:g} dB: the sweep has "
                     f"{here or 'no LDPC MCS'} (expected {LDPC_MCS!r} or exactly one MCS)")


# --------------------------------------------------------------------------- BD metrics and findings


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Common range / joint range of two sets of values (0 if disjoint)."""
    joint = max(a.max(), b.max()) - min(a.min(), b.min())
    common = min(a.max(), b.max()) - max(a.min(), b.min())
    return float(max(common, 0.0) / joint) if joint > 0 else 0.0


def bd_against(anchor: Series, test: Series) -> dict[str, Any]:
    """BD-CBR (%) and BD-quality (dB) of ``test``'s envelope against ``anchor``'s.

    ``bd_cbr`` / ``bd_quality`` are None with a reason ("n/a (...)") where the curves share too
    little range (quality for BD-CBR, log CBR for BD-quality) or have too few points."""
    ra, qa, rt, qt = anchor.env_cbr, anchor.env_quality, test.env_cbr, test.env_quality
    out: dict[str, Any] = {"anchor_points": [[float(a), float(b)] for a, b in zip(ra, qa)],
                           "test_points": [[float(a), float(b)] for a, b in zip(rt, qt)]}
    few = [f"{s.method}: {s.env.size} envelope points" for s in (anchor, test) if s.env.size < bd.MIN_POINTS]
    for name, frac_of, fn in (("bd_cbr", lambda: _overlap(qa, qt), bd.bd_cbr),
                              ("bd_quality", lambda: _overlap(np.log10(ra), np.log10(rt)), bd.bd_quality)):
        value, reason, detail = None, "", ""
        if few:
            reason, detail = f"n/a (< {bd.MIN_POINTS} points)", f"BD needs {bd.MIN_POINTS} points; {'; '.join(few)}"
        else:
            frac = frac_of()
            out[f"{name}_overlap"] = round(frac, 4)
            axis = "quality" if name == "bd_cbr" else "log CBR"
            if frac <= 0:
                reason, detail = "n/a (no overlap)", f"the curves share no range of {axis}"
            elif frac < MIN_OVERLAP:
                reason = f"n/a (overlap {frac:.0%})"
                detail = f"the curves share {frac:.0%} of their joint range of {axis}, < {MIN_OVERLAP:.0%}"
            else:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        value = fn(ra, qa, rt, qt)
                except ValueError as exc:
                    reason, detail = "n/a (BD failed)", str(exc)
        out[name], out[f"{name}_reason"], out[f"{name}_detail"] = value, reason, detail
    return out


def gaps(test: Series, ref: Series) -> list[tuple[float, float]]:
    """(CBR, test - ref quality) wherever one curve has a point inside the other's CBR range,
    the other's envelope interpolated linearly in log CBR; no extrapolation."""
    out = []
    for a, b, sign in ((test, ref, 1.0), (ref, test, -1.0)):
        # points of b inside a's envelope range
        xs, ys = a.env_cbr, a.env_quality
        for x, y in zip(b.env_cbr, b.env_quality):
            if xs.min() <= x <= xs.max():
                out.append((float(x), sign * float(np.interp(np.log10(x), np.log10(xs), ys) - y)))
    return sorted(set(out))


def above_finding(claim: str, test: Series | None, ref: Series | None, unit: str = "dB") -> tuple[str, bool, str]:
    if test is None or ref is None:
        return claim, False, "a curve is missing from the inputs"
    g = gaps(test, ref)
    if not g:
        return claim, False, (f"no CBR where both curves have points ({test.method} {_range(test)}, "
                              f"{ref.method} {_range(ref)})")
    worst = min(g, key=lambda t: t[1])
    detail = (f"gap {min(v for _, v in g):+.2f} to {max(v for _, v in g):+.2f} {unit} at {len(g)} CBRs in "
              f"[{g[0][0]:.4f}, {g[-1][0]:.4f}]")
    if worst[1] <= 0:
        detail += f"; below at CBR {worst[0]:.4f}"
    return claim, worst[1] > 0, detail


def growing_finding(claim: str, test: Series | None, ref: Series | None, unit: str = "dB") -> tuple[str, bool, str]:
    if test is None or ref is None:
        return claim, False, "a curve is missing from the inputs"
    g = gaps(test, ref)
    if len(g) < 2:
        return claim, False, f"needs the gap at 2 CBRs or more, have {len(g)}"
    x, y = np.array(g).T
    rise = float(np.polyfit(x, y, 1)[0] * (x[-1] - x[0]))  # fitted change of the gap across the CBRs
    return claim, rise > GROWTH_TOL_DB, (f"gap {y[0]:+.2f} {unit} at CBR {x[0]:.4f} -> {y[-1]:+.2f} {unit} at "
                                         f"{x[-1]:.4f}; fitted rise {rise:+.2f} {unit}, holds above "
                                         f"{GROWTH_TOL_DB:g} {unit}")


def bd_negative_finding(claim: str, result: dict | None) -> tuple[str, bool, str]:
    if result is None:
        return claim, False, "a curve is missing from the inputs"
    v = result["bd_cbr"]
    if v is None:
        return claim, False, f"{result['bd_cbr_reason']}: {result['bd_cbr_detail']}"
    return claim, v < 0, f"BD-CBR {v:+.2f}%"


def _range(s: Series) -> str:
    return f"[{s.cbr.min():.4f}, {s.cbr.max():.4f}]"


def rd_findings(inputs: RDInputs, metric: str, bds: dict[str, dict]) -> list[tuple[str, bool, str]]:
    """The paper's statements on Fig. 11 / Table I (PSNR) and Fig. 13 / Table II (MS-SSIM)."""
    s, ds, q = inputs.series, DATASETS[inputs.dataset], QUALITY_NAME[metric]
    label = inputs.codec_label
    out = [above_finding(f"NTSCC above Deep JSCC on {ds} ({q})", s.get("ntscc"), s.get("deepjscc")),
           growing_finding(f"NTSCC's {q} gain over Deep JSCC grows with CBR on {ds}", s.get("ntscc"),
                           s.get("deepjscc"))]
    if metric == "ms_ssim_db":
        out.append(above_finding(f"NTSCC above {label} + capacity on {ds} (MS-SSIM)", s.get("ntscc"),
                                 s.get("capacity")))
    out.append(bd_negative_finding(f"NTSCC's BD-CBR vs {label} + LDPC is negative on {ds}", bds.get("ntscc")))
    return out


def _bds(inputs: RDInputs) -> dict[str, dict]:
    anchor = inputs.series["ldpc"]
    return {k: bd_against(anchor, inputs.series[k]) for k in ("ntscc", "capacity", "deepjscc") if k in inputs.series}


def _footer(fig, profile, notes: Sequence[str], fontsize: float = 6.0) -> float:
    """Write the notes (one per line, wrapped) under the axes, growing the figure to fit them;
    returns the fraction of the height they take."""
    width, height = fig.get_size_inches()
    chars = max(40, int(width * 72 / (0.56 * fontsize)))
    lines = [textwrap.fill(n, chars, subsequent_indent="  ") for n in (f"profile {profile.name}", *notes) if n]
    n_lines = sum(line.count("\n") + 1 for line in lines)
    text_h = (n_lines * 1.3 * fontsize + 8) / 72
    fig.set_figheight(height + text_h)
    fig.text(0.01, 0.005, "\n".join(lines), fontsize=fontsize, va="bottom", ha="left", linespacing=1.3)
    return text_h / (height + text_h)


def _notes(checks: Sequence[tuple[str, bool, str]]) -> list[str]:
    return [f"{'HOLDS' if ok else 'DOES NOT HOLD'}: {claim} ({detail})" for claim, ok, detail in checks]


def _findings(checks: Sequence[tuple[str, bool, str]]) -> list[dict]:
    return [{"claim": c, "holds": bool(ok), "detail": d} for c, ok, d in checks]


def _write(fig, out_pdf: Path, rows: list[ResultRow], profile, *, name: str, run_ids: Sequence[str],
           run_keys: dict, data_checksums: dict, stage_time_s: float, checks, notes: list[str], started: float,
           **extra) -> None:
    out_pdf = Path(out_pdf)
    out_pdf.parent.mkdir(parents=True, exist_ok=True)
    write_results_csv(rows, out_pdf.with_suffix(".csv"))
    spent = time.perf_counter() - started
    prov = write_provenance(
        out_pdf.with_suffix(".json"), profile=profile, data_checksums=data_checksums,
        mlflow_run_ids=[r for r in run_ids if r], wall_time_s=spent, seed=int(profile["seed"]),
        extra={"figure": f"NTSCC {name}", "run_keys": run_keys, "stage_time_s": round(stage_time_s + spent, 3),
               "findings": _findings(checks), "notes": notes, **extra})
    save_figure(fig, out_pdf, prov)
    plt.close(fig)


# --------------------------------------------------------------------------- Figs. 11, 13, 17


def _series_rows(fig_id: str, panel: str, s: Series, dataset: str, snr_db: float, metric: str) -> list[ResultRow]:
    on = set(s.env.tolist())
    return [ResultRow(figure=fig_id, panel=panel, method=s.method, dataset=dataset, snr_db=snr_db,
                      bandwidth_ratio=float(x), metric=metric, value=float(y), run_id=info["run_key"],
                      extra={**{k: v for k, v in info.items() if k != "run_key"}, "on_envelope": i in on})
            for i, (x, y, info) in enumerate(zip(s.cbr, s.quality, s.info))]


def _bd_rows(fig_id: str, panel: str, inputs: RDInputs, bds: dict[str, dict], snr_db: float,
             metric: str) -> list[ResultRow]:
    rows = []
    qname = "bd_psnr_db" if metric == "psnr" else "bd_ms_ssim_db"
    for key, res in bds.items():
        for name, metric_name in (("bd_cbr", "bd_cbr_percent"), ("bd_quality", qname)):
            extra = {"anchor": inputs.series["ldpc"].method, "anchor_mcs": inputs.ldpc_mcs,
                     "run_keys": inputs.series[key].run_keys + inputs.series["ldpc"].run_keys,
                     "anchor_points": res["anchor_points"], "test_points": res["test_points"],
                     "overlap": res.get(f"{name}_overlap")}
            if res[name] is None:
                extra["reason"] = res[f"{name}_reason"]
                extra["detail"] = res[f"{name}_detail"]
            rows.append(ResultRow(figure=fig_id, panel=panel, method=inputs.series[key].method,
                                  dataset=inputs.dataset, snr_db=snr_db, bandwidth_ratio=None, metric=metric_name,
                                  value=res[name], extra=extra))
    return rows


def _plot_series(ax, s: Series, annotate: bool = False) -> None:
    style = dict(STYLE[s.key])
    ls = style.pop("ls", "-")
    ax.plot(s.env_cbr, s.env_quality, ls=ls, ms=5, label=s.method, **style)
    off = np.setdiff1d(np.arange(s.cbr.size), s.env)
    if off.size:
        ax.plot(s.cbr[off], s.quality[off], ls="none", marker=style["marker"], mfc="none", mec=style["color"],
                ms=4, alpha=0.6, label=f"{s.method}, dominated points")
    if annotate:
        for i in s.env:
            info = s.info[i]
            text = ", ".join(t for t in (f"λ={info['lmbda']:g}" if info.get("lmbda") is not None else "",
                                         f"η={info['eta']:g}" if info.get("eta") is not None else "") if t)
            if text:
                ax.annotate(text, (s.cbr[i], s.quality[i]), textcoords="offset points", xytext=(4, -9), fontsize=5)


Panel = tuple[Sequence[Path], Path]  # (evaluation CSVs, separation sweep CSV) of one data set


def _load_panels(panels: Sequence[Panel], snr_db: float, metric: str, distortion: str, variants: Sequence[str],
                 dataset: str | None) -> list[RDInputs]:
    """One RDInputs per panel, data sets distinct; ``dataset`` names the first panel's if its ids do not tell."""
    out = [load_rd(ev, sw, snr_db, metric, distortion, variants, dataset if i == 0 else None)
           for i, (ev, sw) in enumerate(panels)]
    names = [i.dataset for i in out]
    if len(set(names)) != len(names):
        raise ValueError(f"two panels show the same data set: {names}")
    return out


def _merged(inputs: Sequence[RDInputs]) -> dict[str, Any]:
    """Provenance of several panels: run ids and keys, data checksums, stage time."""
    keys, checksums = {}, {}
    for i in inputs:
        keys.update(i.run_keys)
        checksums.update(i.data_checksums)
    return dict(run_ids=[r for i in inputs for r in i.run_ids], run_keys=keys, data_checksums=checksums,
                stage_time_s=sum(i.stage_time_s for i in inputs))


def _render_rd(fig_id: str, profile, panels: Sequence[Panel], out_pdf, snr_db: float, *, metric: str,
               distortion: str, variants: Sequence[str], dataset: str | None, title: str,
               paper_datasets: Sequence[str], extra_notes: Sequence[str] = (), snr_sweep: Path | None = None) -> None:
    started = time.perf_counter()
    all_inputs = _load_panels(panels, snr_db, metric, distortion, variants, dataset)
    n_axes = len(all_inputs) + (snr_sweep is not None)
    fig, axes = plt.subplots(1, n_axes, figsize=(7.2 * n_axes, 5.4), squeeze=False)
    rows: list[ResultRow] = []
    checks: list[tuple[str, bool, str]] = []
    notes: list[str] = []
    for ax, inputs in zip(axes[0], all_inputs):
        s, ds = inputs.series, inputs.dataset
        bds = _bds(inputs) if fig_id != "fig17" else {}
        if fig_id == "fig17":
            panel_checks = [
                above_finding("refinement adds PSNR (NTSCC above Comparison-I)", s.get("ntscc"), s.get("comparison_i")),
                above_finding("rate adaptation adds PSNR (Comparison-I above Comparison-II)", s.get("comparison_i"),
                              s.get("comparison_ii"))]
            if "deepjscc" in s:
                panel_checks.append(above_finding("the Transformer backbone adds PSNR (Comparison-II above Deep JSCC)",
                                                  s.get("comparison_ii"), s.get("deepjscc")))
        else:
            panel_checks = rd_findings(inputs, metric, bds)
        checks += panel_checks
        for key in (*variants, "ldpc", "capacity"):
            if key in s and not (fig_id == "fig17" and key == "capacity"):
                _plot_series(ax, s[key], annotate=key == "ntscc")
                rows += _series_rows(fig_id, ds, s[key], ds, snr_db, metric)
        rows += _bd_rows(fig_id, ds, inputs, bds, snr_db, metric)
        if bds:
            lines = [f"vs {s['ldpc'].method}:"] + [
                f"{s[k].method}: BD-CBR {_fmt_bd(r['bd_cbr'], r['bd_cbr_reason'], '%')}, "
                f"BD-{QUALITY_NAME[metric]} {_fmt_bd(r['bd_quality'], r['bd_quality_reason'], ' dB')}"
                for k, r in bds.items()]
            ax.text(0.99, 0.02, "\n".join(lines), transform=ax.transAxes, fontsize=6, ha="right", va="bottom",
                    bbox=dict(fc="white", ec="0.7", alpha=0.9))
        ax.set_xlabel(AXIS_CBR, fontsize=8)
        ax.set_ylabel(f"{QUALITY_LABEL[metric]}, {DATASETS[ds]} mean", fontsize=8)
        ax.set_title(f"{title}: {DATASETS[ds]}, AWGN, SNR = {snr_db:g} dB", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="upper left")
        ldpc = s["ldpc"]
        loss = max(i["loss_rate"] for i in ldpc.info)
        code = ("rate-2/3 (6144, 4096) LDPC + 16-QAM, the paper's BPG + LDPC" if inputs.ldpc_mcs == LDPC_MCS
                else "a short LDPC code (a (6144, 4096) codeword exceeds an image's whole budget)")
        notes += inputs.notes + [f"{DATASETS[ds]}: {ldpc.method} = {inputs.ldpc_mcs}: {code}; lost images shown "
                                 f"as the data set's mean colour (largest loss rate {loss:.0%})"]
    merged = _merged(all_inputs)
    if snr_sweep is not None:  # quality versus SNR on the first panel's data set
        first = all_inputs[0]
        more_rows, more_checks, more_notes, prov = _snr_panel(axes[0][-1], fig_id, first.points, snr_sweep, metric,
                                                              distortion, first.dataset)
        rows, checks, notes = rows + more_rows, checks + more_checks, notes + more_notes
        merged["run_ids"] += prov["run_ids"]
        merged["run_keys"].update(prov["run_keys"])
        merged["data_checksums"].update(prov["data_checksums"])
        merged["stage_time_s"] += prov["stage_time_s"]
    shown = [i.dataset for i in all_inputs]
    notes = _notes(checks) + [n for n in (_not_run(paper_datasets, shown), *extra_notes) if n] + notes + [
        "NTSCC: upper envelope over its (λ, η) points at this SNR (hollow markers: dominated points)"]
    bottom = _footer(fig, profile, notes)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    _write(fig, out_pdf, rows, profile, name=fig_id, checks=checks, notes=notes, started=started,
           dataset=",".join(shown), snr_db=snr_db, **merged)


def _snr_panel(ax, fig_id: str, points: Sequence[OperatingPoint], sweep_csv: Path, metric: str, distortion: str,
               dataset: str) -> tuple[list[ResultRow], list[tuple[str, bool, str]], list[str], dict[str, Any]]:
    """Quality versus SNR at the one bandwidth ratio of a separation sweep over SNR (Fig. 13(c)):
    NTSCC's best point with mean R <= that ratio at each SNR, deep JSCC at it, HEVC-intra + LDPC as
    the best MCS per SNR (a genie that knows the SNR) and + capacity. Returns rows, checks, notes
    and the sweep's provenance."""
    sweep_csv = _need(Path(sweep_csv), "separation sweep CSV over SNR")
    meta = _json(sweep_csv.with_suffix(".json"), f"sweep record beside {sweep_csv.name}")
    results = read_image_results_csv(sweep_csv)
    ratios = sorted({r.bandwidth_ratio for r in results})
    if len(ratios) != 1:
        raise ValueError(f"{sweep_csv}: the SNR panel needs one bandwidth ratio, the sweep has {ratios}")
    if dataset_of((r.image_id for r in results), str(sweep_csv)) != dataset:
        raise ValueError(f"{sweep_csv}: the sweep's images are not from {dataset}, the evaluated data set")
    ratio, key = ratios[0], meta["run_key"]
    label = get_codec(sorted({r.codec for r in results})[0]).label
    panel, q = f"{dataset}_snr", QUALITY_NAME[metric]
    learned = learned_curves([p for p in points if p.distortion == distortion], ratio, metric)
    rows: list[ResultRow] = []
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for method, pts in learned.items():
        variant = pts[0].variant
        x, y = np.array([p.snr_db for p in pts]), np.array([p.quality(metric) for p in pts])
        style = {k: v for k, v in STYLE.get(variant, dict(marker="o")).items() if k != "ls"}
        ax.plot(x, y, "-", ms=5, label=f"{method} (trained at {pts[0].train_snr_db:g} dB)", **style)
        curves[variant] = (x, y)
        rows += [ResultRow(figure=fig_id, panel=panel, method=method, dataset=dataset, snr_db=p.snr_db,
                           bandwidth_ratio=p.cbr, metric=metric, value=p.quality(metric), run_id=p.run_key,
                           extra={"model": p.model, "eta": p.eta, "lmbda": p.lmbda, "train_snr_db": p.train_snr_db,
                                  "n_images": p.n_images, "mean_ms_ssim": p.ms_ssim, "channel_use": "complex"})
                 for p in pts]
    sep_metric = "psnr" if metric == "psnr" else "ms_ssim"
    env = envelope([r for r in results if r.mcs != CAPACITY], by=("snr_db",), metric=sep_metric)
    for skey, name, rs in (("ldpc", f"{label} + LDPC (best MCS per SNR)", env),
                           ("capacity", f"{label} + capacity", [r for r in results if r.mcs == CAPACITY])):
        groups = sorted(summarize(rs, by=("snr_db", "mcs")), key=lambda d: d["snr_db"])
        if not groups:
            continue
        x = np.array([d["snr_db"] for d in groups])
        y = np.array([d["mean_psnr"] if metric == "psnr" else _db(d["mean_ms_ssim"]) for d in groups])
        style = dict(STYLE[skey])
        ax.plot(x, y, ls=style.pop("ls", "-"), ms=5, label=name, **style)
        curves[skey] = (x, y)
        rows += [ResultRow(figure=fig_id, panel=panel, method=name, dataset=dataset, snr_db=d["snr_db"],
                           bandwidth_ratio=ratio, metric=metric, value=float(v), run_id=key,
                           extra={"mcs": d["mcs"], "loss_rate": d["loss_rate"], "n_images": d["n_images"],
                                  "mean_ms_ssim": d["mean_ms_ssim"], "channel_use": "complex"})
                 for d, v in zip(groups, y)]
    claim = f"NTSCC above Deep JSCC at every test SNR on {DATASETS[dataset]} ({q}, R <= {ratio:g})"
    if "ntscc" in curves and "deepjscc" in curves:
        (xn, yn), (xd, yd) = curves["ntscc"], curves["deepjscc"]
        common = sorted(set(xn.tolist()) & set(xd.tolist()))
        g = [float(yn[xn == s][0] - yd[xd == s][0]) for s in common]
        checks = [(claim, bool(g) and min(g) > 0,
                   f"gap {min(g):+.2f} to {max(g):+.2f} dB at SNR {', '.join(f'{s:g}' for s in common)} dB" if g
                   else "no SNR where both were evaluated")]
    else:
        checks = [(claim, False, "a curve is missing from the inputs")]
    notes = [f"{DATASETS[dataset]} versus SNR: NTSCC is the best (λ, η) point with mean R <= {ratio:g} at each SNR; "
             f"learned models are trained at one SNR and tested at every SNR; {label} + LDPC picks the best MCS "
             "knowing the SNR"]
    if "ntscc" in curves and "ldpc" in curves:
        (xn, yn), (xl, yl) = curves["ntscc"], curves["ldpc"]
        inside = (xn >= xl.min()) & (xn <= xl.max())
        if inside.any():
            g = yn[inside] - np.interp(xn[inside], xl, yl)
            notes.append(f"NTSCC - {label} + LDPC (best MCS, interpolated in SNR): {g.min():+.2f} to {g.max():+.2f} dB")
    ax.set_xlabel("SNR (dB), Es/N0 per complex channel use", fontsize=8)
    ax.set_ylabel(f"{QUALITY_LABEL[metric]}, {DATASETS[dataset]} mean", fontsize=8)
    ax.set_title(f"{DATASETS[dataset]}, AWGN, R = k/m <= {ratio:g}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, loc="lower right")
    prov = {"run_ids": [meta["run_id"]], "run_keys": {key: meta["run_id"]},
            "data_checksums": dict(meta.get("data_checksums", {})), "stage_time_s": float(meta.get("wall_time_s", 0.0))}
    return rows, checks, notes, prov


def _fmt_bd(value: float | None, reason: str, unit: str) -> str:
    return reason if value is None else f"{value:.2f}{unit}"


def _not_run(paper_datasets: Sequence[str], shown: Sequence[str]) -> str:
    other = [DATASETS[d] for d in paper_datasets if d not in shown]
    return f"the paper's {' and '.join(other)} panels are left out: those data sets were not run" if other else ""


def render_fig11(profile, evals: list[Path], sweep_csv: Path, out_pdf: Path, snr_db: float = 10.0,
                 dataset: str | None = None, panels: Sequence[Panel] = ()) -> None:
    """Fig. 11: PSNR versus CBR at one SNR, NTSCC, Deep JSCC, HEVC-intra + LDPC / + capacity."""
    _render_rd("fig11", profile, [(evals, sweep_csv), *panels], out_pdf, snr_db, metric="psnr", distortion="mse",
               variants=("ntscc", "deepjscc"), dataset=dataset, title="Fig. 11, PSNR (MSE-trained models)",
               paper_datasets=("cifar10", "kodak", "clic2021"))


def render_fig13(profile, evals: list[Path], sweep_csv: Path, out_pdf: Path, snr_db: float = 10.0,
                 dataset: str | None = None, panels: Sequence[Panel] = (), snr_sweep: Path | None = None) -> None:
    """Fig. 13: MS-SSIM (dB) of MS-SSIM-trained NTSCC and Deep JSCC versus CBR (a, b) and, given a
    separation sweep over SNR at one bandwidth ratio (``snr_sweep``), versus SNR (c)."""
    _render_rd("fig13", profile, [(evals, sweep_csv), *panels], out_pdf, snr_db, metric="ms_ssim_db", distortion="ms_ssim",
               variants=("ntscc", "deepjscc"), dataset=dataset, title="Fig. 13, MS-SSIM (MS-SSIM-trained models)",
               paper_datasets=("kodak", "clic2021"), snr_sweep=snr_sweep,
               extra_notes=[] if snr_sweep is not None else ["the MS-SSIM-versus-SNR panel (c) is not drawn: "
                                                             "no separation sweep over SNR given (--snr-sweep-csv)"])


def render_fig17(profile, evals: list[Path], sweep_csv: Path, out_pdf: Path, snr_db: float = 10.0,
                 dataset: str | None = None, panels: Sequence[Panel] = ()) -> None:
    """Fig. 17: ablation, NTSCC vs Comparison-I (no refinement) vs Comparison-II (no rate adaptation)."""
    _render_rd("fig17", profile, [(evals, sweep_csv), *panels], out_pdf, snr_db, metric="psnr", distortion="mse",
               variants=("ntscc", "comparison_i", "comparison_ii", "deepjscc"), dataset=dataset,
               title="Fig. 17, ablation (PSNR)", paper_datasets=(),
               extra_notes=["the paper's NTSCC curve uses η = 0.2; here every evaluated η enters the envelope"])


# --------------------------------------------------------------------------- Tables I and II


def _draw_table(ax, text: list[list[str]], header: list[str]) -> None:
    """A table of rows (column 1 is the source); the paper's rows are shaded."""
    ax.axis("off")
    table = ax.table(cellText=text, colLabels=header, loc="upper center", cellLoc="center",
                     colWidths=_col_widths(len(header)))
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    table.scale(1.0, 1.5)
    for (i, _), cell in table.get_celld().items():
        if i > 0 and text[i - 1][1] == "paper":
            cell.set_facecolor("0.92")


def _col_widths(n: int) -> list[float]:
    """Method, source, then n - 2 equal value columns (fractions of the axes width)."""
    return [0.22, 0.06] + [0.72 / (n - 2)] * (n - 2)


def _cell(value: float | None, unit: str, reason: str = "") -> str:
    if value is None:
        return reason or "—"
    return f"{value:.2f}{unit}"


def _render_bd_table(table_id: str, profile, panels: Sequence[Panel], out_pdf, snr_db: float,
                     dataset: str | None) -> None:
    started = time.perf_counter()
    spec = TABLES[table_id]
    metric = spec["metric"]
    all_inputs = _load_panels(panels, snr_db, metric, spec["distortion"], ("ntscc", "deepjscc"), dataset)
    by_ds = {i.dataset: i for i in all_inputs}
    bds = {d: _bds(i) for d, i in by_ds.items()}
    checks = [c for d, i in by_ds.items() for c in rd_findings(i, metric, bds[d])]
    qname = "bd_psnr_db" if metric == "psnr" else "bd_ms_ssim_db"
    qlabel = "BD-PSNR (dB)" if metric == "psnr" else "BD-MS-SSIM (dB)"
    labels = sorted({i.codec_label for i in all_inputs})
    if len(labels) != 1:
        raise ValueError(f"the panels' separation sweeps use different codecs: {labels}")
    label = labels[0]
    methods = {"ntscc": "NTSCC", "capacity": f"{label} + capacity", "ldpc": f"{label} + LDPC",
               "deepjscc": "Deep JSCC"}
    rows: list[ResultRow] = [r for d, i in by_ds.items() for r in _bd_rows(table_id, d, i, bds[d], snr_db, metric)]
    for d, i in by_ds.items():
        if d in spec["datasets"]:  # the anchor against itself
            rows.append(ResultRow(figure=table_id, panel=d, method=methods["ldpc"], dataset=d, snr_db=snr_db,
                                  bandwidth_ratio=None, metric="bd_cbr_percent", value=0.0,
                                  run_id=i.series["ldpc"].run_keys[0], extra={"anchor": True, "anchor_mcs": i.ldpc_mcs}))
    text: list[list[str]] = []
    for key, method in methods.items():
        for source in ("paper", "ours"):
            line = [method if source == "paper" else "", source]
            for d in spec["datasets"]:
                if source == "paper":
                    cbr, qual = PAPER[table_id][key][d]
                    note = PAPER_NOTES.get((table_id, key, d, "bd_quality"))
                    line += [_cell(cbr, "%"), _cell(qual, "", "illegible" if note else "—")]
                    for name, metric_name, v in (("bd_cbr", "bd_cbr_percent", cbr), ("bd_quality", qname, qual)):
                        if key == "ldpc" and name == "bd_quality":
                            continue
                        extra = {"paper_label": PAPER_LABEL[key], "table": spec["title"]}
                        if v is None:
                            extra["reason"] = PAPER_NOTES.get((table_id, key, d, name), "not printed")
                        rows.append(ResultRow(figure=table_id, panel=d, method=method, dataset=d, snr_db=snr_db,
                                              bandwidth_ratio=None, metric=metric_name, value=v, source="paper",
                                              extra=extra))
                elif d not in by_ds:
                    line += ["not run", "not run"]
                    for metric_name in ("bd_cbr_percent", qname)[: 1 if key == "ldpc" else 2]:
                        rows.append(ResultRow(figure=table_id, panel=d, method=method, dataset=d, snr_db=snr_db,
                                              bandwidth_ratio=None, metric=metric_name, value=None,
                                              extra={"reason": "not run"}))
                elif key == "ldpc":
                    line += ["0.00% (anchor)", "—"]
                elif key in bds[d]:
                    r = bds[d][key]
                    line += [_cell(r["bd_cbr"], "%", r["bd_cbr_reason"]),
                             _cell(r["bd_quality"], "", r["bd_quality_reason"])]
                else:
                    line += ["n/a (not in the inputs)"] * 2
                    for metric_name in ("bd_cbr_percent", qname):
                        rows.append(ResultRow(figure=table_id, panel=d, method=method, dataset=d, snr_db=snr_db,
                                              bandwidth_ratio=None, metric=metric_name, value=None,
                                              extra={"reason": "not in the inputs"}))
            text.append(line)
    header = ["Method", "source"] + [f"{DATASETS[d]} {h}" for d in spec["datasets"] for h in ("BD-CBR", qlabel)]

    fig, ax = plt.subplots(figsize=(2.5 + 1.25 * len(header), 3.2))
    _draw_table(ax, text, header)
    anchors = ", ".join(f"{DATASETS[d]}: {i.ldpc_mcs}" for d, i in by_ds.items())
    ax.set_title(f"{spec['title']}: BD-CBR and {qlabel} against {label} + LDPC ({anchors}; the paper's "
                 f"BPG + LDPC), AWGN, SNR = {snr_db:g} dB", fontsize=8)
    notes = _notes(checks) + [n for i in all_inputs for n in i.notes] + [
        "paper rows (grey): the values printed in the paper (its BPG is our HEVC-intra); ours: our runs",
        f"BD on upper envelopes (VCEG-M33, Akima); n/a where the curves share < {MIN_OVERLAP:.0%} of their joint "
        f"range or have < {bd.MIN_POINTS} points", _not_run(spec["datasets"], list(by_ds))]
    if table_id == "table2":
        notes.append("paper's Deep JSCC BD-MS-SSIM on CLIC2021 is illegible in our copy (printed as '-77')")
    bottom = _footer(fig, profile, notes)
    ax.set_position((0.01, bottom, 0.98, 0.95 - bottom))
    _write(fig, out_pdf, rows, profile, name=table_id, checks=checks, notes=[n for n in notes if n], started=started,
           dataset=",".join(by_ds), snr_db=snr_db, **_merged(all_inputs))


def render_table1(profile, evals: list[Path], sweep_csv: Path, out_pdf: Path, snr_db: float = 10.0,
                  dataset: str | None = None, panels: Sequence[Panel] = ()) -> None:
    """Table I: BD-CBR and BD-PSNR against HEVC-intra + LDPC, ours beside the paper's."""
    _render_bd_table("table1", profile, [(evals, sweep_csv), *panels], out_pdf, snr_db, dataset)


def render_table2(profile, evals: list[Path], sweep_csv: Path, out_pdf: Path, snr_db: float = 10.0,
                  dataset: str | None = None, panels: Sequence[Panel] = ()) -> None:
    """Table II: BD-CBR and BD-MS-SSIM (dB) against HEVC-intra + LDPC, MS-SSIM-trained models."""
    _render_bd_table("table2", profile, [(evals, sweep_csv), *panels], out_pdf, snr_db, dataset)


# --------------------------------------------------------------------------- Fig. 8


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


def _rank(x: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(x)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def rate_complexity_correlation(image: np.ndarray, rate_map: np.ndarray) -> tuple[float, float]:
    """(Spearman, Pearson) correlation between each patch's channel uses and its complexity;
    NaN for a constant map."""
    c = patch_complexity(image, rate_map.shape).ravel()
    r = np.asarray(rate_map, dtype=np.float64).ravel()
    return _pearson(_rank(r), _rank(c)), _pearson(r, c)


def fig08_findings(image: np.ndarray, lambdas: Sequence[float], maps: np.ndarray,
                   cbr: Sequence[float]) -> tuple[list[tuple[str, bool, str]], list[tuple[float, float]]]:
    corr = [rate_complexity_correlation(image, m) for m in maps]
    parts = [f"λ = {lam:g}: Spearman {s:.2f}, Pearson {p:.2f}" for lam, (s, p) in zip(lambdas, corr)]
    first = ("rate maps spend more bandwidth on complex regions", all(s > 0.3 for s, _ in corr),
             "; ".join(parts) + "; complexity = mean luminance gradient magnitude of the patch's pixel block, "
             "holds if Spearman > 0.3 for every λ")
    order = np.argsort(lambdas)
    c_sorted = np.asarray(cbr, dtype=float)[order]
    lam_sorted = np.asarray(lambdas, dtype=float)[order]
    second = ("a smaller λ spends more bandwidth", bool(len(lambdas) >= 2 and np.all(np.diff(c_sorted) < 0)),
              ", ".join(f"λ = {lam:g}: CBR {c:.4f}" for lam, c in zip(lam_sorted, c_sorted)))
    return [first, second], corr


def render_fig08(profile, maps_npz: Path, out_pdf: Path, dataset: str | None = None) -> None:
    """Fig. 8: an image and NTSCC's channel uses per patch for several λ."""
    started = time.perf_counter()
    maps_npz = _need(Path(maps_npz), "Fig. 8 rate maps")
    meta = _json(maps_npz.with_suffix(".json"), f"record beside {maps_npz.name}")
    with np.load(maps_npz) as npz:
        missing = [k for k in ("image", "lambdas", "maps", "cbr", "eta") if k not in npz.files]
        if missing:
            raise ValueError(f"{maps_npz}: missing arrays {', '.join(missing)}")
        image, lambdas, maps = npz["image"], np.asarray(npz["lambdas"], float), np.asarray(npz["maps"], float)
        cbr, eta = np.asarray(npz["cbr"], float), float(npz["eta"])
    if maps.ndim != 3 or maps.shape[0] != lambdas.size or cbr.size != lambdas.size:
        raise ValueError(f"{maps_npz}: maps {maps.shape}, lambdas {lambdas.shape}, cbr {cbr.shape} do not match")
    ds = dataset or dataset_of([meta["image_id"]], str(maps_npz))
    checks, corr = fig08_findings(image, lambdas, maps, cbr)
    run_key = meta["run_key"]
    snr = meta.get("snr_db")
    cbr_is = meta.get("cbr_is", "k / (3 H W)")
    complexity = patch_complexity(image, maps.shape[1:])
    bh, bw = image.shape[0] // maps.shape[1], image.shape[1] // maps.shape[2]

    n = lambdas.size
    fig, axes = plt.subplots(1, n + 1, figsize=(3.6 * (n + 1), 3.6))
    axes = np.atleast_1d(axes)
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
    notes = _notes(checks) + [f"patches of {bh}x{bw} pixels; CBR = {cbr_is} as recorded by the rate-map stage"]
    bottom = _footer(fig, profile, notes)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    model_ids = dict(meta.get("model_run_ids", {}))
    _write(fig, out_pdf, rows, profile, name="fig08", run_ids=[meta["run_id"], *model_ids.values()],
           run_keys={run_key: meta["run_id"], **model_ids}, data_checksums=dict(meta.get("data_checksums", {})),
           stage_time_s=float(meta.get("wall_time_s", 0.0)), checks=checks, notes=notes, started=started,
           dataset=ds, image_id=meta["image_id"])


# --------------------------------------------------------------------------- Table III


def table3_findings(methods: dict) -> list[tuple[str, bool, str]]:
    t = {k: v.get("seconds_per_image") for k, v in methods.items()}
    others = [k for k in t if k != "NTSCC" and t[k] is not None]
    claim = "NTSCC encodes and decodes an image faster than " + " and ".join(others or ["the other methods"])
    if t.get("NTSCC") is None or not others:
        return [(claim, False, "NTSCC or the other methods are missing from the timing record")]
    slower = [k for k in others if t[k] <= t["NTSCC"]]
    return [(claim, not slower, ", ".join(f"{k} {1000 * t[k]:.0f} ms" for k in ("NTSCC", *others)))]


def render_table3(profile, timing_json: Path, out_pdf: Path, dataset: str | None = None) -> None:
    """Table III: parameters and encode + decode time per image, ours beside the paper's."""
    started = time.perf_counter()
    timing = _json(Path(timing_json), "Table III timing record")
    methods = timing.get("methods")
    if not isinstance(methods, dict) or not methods:
        raise ValueError(f"{timing_json}: no 'methods'")
    ds = dataset or timing.get("dataset") or "kodak"
    checks = table3_findings(methods)
    run_key = timing["run_key"]
    rows: list[ResultRow] = []
    text: list[list[str]] = []
    times = ("kodak", "clic2021")

    def ms(v: float | None) -> str:
        return "—" if v is None else f"{1000 * v:.0f} ms"

    def params(v: float | None) -> str:
        return "—" if v is None else f"{v / 1e6:.2f}M"

    first = ("NTSCC", "Deep JSCC")
    order = [k for k in first if k in methods] + [k for k in methods if k not in first]
    paper = dict(PAPER["table3"])
    for name in order + [k for k in paper if k not in order]:
        if name in paper:
            p, t = paper[name]
            text.append([name, "paper", params(p), ms(t["kodak"]), ms(t["clic2021"]), "RTX 3090 + 2x Xeon 6226R"])
            rows.append(ResultRow(figure="table3", panel="parameters", method=name, dataset="", snr_db=None,
                                  bandwidth_ratio=None, metric="parameters", value=p, source="paper",
                                  extra={} if p is not None else {"reason": "not printed"}))
            for d in times:
                rows.append(ResultRow(figure="table3", panel="time", method=name, dataset=d, snr_db=None,
                                      bandwidth_ratio=None, metric="seconds_per_image", value=t[d], source="paper",
                                      extra={"device": "RTX 3090, two Xeon Gold 6226R"} |
                                      ({"note": "BPG alone, channel coding not included"} if name == "BPG" else {})))
        if name in methods:
            m = methods[name]
            sec = m.get("seconds_per_image")
            text.append(["" if name in paper else name, "ours", params(m.get("parameters")),
                         *[ms(sec) if d == ds else "not run" for d in times],
                         f"{timing.get('device', '?')}, {timing.get('threads', '?')} threads"])
            rows.append(ResultRow(figure="table3", panel="parameters", method=name, dataset="", snr_db=None,
                                  bandwidth_ratio=None, metric="parameters", value=m.get("parameters"), run_id=run_key,
                                  extra={} if m.get("parameters") is not None else
                                  {"reason": "no trainable parameters"}))
            for d in times:
                extra = {"device": timing.get("device"), "threads": timing.get("threads"), "images": m.get("images")}
                rows.append(ResultRow(figure="table3", panel="time", method=name, dataset=d, snr_db=None,
                                      bandwidth_ratio=None, metric="seconds_per_image",
                                      value=sec if d == ds else None, run_id=run_key,
                                      extra=extra if d == ds else {"reason": "not run"}))
    header = ["Method", "source", "Parameters", "Time Kodak", "Time CLIC2021", "device"]
    fig, ax = plt.subplots(figsize=(10, 2.6))
    _draw_table(ax, text, header)
    ax.set_title("Table III: model parameters and average encode + decode time per image", fontsize=9)
    notes = _notes(checks) + [
        "paper rows (grey): printed in the paper, on an RTX 3090; its BPG time has no channel coding",
        f"ours: {DATASETS.get(ds, ds)} on {timing.get('device', '?')} with {timing.get('threads', '?')} threads, "
        "not comparable in absolute terms", _not_run(times, [ds]).replace("panels", "columns")]
    bottom = _footer(fig, profile, notes)
    ax.set_position((0.01, bottom, 0.98, 0.92 - bottom))
    _write(fig, out_pdf, rows, profile, name="table3",
           run_ids=[timing.get("run_id", ""), *timing.get("model_run_ids", [])],
           run_keys={run_key: timing.get("run_id", "")}, data_checksums=dict(timing.get("data_checksums", {})),
           stage_time_s=float(timing.get("wall_time_s", 0.0)), checks=checks, notes=[n for n in notes if n],
           started=started, dataset=ds, device=timing.get("device"), threads=timing.get("threads"))


# --------------------------------------------------------------------------- command line

RD_TARGETS = {"fig11": render_fig11, "fig13": render_fig13, "fig17": render_fig17,
              "table1": render_table1, "table2": render_table2}
TARGETS = ("fig08", *RD_TARGETS, "table3")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipelines.ntscc.image_figures", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", choices=TARGETS)
    parser.add_argument("--profile", default=None, help="profile name (mini, paper) or YAML path")
    parser.add_argument("--eval", nargs="+", default=[],
                        help="per-model eval.csv files (figs. 11, 13, 17, tables I-II)")
    parser.add_argument("--sweep-csv", help="per-image CSV of the separation sweep over CBR")
    parser.add_argument("--panel", nargs="+", action="append", default=[], metavar="CSV",
                        help="another data set's panel (figs. 11, 13, 17) or column (tables I-II): its sweep CSV, "
                             "then its eval.csv files; repeatable")
    parser.add_argument("--maps", help="Fig. 8 maps.npz")
    parser.add_argument("--timing", help="Table III timing.json")
    parser.add_argument("--snr", type=float, default=10.0, help="channel SNR of the figure (dB)")
    parser.add_argument("--snr-sweep-csv", help="fig13: separation sweep over SNR at one CBR, for panel (c)")
    parser.add_argument("--dataset", default=None, help="data set name, if the image ids do not tell")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.target in RD_TARGETS and (not args.eval or not args.sweep_csv):
        parser.error(f"{args.target} needs --eval and --sweep-csv")
    if any(len(p) < 2 for p in args.panel):
        parser.error("--panel needs a sweep CSV and at least one eval.csv")
    if args.snr_sweep_csv and args.target != "fig13":
        parser.error("--snr-sweep-csv is for fig13 only")
    if args.target == "fig08" and not args.maps:
        parser.error("fig08 needs --maps")
    if args.target == "table3" and not args.timing:
        parser.error("table3 needs --timing")
    try:
        profile = load(args.profile)
        out = Path(args.out)
        if args.target in RD_TARGETS:
            panels = [([Path(e) for e in p[1:]], Path(p[0])) for p in args.panel]
            more = {"snr_sweep": Path(args.snr_sweep_csv)} if args.snr_sweep_csv else {}
            RD_TARGETS[args.target](profile, [Path(p) for p in args.eval], Path(args.sweep_csv), out, args.snr,
                                    dataset=args.dataset, panels=panels, **more)
        elif args.target == "fig08":
            render_fig08(profile, Path(args.maps), out, dataset=args.dataset)
        else:
            render_table3(profile, Path(args.timing), out, dataset=args.dataset)
    except (ProfileError, FileNotFoundError, ValueError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")


if __name__ == "__main__":
    main()
