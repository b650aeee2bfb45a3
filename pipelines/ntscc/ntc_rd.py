"""The NTC rate-distortion diagnostic on Kodak (no channel): PSNR versus bpp of the pretrained NTCs
and of the NTCs inside the trained NTSCC models (real bitstreams, ``pipelines.ntscc.ntc_rd_eval``),
beside HEVC-intra on the same images and, as labelled reference data, CompressAI's published
mbt2018-mean results. The ceiling the transforms put on NTSCC, measured.

    python -m pipelines.ntscc.ntc_rd --profile mini \\
        --rd results/mini/ntscc/images/{ntc,ntscc}_mse_lam*/ntc_rd.csv \\
        --sweep-csv results/mini/separation/kodak_cbr.csv \\
        [--ntscc-eval results/mini/ntscc/images/ntscc_mse_lam*/eval.csv --snr 10] --out reports/ntscc/ntc_rd.pdf

HEVC-intra with no channel is read from the separation sweep's "+ capacity" rows (error-free):
every (SNR, bandwidth ratio) of the sweep is one stream budget, its point the images' mean
bpp = stream bits / (H W) and mean PSNR. Findings: NTSCC's PSNR at ``--snr`` against its NTC's,
and the NTCs' PSNR against HEVC-intra's at equal bpp.

Writes ntc_rd.pdf, ntc_rd.csv (every plotted point; the reference rows with source "reference")
and ntc_rd.json (provenance).
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from jscc_core.digital.codecs import get_codec
from jscc_core.digital.separation import CAPACITY, read_image_results_csv
from jscc_core.results import ResultRow
from pipelines.figures.cli import figure_parser, run_figure
from pipelines.figures.curves import Series, gaps
from pipelines.figures.evals import EvalRun, group_points, mean, need_file, read_eval, read_record
from pipelines.figures.findings import Finding
from pipelines.figures.page import new_figure, write_page
from pipelines.figures.paper_values import load_paper_values
from pipelines.ntscc.evals import NTC_OF, RD_COLUMNS, OperatingPoint, mean_operating_points, read_ntscc_eval
from pipelines.profile import load

REFERENCE_FILE = Path(__file__).with_name("compressai_kodak.yaml")
REFERENCE_LABEL = "CompressAI mbt2018-mean (published, reference)"
#: NTSCC "sits at its NTC's level" when its PSNR over the channel is within this of its NTC's with
#: none: a channel codec that lost more than 1 dB, or transforms that moved more, would be the story.
CEILING_TOL_DB = 1.0
FIGURE = "ntc_rd"
#: What the sweep's stream bits count (its record's ``count``; ``jscc_core.digital.rate_control``).
COUNTED = {"file": "the whole HEIF file", "payload": "the HEVC NAL units", "slice": "the coded slices"}


@dataclass(frozen=True)
class NTCPoint:
    """Means over the images of one model's NTC: bpp, PSNR, MS-SSIM, seconds."""

    model: str
    ntc: str  # NTC_OF's value: "pretrained", "inside NTSCC", ...
    lmbda: float
    bpp: float
    psnr: float
    ms_ssim: float
    encode_s: float
    decode_s: float
    n_images: int
    run_key: str


def ntc_points(runs: Sequence[EvalRun]) -> list[NTCPoint]:
    """One point per model of the ``ntc_rd.csv`` files, sorted by (NTC, bpp)."""
    out = [NTCPoint(model, rows[0]["ntc"], float(rows[0]["lmbda"]), mean(rows, "bpp"), mean(rows, "psnr"),
                    mean(rows, "ms_ssim"), mean(rows, "encode_s"), mean(rows, "decode_s"), len(rows),
                    rows[0]["run_key"])
           for (model,), rows in group_points(runs, {"model": str}).items()]
    return sorted(out, key=lambda p: (p.ntc, p.bpp))


def ntc_series(points: Sequence[NTCPoint], ntc: str) -> Series | None:
    """The ``ntc`` kind's points as a curve (bpp on the rate axis), None if it has none."""
    pts = [p for p in points if p.ntc == ntc]
    if not pts:
        return None
    info = [{"model": p.model, "lmbda": p.lmbda, "bpp": p.bpp, "mean_ms_ssim": p.ms_ssim, "n_images": p.n_images,
             "encode_s": p.encode_s, "decode_s": p.decode_s, "run_key": p.run_key} for p in pts]
    return Series(ntc, f"NTC ({ntc})", [p.bpp for p in pts], [p.psnr for p in pts], info,
                  sorted({p.run_key for p in pts}))


