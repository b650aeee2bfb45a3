"""NTSCC's rate-distortion inputs (Sec. IV-C, IV-D): the curves of the learned models and of the
separation baselines at one SNR, read from evaluation outputs, with their BD metrics against
"HEVC-intra + LDPC" and the paper's findings on them.

* per-model evaluations ``eval.csv`` (``pipelines.ntscc.evals``), grouped into mean operating
  points; each learned curve is the upper envelope of all its (lambda, eta) points;
* a separation sweep (per-image CSV of ``jscc_core.digital.separation``) with ``<sweep>.json``:
  "HEVC-intra + LDPC" is the paper's BPG + LDPC, the rate-2/3 (6144, 4096) LDPC code with
  16-QAM (on CIFAR-10, where one such codeword is longer than a whole image's budget, the one
  other MCS of the sweep), "+ capacity" the ideal channel code.

Figs. 11, 13, 17 and Tables I-II draw these (``pipelines.ntscc.rd_pages``) and share their
command-line inputs (``add_rd_arguments``, ``panels_of``); Figs. 12 and 13(c) use
``learned_curves`` (quality versus SNR at one bandwidth ratio).
"""
from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jscc_core.digital.codecs import get_codec
from jscc_core.digital.mcs import NTSCC_BPG_LDPC
from jscc_core.digital.separation import CAPACITY, ImageResult, read_image_results_csv, summarize
from jscc_core.metrics import ms_ssim_db
from pipelines.figures.bd_compare import bd_against
from pipelines.figures.cli import figure_parser, run_figure
from pipelines.figures.curves import Series
from pipelines.figures.evals import need_file, read_record
from pipelines.figures.findings import Finding, above, bd_negative, growing
from pipelines.ntscc.evals import METHODS, OperatingPoint, mean_operating_points, read_ntscc_eval
from pipelines.profile import load

LDPC_MCS = NTSCC_BPG_LDPC.name  # "16QAM 2/3 (NTSCC BPG+LDPC)"
DATASETS = {"cifar10": "CIFAR10", "kodak": "Kodak", "clic2021": "CLIC2021"}
ID_PREFIXES = {"kodim": "kodak", "cifar10_": "cifar10"}
QUALITY_NAME = {"psnr": "PSNR", "ms_ssim_db": "MS-SSIM", "lpips_alex": "LPIPS"}

Panel = tuple[Sequence[Path], Path]  # (evaluation CSVs, separation sweep CSV) of one data set


def dataset_of(image_ids: Iterable[str], where: str) -> str:
    """The data set the image ids come from (e.g. kodim01 -> kodak); ``where`` names them in errors."""
    ids = sorted(set(image_ids))
    found = {next((d for p, d in ID_PREFIXES.items() if i.startswith(p)), None) for i in ids}
    if len(found) != 1 or None in found:
        raise ValueError(f"{where}: cannot tell the data set of images {ids[:3]}; pass --dataset")
    return found.pop()


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


def learned_series(points: Sequence[OperatingPoint], variant: str, distortion: str, snr_db: float,
                   metric: str) -> Series | None:
    """The ``variant``'s points trained for ``distortion`` at test SNR ``snr_db`` (None if it has none)."""
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
    """HEVC-intra + ``mcs`` (an LDPC MCS or capacity) at ``snr_db``, one point per CBR of the sweep;
    for ``metric`` "lpips_alex" the quality is minus the mean LPIPS-Alex (as ``OperatingPoint.quality``)."""
    picked = [r for r in results if r.mcs == mcs and math.isclose(r.snr_db, snr_db, abs_tol=1e-9)]
    if not picked:
        return None
    rows = sorted(summarize(picked, by=("codec", "mode", "mcs", "bandwidth_ratio")), key=lambda d: d["bandwidth_ratio"])
    info = [{"codec": d["codec"], "mcs": d["mcs"], "mode": d["mode"], "n_images": d["n_images"],
             "loss_rate": d["loss_rate"], "spent_ratio": d["spent_ratio"], "mean_ms_ssim": d["mean_ms_ssim"],
             "channel_use": "complex", "run_key": run_key} for d in rows]
    if metric == "lpips_alex":
        if any(math.isnan(d["mean_lpips_alex"]) for d in rows):
            raise ValueError(f"the separation sweep {run_key} has no LPIPS: run it with lpips: true "
                             "(separation.sweeps.<sweep>.lpips)")
        q = [-d["mean_lpips_alex"] for d in rows]
    else:
        q = [d["mean_psnr"] if metric == "psnr" else ms_ssim_db(d["mean_ms_ssim"]) for d in rows]
    return Series("capacity" if mcs == CAPACITY else "ldpc", method, [d["bandwidth_ratio"] for d in rows], q, info,
                  [run_key])


def sweep_has_lpips(sweep_csv: Path | str) -> bool:
    """Whether every row of a separation sweep CSV has its LPIPS-Alex (run with ``lpips: true``)."""
    results = read_image_results_csv(need_file(Path(sweep_csv), "separation sweep CSV"))
    return bool(results) and all(r.lpips_alex is not None for r in results)


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


