"""NTSCC Figs. 15-16 (Sec. IV-C 3): Kodak crops reconstructed by each scheme over AWGN at 10 dB, with
each scheme's bandwidth cost against HEVC-intra + LDPC (the paper's BPG + LDPC) at matched quality.

Matched quality is LPIPS-Alex, the quality the figures are about: for one image, HEVC-intra +
LDPC's LPIPS over the sweep's bandwidth ratios (its lower envelope: the best it shows at any
ratio up to R) is interpolated in log R to the scheme's LPIPS, and the scheme's cost is
``100 (R_scheme / R_HEVC - 1)`` percent: negative is a saving (blue), positive an increase (red).
A quality HEVC-intra + LDPC never reaches in the sweep gives a bound ("<= x %"), one it already
beats at its lowest ratio the other bound (">= x %").

Reads the crop stage's crops.npz and crops.json (``python -m pipelines.ntscc.images crops``);
``render_crops(..., target)`` draws Fig. 15 (PSNR-trained models) or Fig. 16 (MS-SSIM-trained).
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from jscc_core.results import ResultRow
from pipelines.figures.cli import figure_parser, run_figure
from pipelines.figures.evals import need_file
from pipelines.figures.findings import Finding
from pipelines.figures.page import new_figure, write_page
from pipelines.ntscc.evals import TARGET_CURVES
from pipelines.ntscc.paper import printed_values
from pipelines.profile import load

LABELS = {key: label for key, _, _, label in TARGET_CURVES}
#: training target -> the learned columns of the page, after HEVC-intra + LDPC
COLUMNS = {"mse": ("deepjscc", "ntscc", "ntscc_perceptual"),
           "ms_ssim": ("deepjscc_ms_ssim", "ntscc_ms_ssim", "ntscc_perceptual")}


def matched_cost(cbr: float, lpips: float, curve: list[tuple[float, float]]) -> tuple[float, str]:
    """(percent, relation) of a scheme at ``cbr`` with ``lpips`` against the anchor's per-image
    ``curve`` [(ratio, lpips), ...]: relation "=" (interpolated), "<=" (the anchor never reaches
    that LPIPS: the cost is at most the value, at its largest ratio) or ">=" (the anchor does
    better already at its smallest ratio)."""
    pts = sorted((float(r), float(q)) for r, q in curve if q is not None and not math.isnan(q))
    if not pts:
        raise ValueError("the anchor's curve has no LPIPS value")
    ratios = np.array([r for r, _ in pts])
    best = np.minimum.accumulate(np.array([q for _, q in pts]))  # best LPIPS at any ratio up to R
    if lpips < best[-1]:
        return 100 * (cbr / ratios[-1] - 1), "<="
    if lpips >= best[0]:
        return 100 * (cbr / ratios[0] - 1), ">="
    keep = np.concatenate([[True], np.diff(best) < 0])  # strictly falling points of the envelope
    r, q = np.log(ratios[keep]), best[keep]
    needed = float(np.exp(np.interp(lpips, q[::-1], r[::-1])))
    return 100 * (cbr / needed - 1), "="


def read_crops(path: Path | str) -> tuple[dict, dict]:
    """(arrays, record) of crops.npz and the crops.json beside it."""
    path = need_file(Path(path), "crops archive (the ntscc_images_crops stage)")
    record = json.loads(need_file(path.with_suffix(".json"), "crops record").read_text())
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return arrays, record


def render_crops(fig_id: str, target: str, profile, crops_npz: Path, out_pdf: Path) -> None:
    """Fig. 15 (``target`` "mse") or 16 ("ms_ssim"): one row per crop, the original, HEVC-intra + LDPC
    and the learned schemes trained for ``target`` and for eq. (29)."""
    started = time.perf_counter()
    arrays, rec = read_crops(crops_npz)
    columns = ["ldpc"] + [k for k in COLUMNS[target] if k in rec["schemes"]]
    missing = [LABELS[k] for k in COLUMNS[target] if k not in rec["schemes"]]
    crops = rec["crops"]
    ldpc = rec["ldpc"]
    fig = new_figure(1.9 * (len(columns) + 1), 2.35 * len(crops) + 0.4)
    axes = fig.subplots(len(crops), len(columns) + 1, squeeze=False)
    rows: list[ResultRow] = []
    costs: dict[str, list[tuple[float, str]]] = {k: [] for k in columns[1:]}
    for i, c in enumerate(crops):
        image = c["image"]
        curve = ldpc["lpips_curves"][image]
        axes[i][0].imshow(arrays[f"{image}__original"])
        axes[i][0].set_title(f"{image} ({c['top']}, {c['left']}), original", fontsize=6)
        for j, key in enumerate(columns, start=1):
            ax = axes[i][j]
            ax.imshow(arrays[f"{image}__{key}"])
            if key == "ldpc":
                m, label, cost, rel = ldpc["per_image"][image], "HEVC-intra + LDPC", None, ""
                text = f"R = {m['cbr']:.4f} (anchor)"
            else:
                m, label = rec["schemes"][key]["per_image"][image], LABELS[key]
                cost, rel = matched_cost(m["cbr"], m["lpips_alex"], curve)
                costs[key].append((cost, rel))
                text = f"R = {m['cbr']:.4f}, {'' if rel == '=' else rel + ' '}{cost:+.0f} %"
            ax.set_title(f"{label}\n{text}\nLPIPS {m['lpips_alex']:.3f}, PSNR {m['psnr']:.2f} dB", fontsize=5.5,
                         color="k" if cost is None else "tab:blue" if cost < 0 else "tab:red")
            extra = {"psnr": m["psnr"], "ms_ssim": m["ms_ssim"], "crop": c}
            extra.update({"model": rec["schemes"][key]["model"], "eta": rec["schemes"][key]["eta"]}
                         if key != "ldpc" else {"status": m["status"], "quality": m["quality"]})
            run = rec["schemes"][key]["run_key"] if key != "ldpc" else ""
            rows.append(ResultRow(figure=fig_id, panel=image, method=label, dataset="kodak", snr_db=rec["snr_db"],
                                  bandwidth_ratio=m["cbr"], metric="lpips_alex", value=m["lpips_alex"], run_id=run,
                                  extra=extra))
            if cost is not None:
                rows.append(ResultRow(figure=fig_id, panel=image, method=label, dataset="kodak",
                                      snr_db=rec["snr_db"], bandwidth_ratio=m["cbr"],
                                      metric="bandwidth_cost_vs_ldpc_percent", value=cost, run_id=run,
                                      extra={"relation": rel, "matched_on": "lpips_alex"}))
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    findings = crop_findings(costs, rec, crops)
    paper = printed_values()
    notes = [f"missing from the inputs: {', '.join(missing)}"] if missing else []
    notes += [
        f"paper ({paper.get(fig_id, 'snr_db').source}): AWGN at {paper.value(fig_id, 'snr_db'):g} dB; it does not "
        "name its images: these crops are ntscc.images.perceptual.crops",
        f"each learned scheme at its operating point (model, η) with Kodak-mean CBR nearest "
        f"{rec['crop_cbr']:g}; HEVC-intra + LDPC at the sweep's ratio nearest it ({ldpc['bandwidth_ratio']:g}, "
        f"{ldpc['mcs']})",
        "cost vs HEVC-intra + LDPC = 100 (R / R_HEVC - 1) at equal LPIPS-Alex on the whole image (blue: saving, "
        "red: increase; <= / >=: HEVC-intra + LDPC's sweep does not reach that LPIPS / beats it at its lowest R)"]
    write_page(fig, out_pdf, rows, profile, name=f"NTSCC {fig_id}", findings=findings, notes=notes, started=started,
               dataset="kodak", snr_db=rec["snr_db"], run_ids=[rec["run_id"], *rec["model_run_ids"].values()],
               run_keys={rec["run_key"]: rec["run_id"]}, data_checksums=rec["data_checksums"],
               stage_time_s=float(rec["wall_time_s"]))


def crop_findings(costs: dict[str, list[tuple[float, str]]], rec: dict, crops: list[dict]) -> list[Finding]:
    """"NTSCC learned under perceptual loss can achieve higher visual quality with much lower channel
    bandwidth cost": a saving against HEVC-intra + LDPC on every crop, and a lower LPIPS than the
    NTSCC of the other training target on every crop."""
    out = []
    perceptual = costs.get("ntscc_perceptual")
    claim = "NTSCC (Perceptual) costs less bandwidth than HEVC-intra + LDPC at equal LPIPS on every crop"
    if not perceptual:
        out.append(Finding(claim, False, "NTSCC (Perceptual) is missing from the inputs"))
    else:
        holds = all(v < 0 and rel != ">=" for v, rel in perceptual)
        out.append(Finding(claim, holds, "; ".join(f"{c['image']}: {'' if r == '=' else r + ' '}{v:+.0f} %"
                                                   for c, (v, r) in zip(crops, perceptual))))
    for key in ("ntscc", "ntscc_ms_ssim"):
        if key in rec["schemes"] and "ntscc_perceptual" in rec["schemes"]:
            a, b = rec["schemes"]["ntscc_perceptual"]["per_image"], rec["schemes"][key]["per_image"]
            lower = [a[c["image"]]["lpips_alex"] < b[c["image"]]["lpips_alex"] for c in crops]
            out.append(Finding(f"NTSCC (Perceptual) has a lower LPIPS than {LABELS[key]} on every crop", all(lower),
                               "; ".join(f"{c['image']}: {a[c['image']]['lpips_alex']:.3f} at R "
                                         f"{a[c['image']]['cbr']:.4f} vs {b[c['image']]['lpips_alex']:.3f} at R "
                                         f"{b[c['image']]['cbr']:.4f}" for c in crops)))
    return out


def crops_main(fig_id: str, target: str, doc: str | None, argv: list[str] | None) -> None:
    """The command line of Figs. 15-16: ``--profile``, ``--crops`` (crops.npz) and ``--out``."""
    parser = figure_parser(f"python -m pipelines.ntscc.{fig_id}", doc)
    parser.add_argument("--crops", required=True, help="crops.npz of the ntscc_images_crops stage")
    run_figure(parser, argv, lambda args: render_crops(fig_id, target, load(args.profile), Path(args.crops),
                                                       Path(args.out)))