def hevc_series(sweep_csv: Path, pixels: dict[str, int]) -> tuple[Series, dict]:
    """HEVC-intra with no channel from the sweep's capacity rows on the images of ``pixels``
    ({image id: H W}): one point per (SNR, bandwidth ratio) with every image sent. Returns the
    curve and the sweep's record."""
    sweep_csv = need_file(sweep_csv, "separation sweep CSV")
    meta = read_record(sweep_csv.with_suffix(".json"), f"sweep record beside {sweep_csv.name}")
    rows = [r for r in read_image_results_csv(sweep_csv) if r.mcs == CAPACITY and r.image_id in pixels]
    missing = sorted(set(pixels) - {r.image_id for r in rows})
    if missing:
        raise ValueError(f"{sweep_csv}: no HEVC-intra + capacity rows for images {', '.join(missing[:3])} "
                         "(the NTCs' images); run the sweep on the same test set")
    codecs = sorted({r.codec for r in rows})
    if len(codecs) != 1:
        raise ValueError(f"{sweep_csv}: one codec expected, the sweep has {codecs}")
    groups: dict[tuple[float, float], list] = {}
    for r in rows:
        groups.setdefault((r.snr_db, r.bandwidth_ratio), []).append(r)
    bpp, q, info = [], [], []
    for (snr, ratio), rs in sorted(groups.items()):
        if len(rs) != len(pixels) or any(r.status != "ok" for r in rs):
            continue  # a budget some image does not fit: not a point of the codec's curve
        bpp.append(sum(r.stream_bits / pixels[r.image_id] for r in rs) / len(rs))
        q.append(sum(r.psnr for r in rs) / len(rs))
        info.append({"budget_snr_db": snr, "budget_bandwidth_ratio": ratio, "bpp": bpp[-1], "n_images": len(rs),
                     "mean_quality": sum(r.quality for r in rs) / len(rs), "run_key": meta["run_key"]})
    if not bpp:
        raise ValueError(f"{sweep_csv}: no stream budget at which every image was sent")
    label = f"{get_codec(codecs[0]).label} (no channel)"
    return Series("hevc", label, bpp, q, info, [meta["run_key"]]), meta


def ntscc_best(evals: Sequence[Path], snr_db: float) -> dict[float, OperatingPoint]:
    """{λ: NTSCC's operating point with the best mean PSNR at ``snr_db``, over its η} (MSE models)."""
    best: dict[float, OperatingPoint] = {}
    for p in mean_operating_points([read_ntscc_eval(e) for e in evals]):
        if p.variant != "ntscc" or p.distortion != "mse" or not math.isclose(p.snr_db, snr_db, abs_tol=1e-9):
            continue
        if p.lmbda not in best or p.psnr > best[p.lmbda].psnr:
            best[p.lmbda] = p
    return best


def ceiling_finding(ntscc: dict[float, OperatingPoint], ntc: Sequence[NTCPoint], snr_db: float) -> Finding:
    """NTSCC's PSNR at ``snr_db`` within ``CEILING_TOL_DB`` of its own NTC's (the one inside it,
    else the pretrained one) at every λ that has both."""
    claim = (f"NTSCC over AWGN at {snr_db:g} dB sits at its NTC's PSNR with no channel (within "
             f"{CEILING_TOL_DB:g} dB): the transforms, not the channel codec, set its ceiling")
    own = {p.lmbda: p for p in ntc if p.ntc == "pretrained"} | {p.lmbda: p for p in ntc if p.ntc == "inside NTSCC"}
    both = sorted(set(ntscc) & set(own), reverse=True)
    if not both:
        return Finding(claim, False, f"no λ with both an NTSCC evaluation at {snr_db:g} dB and its NTC's "
                                     f"(NTSCC λ {sorted(ntscc)}, NTC λ {sorted(own)})")
    parts, gap = [], []
    for lam in both:
        s, n = ntscc[lam], own[lam]
        gap.append(s.psnr - n.psnr)
        parts.append(f"λ {lam:g}: NTSCC {s.psnr:.2f} dB (η {s.eta:g}, R {s.cbr:.4f}) vs NTC {n.ntc} "
                     f"{n.psnr:.2f} dB at {n.bpp:.3f} bpp ({gap[-1]:+.2f} dB)")
    return Finding(claim, all(abs(g) <= CEILING_TOL_DB for g in gap), "; ".join(parts))


