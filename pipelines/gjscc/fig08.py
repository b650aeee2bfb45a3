"""GJSCC Fig. 8 (Sec. V-C): DeepJSCC and GenerativeJSCC versus channel SNR at both bandwidth ratios:
(a) LPIPS, (b) MS-SSIM, (c) PSNR, and (d) FD-VGG16, the Fréchet distance in ImageNet VGG16 features
(FID needs Inception weights; the page says whether they were available), with the paper's
findings checked on our points.  The out-of-distribution faces are drawn dashed and labelled.

    python -m pipelines.gjscc.fig08 --profile mini \\
        --eval results/mini/gjscc/deepjscc/faces_c*/eval.csv results/mini/gjscc/generative/c?/eval.csv \\
        --out reports/gjscc/fig08.pdf

Writes fig08.pdf, fig08.csv (every plotted point, LPIPS-AlexNet too) and fig08.json.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from jscc_core.results import ResultRow
from pipelines.figures.cli import figure_parser, run_figure
from pipelines.figures.findings import MISSING, Finding
from pipelines.figures.page import new_figure, write_page
from pipelines.gjscc.evals import TEST_SETS, Point, dataset_name, select
from pipelines.gjscc.pages import (
    RHO_NOTE,
    SNR_AXIS,
    better_everywhere,
    metric_label,
    not_better_on_average,
    paper_claim,
    plot_curve,
    point_rows,
    printed_values,
    provenance,
    read_evals,
)
from pipelines.profile import load

FIG = "fig08"
PANELS = (("a", "lpips_vgg"), ("b", "ms_ssim"), ("c", "psnr"))
COLORS = {"DeepJSCC": "tab:blue", "GenerativeJSCC": "tab:green"}
MARKERS = ("o", "s", "^", "D")


def fig08_findings(points: Sequence[Point]) -> list[Finding]:
    """The paper's Fig. 8 findings on the test faces: the lower rho (smallest c_out) and the larger."""
    values = printed_values()
    c_outs = sorted({p.c_out for p in points})

    def curve(method: str, c_out: int) -> list[Point]:
        return select(points, method=method, domain="faces", c_out=c_out, test_set="test")

    def rho_of(c_out: int) -> str:
        return f"ρ = {next(p.rho for p in points if p.c_out == c_out):.4f}"

    low, high = c_outs[0], c_outs[-1]
    out = [better_everywhere(paper_claim(values, FIG, "generative_lpips_low_rho", rho_of(low)),
                             curve("GenerativeJSCC", low), curve("DeepJSCC", low), "lpips_vgg"),
           better_everywhere(paper_claim(values, FIG, "generative_psnr_low_rho", rho_of(low)),
                             curve("GenerativeJSCC", low), curve("DeepJSCC", low), "psnr"),
           better_everywhere(paper_claim(values, FIG, "generative_ms_ssim_low_rho", rho_of(low)),
                             curve("GenerativeJSCC", low), curve("DeepJSCC", low), "ms_ssim")]
    if high == low:
        claim = paper_claim(values, FIG, "generative_lpips_high_rho")
        return out + [Finding(claim, False, f"{MISSING}: only c_out = {low} was evaluated")]
    out.append(better_everywhere(paper_claim(values, FIG, "generative_lpips_high_rho", rho_of(high)),
                                 curve("GenerativeJSCC", high), curve("DeepJSCC", high), "lpips_vgg"))
    claim = paper_claim(values, FIG, "generative_only_lpips_high_rho", rho_of(high))
    parts = [not_better_on_average(claim, curve("GenerativeJSCC", high), curve("DeepJSCC", high), m)
             for m in ("psnr", "ms_ssim")]
    out.append(Finding(claim, all(f.holds for f in parts), "; ".join(f.detail for f in parts)))
    return out


def set_measures(runs) -> list[dict]:
    """The measures over whole sets of images the evaluations recorded (FD-VGG16 per SNR and test set)."""
    out = []
    for run in runs:
        rows = run.rows
        for m in run.meta.get("set_metrics", []):
            out.append({**m, "method": rows[0]["method"], "c_out": int(rows[0]["c_out"]), "rho": float(rows[0]["rho"]),
                        "run_key": run.meta["run_key"]})
    return out


def fid_note(runs) -> str:
    """"FID: not available (why)" from the evaluations' records, or where FID was measured."""
    reasons = sorted({r.meta.get("fid", {}).get("reason", "") for r in runs} - {""})
    if reasons:
        return f"FID: not available ({'; '.join(reasons)}); panel (d) is FD-VGG16, not FID"
    return "FID: not computed by these evaluations; panel (d) is FD-VGG16, not FID"


