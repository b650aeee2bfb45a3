"""GJSCC Fig. 6 (Sec. V-B): LPIPS versus channel SNR of DeepJSCC and InverseJSCC, with A trained on
the face set and on natural images (the domain-mismatch case), one panel per bandwidth ratio rho,
and the paper's findings checked on our points.

    python -m pipelines.gjscc.fig06 --profile mini \\
        --eval results/mini/gjscc/inverse/*/eval.csv --out reports/gjscc/fig06.pdf

Each InverseJSCC evaluation holds, per test face and SNR, the DeepJSCC reconstruction x_hat and
InverseJSCC's x*, so the two curves of one A are paired on the same images and channel draws.
Writes fig06.pdf, fig06.csv (every plotted point, LPIPS-VGG and LPIPS-AlexNet) and fig06.json.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jscc_core.results import ResultRow
from pipelines.figures.cli import figure_parser, run_figure
from pipelines.figures.findings import Finding
from pipelines.figures.page import new_figure, write_page
from pipelines.gjscc.evals import Point, dataset_name, select
from pipelines.gjscc.pages import (
    RHO_NOTE,
    SNR_AXIS,
    better_everywhere,
    larger_at_low_snr,
    paper_claim,
    plot_curve,
    point_rows,
    printed_values,
    provenance,
    read_evals,
    with_generator,
)
from pipelines.profile import load

FIG = "fig06"
METRIC = "lpips_vgg"
STYLE = {("DeepJSCC", "faces"): dict(color="tab:blue", marker="s", ls="-"),
         ("InverseJSCC", "faces"): dict(color="tab:red", marker="o", ls="-"),
         ("DeepJSCC", "natural"): dict(color="tab:blue", marker="s", ls="--", mfc="none"),
         ("InverseJSCC", "natural"): dict(color="tab:red", marker="o", ls="--", mfc="none")}


def train_sets(runs) -> dict[str, dict]:
    """A's training set per domain, from the evaluations' records (``a_train_set``, ``a_train_crop``)."""
    out = {}
    for run in runs:
        domains = {r["domain"] for r in run.rows}
        for domain in domains:
            out[domain] = {"entry": run.meta.get("a_train_set", domain), "crop": run.meta.get("a_train_crop")}
    return out


def fig06_findings(points: Sequence[Point], rho_label: str, c_out: int) -> list[Finding]:
    """The paper's Fig. 6 findings at one rho, on the test faces both curves share."""
    values = printed_values()

    def curve(method: str, domain: str) -> list[Point]:
        return select(points, method=method, domain=domain, c_out=c_out, test_set="test")

    where = f"{rho_label}, LPIPS (VGG)"
    deep_f, inv_f, deep_n, inv_n = (curve("DeepJSCC", "faces"), curve("InverseJSCC", "faces"),
                                    curve("DeepJSCC", "natural"), curve("InverseJSCC", "natural"))
    return [
        better_everywhere(paper_claim(values, FIG, "inverse_lowers_lpips", f"A trained on faces, {where}"),
                          inv_f, deep_f, METRIC),
        larger_at_low_snr(paper_claim(values, FIG, "inverse_most_at_low_snr", f"A trained on faces, {where}"),
                          inv_f, deep_f, METRIC),
        better_everywhere(paper_claim(values, FIG, "inverse_under_mismatch", f"A trained on natural images, {where}"),
                          inv_n, deep_n, METRIC),
        better_everywhere(paper_claim(values, FIG, "matched_domain_better",
                                      f"DeepJSCC, A on faces against A on natural images, {where}"),
                          deep_f, deep_n, METRIC),
        better_everywhere(paper_claim(values, FIG, "matched_domain_better",
                                      f"InverseJSCC, A on faces against A on natural images, {where}"),
                          inv_f, inv_n, METRIC),
    ]


def render(profile, evals: Sequence[Path], out_pdf: Path, generator_report: Path | None = None) -> None:
    """Fig. 6 from the InverseJSCC evaluations ``evals`` (one per A: domain x c_out) and, if given,
    the prior G's report (its held-out projection check goes on the page)."""
    started = time.perf_counter()
    runs, points = read_evals(evals)
    sets = train_sets(runs)
    c_outs = sorted({p.c_out for p in points})
    fig = new_figure(6.5, 3.2 * len(c_outs))
    axes = np.atleast_1d(fig.subplots(len(c_outs), 1, sharex=True))
    rows: list[ResultRow] = []
    findings: list[Finding] = []
    for ax, c_out in zip(axes, c_outs):
        rho = next(p.rho for p in points if p.c_out == c_out)
        rho_label = f"ρ = {rho:.4f} (c_out = {c_out})"
        for (method, domain), style in STYLE.items():
            pts = select(points, method=method, domain=domain, c_out=c_out, test_set="test")
            if not pts:
                continue
            label = f"{method}, A trained on {dataset_name(sets[domain]['entry'])}"
            plot_curve(ax, pts, METRIC, label, **style)
            for metric in ("lpips_vgg", "lpips_alex"):
                rows += point_rows(FIG, f"rho{rho:.4f}", label, pts, metric)
        findings += fig06_findings(points, rho_label, c_out)
        ax.set_title(f"{rho_label}, test faces of {dataset_name(points[0].dataset)}", fontsize=9)
        ax.set_ylabel("LPIPS (VGG), lower is better", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    axes[-1].set_xlabel(SNR_AXIS, fontsize=8)
    n_images = sorted({p.n_images for p in points})
    inv = [float(r["seconds"]) for run in runs for r in run.rows if r["method"] == "InverseJSCC"]
    notes = [RHO_NOTE,
             "DeepJSCC: the reconstruction x̂ that InverseJSCC inverts (one channel draw per face and SNR); both "
             f"curves of one A are means over the same {'/'.join(str(n) for n in n_images)} test faces; "
             "bands: one standard error of the mean",
             "InverseJSCC: A is run with a fresh channel-noise draw at every ILO step (the measurement's own noise "
             "realisation is unknown to the receiver)"
             + (f"; {np.mean(inv):.1f} s per face and SNR on average" if inv else ""),
             "LPIPS with the VGG backbone (the paper's loss); the AlexNet LPIPS of every point is in the CSV"]
    if "natural" in sets:
        crop = sets["natural"]["crop"]
        crop_text = f" (square crops of {crop[0]:g}-{crop[1]:g} of the shorter side, resized)" if crop else ""
        notes.append(f"{dataset_name(sets['natural']['entry'])}{crop_text} stand in for ImageNet as A's "
                     "natural-image training set (the domain-mismatch case)")
    prov, g_line = with_generator(provenance(runs), generator_report)
    fig.suptitle("Fig. 6: LPIPS versus SNR, DeepJSCC and InverseJSCC", fontsize=10)
    write_page(fig, out_pdf, rows, profile, name=f"GJSCC {FIG}", findings=findings, notes=notes + [g_line],
               started=started, **prov)


def main(argv: list[str] | None = None) -> None:
    parser = figure_parser("python -m pipelines.gjscc.fig06", __doc__)
    parser.add_argument("--eval", nargs="+", required=True, help="InverseJSCC eval.csv files (eval.json beside each)")
    parser.add_argument("--generator-report", help="the prior G's report.json (held-out projection check)")
    run_figure(parser, argv, lambda args: render(load(args.profile), [Path(p) for p in args.eval], Path(args.out),
                                                 Path(args.generator_report) if args.generator_report else None))


if __name__ == "__main__":
    main()