def hevc_gap_finding(test: Series, hevc: Series) -> Finding:
    """``test`` (an NTC curve) at or above HEVC-intra's PSNR at equal bpp, where the curves share
    a range of bpp (``curves.gaps``: log-bpp interpolation, no extrapolation)."""
    claim = f"the NTC ({test.key}) reaches {hevc.method}'s PSNR at equal bpp"
    g = gaps(test, hevc)
    if not g:
        return Finding(claim, False, f"no common bpp: NTC {test.cbr.min():.3f}-{test.cbr.max():.3f} bpp, "
                                     f"HEVC-intra {hevc.cbr.min():.3f}-{hevc.cbr.max():.3f} bpp")
    values = [v for _, v in g]
    return Finding(claim, min(values) >= 0, f"PSNR gap {min(values):+.2f} to {max(values):+.2f} dB at {len(g)} "
                                            f"bpp in [{g[0][0]:.3f}, {g[-1][0]:.3f}]")


def joint_training_note(pre: Series | None, inside: Series | None) -> str:
    """How joint training moved the NTC: inside NTSCC minus pretrained, at equal bpp and per λ."""
    if pre is None or inside is None:
        return ""
    per = {i["lmbda"]: (b, q) for i, b, q in zip(pre.info, pre.cbr, pre.quality)}
    moved = [f"λ {i['lmbda']:g}: {per[i['lmbda']][0]:.3f} -> {b:.3f} bpp, {per[i['lmbda']][1]:.2f} -> {q:.2f} dB"
             for i, b, q in zip(inside.info, inside.cbr, inside.quality) if i["lmbda"] in per]
    g = gaps(inside, pre)
    at = (f"PSNR {min(v for _, v in g):+.2f} to {max(v for _, v in g):+.2f} dB at equal bpp" if g
          else "no common bpp range")
    return f"joint training moved the NTC (pretrained -> inside NTSCC): {at}; " + "; ".join(moved)