def render(profile, evals: Sequence[Path], out_pdf: Path) -> None:
    """Fig. 8 from the evaluations of DeepJSCC (A trained on faces) and GenerativeJSCC."""
    started = time.perf_counter()
    runs, points = read_evals(evals)
    points = [p for p in points if p.domain == "faces" and p.method in COLORS]
    c_outs = sorted({p.c_out for p in points})
    fig = new_figure(9.0, 7.0)
    axes = fig.subplots(2, 2).ravel()
    rows: list[ResultRow] = []
    for (letter, metric), ax in zip(PANELS, axes):
        for method, color in COLORS.items():
            for c_out, marker in zip(c_outs, MARKERS):
                for test_set in TEST_SETS:
                    pts = select(points, method=method, c_out=c_out, test_set=test_set)
                    if not pts:
                        continue
                    label = f"{method}, ρ = {pts[0].rho:.4f}" + (", out-of-distribution" if test_set == "ood" else "")
                    ood = test_set == "ood"
                    plot_curve(ax, pts, metric, label if letter == "a" else None, color=color, marker=marker,
                               ls="--" if ood else "-", mfc="none" if ood else None, alpha=0.6 if ood else 1.0)
                    rows += point_rows(FIG, letter, label, pts, metric)
                    if metric == "lpips_vgg":
                        rows += point_rows(FIG, letter, label, pts, "lpips_alex")
        ax.set_title(f"({letter}) {metric_label(metric, runs)}", fontsize=9)
        ax.set_ylabel(metric_label(metric, runs) + (", lower is better" if metric.startswith("lpips") else ""),
                      fontsize=8)
        ax.set_xlabel(SNR_AXIS, fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=5.5)
    ax = axes[3]
    measures = set_measures(runs)
    for method, color in COLORS.items():
        for c_out, marker in zip(c_outs, MARKERS):
            for test_set in TEST_SETS:
                ms = sorted((m for m in measures if m["method"] == method and m["c_out"] == c_out
                             and m["test_set"] == test_set and m["metric"] == "fd_vgg16"), key=lambda m: m["snr_db"])
                if not ms:
                    continue
                ood = test_set == "ood"
                label = f"{method}, ρ = {ms[0]['rho']:.4f}" + (", out-of-distribution" if ood else "")
                ok = [m for m in ms if m["value"] is not None]
                ax.plot([m["snr_db"] for m in ok], [m["value"] for m in ok], color=color, marker=marker, ms=4,
                        ls="--" if ood else "-", mfc="none" if ood else None, alpha=0.6 if ood else 1.0)
                rows += [ResultRow(figure=FIG, panel="d", method=label, dataset=dataset_name(m.get("dataset", "")),
                                   snr_db=m["snr_db"], bandwidth_ratio=m["rho"], metric="fd_vgg16", value=m["value"],
                                   run_id=m["run_key"],
                                   extra={"method": method, "c_out": c_out, "test_set": test_set,
                                          "n_images": m.get("n_images"), "features": m.get("features", ""),
                                          **({"reason": m["reason"]} if m["value"] is None else {})})
                         for m in ms]
    ax.set_title("(d) FD-VGG16 (Fréchet distance in VGG16 features; not FID)", fontsize=9)
    ax.set_ylabel("FD-VGG16, lower is better", fontsize=8)
    ax.set_xlabel(SNR_AXIS, fontsize=8)
    ax.grid(alpha=0.3)
    test_sets = sorted({(p.test_set, p.dataset, p.n_images) for p in points if p.snr_db == points[0].snr_db})
    notes = [RHO_NOTE,
             "images: " + "; ".join(f"{TEST_SETS[t]}: {n} faces of {dataset_name(d)}" for t, d, n in test_sets)
             + "; out-of-distribution curves dashed (faces the models and G never saw, from another data set)",
             fid_note(runs),
             "LPIPS with the VGG backbone (the training loss); the AlexNet LPIPS of every point is in the CSV; "
             "bands: one standard error of the mean"]
    ms_label = metric_label("ms_ssim", runs)
    if ms_label != "MS-SSIM":
        notes.append(f"{ms_label}: the standard weights of the scales used, renormalised to sum to 1 "
                     "(the images are too small for five scales)")
    fig.suptitle("Fig. 8: DeepJSCC and GenerativeJSCC versus SNR", fontsize=10)
    write_page(fig, out_pdf, rows, profile, name=f"GJSCC {FIG}", findings=fig08_findings(points), notes=notes,
               started=started, **provenance(runs))


def main(argv: list[str] | None = None) -> None:
    parser = figure_parser("python -m pipelines.gjscc.fig08", __doc__)
    parser.add_argument("--eval", nargs="+", required=True,
                        help="eval.csv of DeepJSCC (faces) and GenerativeJSCC models (eval.json beside each)")
    run_figure(parser, argv, lambda args: render(load(args.profile), [Path(p) for p in args.eval], Path(args.out)))


if __name__ == "__main__":
    main()