@dataclass
class RDInputs:
    """Everything a rate-distortion figure or BD table of one data set draws on."""

    series: dict[str, Series]  # "ntscc", "deepjscc", ..., "ldpc", "capacity"
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
    """The learned curves (``variants`` trained for ``distortion``, quality ``metric``) and
    HEVC-intra + LDPC / + capacity at ``snr_db``; NTSCC must have points there. ``dataset``
    names the data set if neither the evaluations nor the image ids tell."""
    if not evals:
        raise ValueError("no evaluation CSVs given (--eval)")
    runs = [read_ntscc_eval(Path(p)) for p in evals]
    sweep_csv = need_file(Path(sweep_csv), "separation sweep CSV")
    sweep_meta = read_record(sweep_csv.with_suffix(".json"), f"sweep record beside {sweep_csv.name}")
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
    points = mean_operating_points(runs)
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
    absent = [METHODS[v] for v in variants if v not in series]
    if absent:
        notes.append(f"not in the inputs at SNR {snr_db:g} dB ({distortion}-trained): {', '.join(absent)}")
    return RDInputs(series, ds, label, ldpc_mcs, run_ids, run_keys, checksums, stage_time, notes, points)


def load_panels(panels: Sequence[Panel], snr_db: float, metric: str, distortion: str, variants: Sequence[str],
                dataset: str | None) -> list[RDInputs]:
    """One RDInputs per panel, data sets distinct; ``dataset`` names the first panel's if its ids do not tell."""
    out = [load_rd(ev, sw, snr_db, metric, distortion, variants, dataset if i == 0 else None)
           for i, (ev, sw) in enumerate(panels)]
    names = [i.dataset for i in out]
    if len(set(names)) != len(names):
        raise ValueError(f"two panels show the same data set: {names}")
    return out


def merged_provenance(inputs: Sequence[RDInputs]) -> dict[str, Any]:
    """Provenance of several panels: run ids and keys, data checksums, summed stage time."""
    keys, checksums = {}, {}
    for i in inputs:
        keys.update(i.run_keys)
        checksums.update(i.data_checksums)
    return dict(run_ids=[r for i in inputs for r in i.run_ids], run_keys=keys, data_checksums=checksums,
                stage_time_s=sum(i.stage_time_s for i in inputs))


def bds_against_ldpc(inputs: RDInputs) -> dict[str, dict]:
    """BD metrics of NTSCC, + capacity and deep JSCC (those present) against HEVC-intra + LDPC."""
    anchor = inputs.series["ldpc"]
    return {k: bd_against(anchor, inputs.series[k]) for k in ("ntscc", "capacity", "deepjscc") if k in inputs.series}


def rd_findings(inputs: RDInputs, metric: str, bds: dict[str, dict]) -> list[Finding]:
    """The paper's statements on Fig. 11 / Table I (PSNR) and Fig. 13 / Table II (MS-SSIM)."""
    s, ds, q = inputs.series, DATASETS[inputs.dataset], QUALITY_NAME[metric]
    label = inputs.codec_label
    out = [above(f"NTSCC above Deep JSCC on {ds} ({q})", s.get("ntscc"), s.get("deepjscc")),
           growing(f"NTSCC's {q} gain over Deep JSCC grows with CBR on {ds}", s.get("ntscc"), s.get("deepjscc"))]
    if metric == "ms_ssim_db":
        out.append(above(f"NTSCC above {label} + capacity on {ds} (MS-SSIM)", s.get("ntscc"), s.get("capacity")))
    out.append(bd_negative(f"NTSCC's BD-CBR vs {label} + LDPC is negative on {ds}", bds.get("ntscc")))
    return out


def not_run(paper_datasets: Sequence[str], shown: Sequence[str]) -> str:
    """A note naming the paper's panels (data sets) this page leaves out; "" if none."""
    other = [DATASETS[d] for d in paper_datasets if d not in shown]
    return f"the paper's {' and '.join(other)} panels are left out: those data sets were not run" if other else ""


def add_rd_arguments(parser: argparse.ArgumentParser) -> None:
    """The inputs of a rate-distortion page: --eval, --sweep-csv, --panel (repeatable), --snr, --dataset."""
    parser.add_argument("--eval", nargs="+", required=True, help="per-model eval.csv files of the first panel")
    parser.add_argument("--sweep-csv", required=True, help="per-image CSV of the separation sweep over CBR")
    parser.add_argument("--panel", nargs="+", action="append", default=[], metavar="CSV",
                        help="another data set's panel (figures) or columns (tables): its sweep CSV, then its "
                             "eval.csv files; repeatable")
    parser.add_argument("--snr", type=float, default=10.0, help="channel SNR of the page (dB)")
    parser.add_argument("--dataset", default=None, help="the first panel's data set, if the image ids do not tell")


def panels_of(args: argparse.Namespace) -> list[Panel]:
    """(evaluation CSVs, sweep CSV) of every panel named on the command line, the first one first."""
    if any(len(p) < 2 for p in args.panel):
        raise ValueError("--panel needs a sweep CSV and at least one eval.csv")
    return [([Path(e) for e in args.eval], Path(args.sweep_csv))] + [([Path(e) for e in p[1:]], Path(p[0]))
                                                                    for p in args.panel]


def rd_main(prog: str, doc: str | None, render: Callable[..., None], argv: list[str] | None) -> None:
    """The command line of a rate-distortion page (Figs. 11, 17, Tables I, II): ``--profile``, the inputs of
    :func:`add_rd_arguments` and ``--out``; ``render(profile, evals, sweep_csv, out_pdf, snr_db, dataset,
    panels)`` draws it."""
    parser = figure_parser(prog, doc)
    add_rd_arguments(parser)

    def run(args: argparse.Namespace) -> None:
        first, *more = panels_of(args)
        render(load(args.profile), *first, Path(args.out), args.snr, args.dataset, more)

    run_figure(parser, argv, run)