def render(profile, rd_csvs: Sequence[Path], sweep_csv: Path, out_pdf: Path, ntscc_evals: Sequence[Path] = (),
           snr_db: float = 10.0) -> None:
    """The page from the NTCs' ``ntc_rd.csv`` files, the separation sweep and NTSCC's evaluations."""
    started = time.perf_counter()
    if not rd_csvs:
        raise ValueError("no ntc_rd.csv given (--rd)")
    runs = [read_eval(p, RD_COLUMNS, {"ntc": NTC_OF.values()}) for p in rd_csvs]
    points = ntc_points(runs)
    pixels = {r["image_id"]: int(r["height"]) * int(r["width"]) for run in runs for r in run.rows}
    for run in runs:
        if {r["image_id"] for r in run.rows} != set(pixels):
            raise ValueError(f"{run.path}: its images differ from the other ntc_rd.csv files'")
    series = {k: s for k in ("pretrained", "inside NTSCC") if (s := ntc_series(points, k)) is not None}
    hevc, sweep_meta = hevc_series(Path(sweep_csv), pixels)
    ntscc = ntscc_best(ntscc_evals, snr_db) if ntscc_evals else {}
    ref = load_paper_values(REFERENCE_FILE)
    ref_bpp, ref_psnr = ref.get("mbt2018_mean_mse", "bpp"), ref.get("mbt2018_mean_mse", "psnr")

    findings = [ceiling_finding(ntscc, points, snr_db) if ntscc_evals else
                Finding(f"NTSCC at {snr_db:g} dB sits at its NTC's PSNR", False, "no NTSCC evaluation given")]
    findings += [hevc_gap_finding(s, hevc) for s in series.values()]
    notes = [joint_training_note(series.get("pretrained"), series.get("inside NTSCC")),
             f"{hevc.method}: the sweep {Path(sweep_csv).name}'s error-free (+ capacity) streams, one point per "
             f"stream budget, bits of {COUNTED.get(sweep_meta.get('count', 'file'), sweep_meta.get('count'))}; "
             "NTC bits: every byte of the y and z strings",
             f"{REFERENCE_LABEL}: transcribed from {ref_psnr.source.split(', results.')[0]} (24 Kodak images); "
             "reference data, not run here",
             f"{len(pixels)} Kodak images; PSNR of the 8-bit reconstruction, mean over the images"]

    rows: list[ResultRow] = []
    for s in (*series.values(), hevc):
        for b, q, info in zip(s.cbr, s.quality, s.info):
            rows.append(ResultRow(figure=FIGURE, panel="rd", method=s.method, dataset="kodak", snr_db=None,
                                  bandwidth_ratio=None, metric="psnr", value=float(q), run_id=info["run_key"],
                                  extra={**info, "bpp": float(b)}))
    for b, q in zip(ref_bpp.value, ref_psnr.value):
        rows.append(ResultRow(figure=FIGURE, panel="rd", method=REFERENCE_LABEL, dataset="kodak", snr_db=None,
                              bandwidth_ratio=None, metric="psnr", value=q, source="reference",
                              extra={"bpp": b, "source": ref_psnr.source}))
    for lam, p in ntscc.items():
        rows.append(ResultRow(figure=FIGURE, panel="ceiling", method="NTSCC", dataset="kodak", snr_db=p.snr_db,
                              bandwidth_ratio=p.cbr, metric="psnr", value=p.psnr, run_id=p.run_key,
                              extra={"model": p.model, "lmbda": lam, "eta": p.eta, "n_images": p.n_images}))

    fig = new_figure(10, 4.2)
    ax, bx = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    styles = {"pretrained": ("C0", "o", "C0"), "inside NTSCC": ("C1", "s", "none"), "hevc": ("k", "^", "k")}
    for key, s in (*series.items(), ("hevc", hevc)):
        color, marker, face = styles[key]
        ax.plot(s.cbr, s.quality, marker=marker, mfc=face, color=color, label=s.method)
        if key != "hevc":
            for i, b, q in zip(s.info, s.cbr, s.quality):
                ax.annotate(f"λ {i['lmbda']:g}", (b, q), textcoords="offset points", xytext=(4, -9), fontsize=6,
                            color=color)
    ax.plot(ref_bpp.value, ref_psnr.value, ls="--", color="0.55", marker=".", label=REFERENCE_LABEL)
    ax.set_xlabel("bits per pixel (real bitstreams, no channel)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title("NTC rate-distortion on Kodak", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")

    lams = sorted({p.lmbda for p in points} | set(ntscc), reverse=True)
    x = range(len(lams))
    for k, (label, values, color, marker) in enumerate((
            ("NTC pretrained", {p.lmbda: p.psnr for p in points if p.ntc == "pretrained"}, "C0", "o"),
            ("NTC inside NTSCC", {p.lmbda: p.psnr for p in points if p.ntc == "inside NTSCC"}, "C1", "s"),
            (f"NTSCC at {snr_db:g} dB (best η)", {lam: p.psnr for lam, p in ntscc.items()}, "C3", "D"))):
        have = [(i, values[lam]) for i, lam in enumerate(lams) if lam in values]
        if have:
            bx.plot([i + 0.1 * (k - 1) for i, _ in have], [v for _, v in have], ls="", marker=marker, color=color,
                    mfc="none" if k == 1 else color, label=label)
    bx.set_xticks(list(x), [f"{lam:g}" for lam in lams])
    bx.set_xlim(-0.5, len(lams) - 0.5)
    bx.set_xlabel("λ")
    bx.set_ylabel("PSNR (dB)")
    bx.set_title("the ceiling: NTC vs NTSCC per λ", fontsize=9)
    bx.grid(alpha=0.3)
    bx.legend(fontsize=7)

    run_ids, run_keys = [sweep_meta.get("run_id", "")], {sweep_meta["run_key"]: sweep_meta.get("run_id", "")}
    checksums = dict(sweep_meta.get("data_checksums", {}))
    stage_time = float(sweep_meta.get("wall_time_s", 0.0))
    for run in runs:
        run_ids += [run.meta["run_id"], run.meta.get("model_run_id", "")]
        run_keys[run.meta["run_key"]] = run.meta["run_id"]
        checksums.update(run.meta.get("data_checksums", {}))
        stage_time += float(run.meta.get("wall_time_s", 0.0))
    for e in ntscc_evals:
        meta = read_record(Path(e).with_suffix(".json"), f"evaluation record beside {Path(e).name}")
        run_ids.append(meta["run_id"])
        run_keys[meta["run_key"]] = meta["run_id"]
        stage_time += float(meta.get("wall_time_s", 0.0))
    write_page(fig, out_pdf, rows, profile, name=f"NTSCC {FIGURE}", findings=findings, notes=notes,
               run_ids=run_ids, run_keys=run_keys, data_checksums=checksums, stage_time_s=stage_time,
               started=started, snr_db=snr_db, reference={"label": REFERENCE_LABEL, "source": ref_psnr.source})


def main(argv: list[str] | None = None) -> None:
    parser = figure_parser("python -m pipelines.ntscc.ntc_rd", __doc__)
    parser.add_argument("--rd", nargs="+", required=True, help="ntc_rd.csv of every NTC (pretrained and inside NTSCC)")
    parser.add_argument("--sweep-csv", required=True, help="per-image CSV of a Kodak separation sweep with capacity")
    parser.add_argument("--ntscc-eval", nargs="*", default=[], help="eval.csv of the NTSCC models")
    parser.add_argument("--snr", type=float, default=10.0, help="the SNR (dB) NTSCC is compared at")
    run_figure(parser, argv, lambda a: render(load(a.profile), [Path(p) for p in a.rd], Path(a.sweep_csv),
                                              Path(a.out), [Path(p) for p in a.ntscc_eval], a.snr))


if __name__ == "__main__":
    main()
