"""GJSCC Fig. 7 (Sec. V-B): original test faces and their reconstructions by DeepJSCC and
InverseJSCC, with A trained on the face set and on natural images, at the SNRs of
``gjscc.fig07.snr_db`` (the paper: 1, 3, 5 dB) and rho of ``gjscc.fig07.c_out``.

    python -m pipelines.gjscc.fig07 --profile mini \\
        --inverse results/mini/gjscc/inverse/faces_c2 results/mini/gjscc/inverse/natural_c2 \\
        --out reports/gjscc/fig07.pdf

Reads each InverseJSCC folder's pictures.npz (the reconstructions it kept) and eval.csv (their
LPIPS and PSNR, written to the CSV).  Writes fig07.pdf, fig07.csv and fig07.json.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipelines.figures.cli import figure_parser, run_figure
from pipelines.figures.findings import Finding
from pipelines.figures.page import new_figure, write_page
from pipelines.gjscc.evals import dataset_name, picture_key
from pipelines.gjscc.pages import (
    RHO_NOTE,
    check_grid,
    draw_grid,
    paper_claim,
    picture_rows,
    printed_values,
    provenance,
    read_evals,
    read_pictures,
    shown_values,
    tile,
    with_generator,
)
from pipelines.profile import load

FIG = "fig07"
KINDS = (("x_hat", "DeepJSCC"), ("x_star", "InverseJSCC"))


def render(profile, folders: Sequence[Path], out_pdf: Path, generator_report: Path | None = None) -> None:
    """Fig. 7 from the InverseJSCC folders of c_out = gjscc.fig07.c_out (one per A's training domain)
    and, if given, the prior G's report (its held-out projection check goes on the page)."""
    started = time.perf_counter()
    cfg = profile.get("gjscc.fig07")
    n_images, snrs, c_out = int(cfg["images"]), [float(s) for s in cfg["snr_db"]], int(cfg["c_out"])
    runs, _ = read_evals([Path(f) / "eval.csv" for f in folders])
    by_domain = {}
    for run, folder in zip(runs, folders):
        (domain,), (c,) = {r["domain"] for r in run.rows}, {int(r["c_out"]) for r in run.rows}
        if c != c_out:
            raise ValueError(f"{folder}: InverseJSCC through an A with c_out = {c}; gjscc.fig07.c_out is {c_out}")
        by_domain[domain] = (run, read_pictures(Path(folder) / "pictures.npz"), folder)
    domains = [d for d in ("faces", "natural") if d in by_domain]
    ids = None
    grid, labels, rows = [], [], []
    gaps: dict[tuple[str, float], float] = {}
    for domain in domains:
        run, pics, folder = by_domain[domain]
        shown = check_grid(f"{folder}/pictures.npz", pics, n_images, snrs, [k for k, _ in KINDS])
        if ids is None:
            ids = shown
            grid.append([tile(im) for im in pics["x"][:n_images]])
            labels.append("original")
        elif shown != ids:
            raise ValueError(f"{folder}: pictured faces {shown} differ from {ids}")
    rho = None
    for snr in snrs:
        for domain in domains:
            run, pics, _ = by_domain[domain]
            name = dataset_name(run.meta.get("a_train_set", domain))
            lpips = {}
            for kind, method in KINDS:
                grid.append([tile(im) for im in pics[picture_key(kind, snr)][:n_images]])
                labels.append(f"{method}, A: {name}, {snr:g} dB")
                values = shown_values(run, method, snr, ids)
                rho = float(next(iter(values.values()))["rho"])
                rows += picture_rows(FIG, f"snr{snr:g}", f"{method}, A trained on {name}", values, snr,
                                     run.meta["run_key"])
                lpips[method] = float(np.mean([float(r["lpips_vgg"]) for r in values.values()]))
            gaps[domain, snr] = lpips["DeepJSCC"] - lpips["InverseJSCC"]
    side = 0.9 * (len(ids) + 2)
    fig = new_figure(max(4.5, side), 0.85 * len(grid) + 0.6)
    ax = fig.add_axes((0.3, 0.02, 0.68, 0.94))
    draw_grid(ax, grid, labels)
    values_file = printed_values()
    findings = []
    for domain in domains:
        name = dataset_name(by_domain[domain][0].meta.get("a_train_set", domain))
        g = [gaps[domain, s] for s in snrs]
        claim = paper_claim(values_file, FIG, "inverse_better_pictures", f"A trained on {name}, the faces shown")
        findings.append(Finding(claim, min(g) > 0, "mean LPIPS (VGG) of DeepJSCC minus InverseJSCC over the "
                                                   f"{len(ids)} faces: " + ", ".join(
                                                       f"{v:+.4f} at {s:g} dB" for s, v in zip(snrs, g))))
    notes = [f"ρ = {rho:.4f} (c_out = {c_out}); " + RHO_NOTE,
             f"the first {len(ids)} test faces ({', '.join(ids)}); each row's LPIPS (VGG) and PSNR per face in the CSV",
             "DeepJSCC: the reconstruction x̂ that InverseJSCC inverts; InverseJSCC runs A with a fresh channel-noise "
             "draw at every ILO step"]
    prov, g_line = with_generator(provenance(runs), generator_report)
    fig.suptitle("Fig. 7: test faces, DeepJSCC and InverseJSCC", fontsize=10)
    write_page(fig, out_pdf, rows, profile, name=f"GJSCC {FIG}", findings=findings, notes=notes + [g_line],
               started=started, layout=lambda bottom: ax.set_position((0.3, bottom + 0.01, 0.68, 0.95 - bottom)),
               **prov)


def main(argv: list[str] | None = None) -> None:
    parser = figure_parser("python -m pipelines.gjscc.fig07", __doc__)
    parser.add_argument("--inverse", nargs="+", required=True,
                        help="InverseJSCC folders of c_out = gjscc.fig07.c_out (pictures.npz, eval.csv, eval.json)")
    parser.add_argument("--generator-report", help="the prior G's report.json (held-out projection check)")
    run_figure(parser, argv, lambda args: render(load(args.profile), [Path(p) for p in args.inverse], Path(args.out),
                                                 Path(args.generator_report) if args.generator_report else None))


if __name__ == "__main__":
    main()
