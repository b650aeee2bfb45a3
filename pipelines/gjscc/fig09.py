"""GJSCC Fig. 9 (Sec. V-C): original test faces and their reconstructions by DeepJSCC and
GenerativeJSCC at the SNRs of ``gjscc.fig09.snr_db`` (the paper: -5, -1, 5 dB) and rho of
``gjscc.fig09.c_out``.

    python -m pipelines.gjscc.fig09 --profile mini \\
        --deepjscc results/mini/gjscc/deepjscc/faces_c2 --generative results/mini/gjscc/generative/c2 \\
        --out reports/gjscc/fig09.pdf

Reads each model folder's pictures.npz (the reconstructions its evaluation kept) and eval.csv
(their LPIPS and PSNR, written to the CSV).  Writes fig09.pdf, fig09.csv and fig09.json.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from pipelines.figures.cli import figure_parser, run_figure
from pipelines.figures.findings import Finding
from pipelines.figures.page import new_figure, write_page
from pipelines.gjscc.evals import picture_key
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
)
from pipelines.profile import load

FIG = "fig09"


def render(profile, deepjscc: Path, generative: Path, out_pdf: Path) -> None:
    """Fig. 9 from the evaluated DeepJSCC (A trained on faces) and GenerativeJSCC of c_out = gjscc.fig09.c_out."""
    started = time.perf_counter()
    cfg = profile.get("gjscc.fig09")
    n_images, snrs, c_out = int(cfg["images"]), [float(s) for s in cfg["snr_db"]], int(cfg["c_out"])
    folders = {"DeepJSCC": Path(deepjscc), "GenerativeJSCC": Path(generative)}
    runs, _ = read_evals([f / "eval.csv" for f in folders.values()])
    models = {}
    ids = None
    for (method, folder), run in zip(folders.items(), runs):
        kinds = {(r["method"], int(r["c_out"])) for r in run.rows}
        if kinds != {(method, c_out)}:
            raise ValueError(f"{folder}: evaluation of {sorted(kinds)}, expected {method} with c_out = {c_out} "
                             "(gjscc.fig09.c_out)")
        pics = read_pictures(folder / "pictures.npz")
        shown = check_grid(f"{folder}/pictures.npz", pics, n_images, snrs, ["x_hat"])
        if ids is not None and shown != ids:
            raise ValueError(f"{folder}: pictured faces {shown} differ from {ids}")
        ids = shown
        models[method] = (run, pics)
    grid = [[tile(im) for im in models["DeepJSCC"][1]["x"][:n_images]]]
    labels = ["original"]
    rows = []
    lpips: dict[tuple[str, float], float] = {}
    rho = None
    for snr in snrs:
        for method, (run, pics) in models.items():
            grid.append([tile(im) for im in pics[picture_key("x_hat", snr)][:n_images]])
            labels.append(f"{method}, {snr:g} dB")
            values = shown_values(run, method, snr, ids)
            rho = float(next(iter(values.values()))["rho"])
            rows += picture_rows(FIG, f"snr{snr:g}", method, values, snr, run.meta["run_key"])
            lpips[method, snr] = float(np.mean([float(r["lpips_vgg"]) for r in values.values()]))
    gap = {s: lpips["DeepJSCC", s] - lpips["GenerativeJSCC", s] for s in snrs}
    detail = ("mean LPIPS (VGG) of DeepJSCC minus GenerativeJSCC over the " + f"{len(ids)} faces: "
              + ", ".join(f"{v:+.4f} at {s:g} dB" for s, v in gap.items()))
    values_file = printed_values()
    lo, hi = min(snrs), max(snrs)
    findings = [Finding(paper_claim(values_file, FIG, "generative_better_pictures", "the faces shown"),
                        min(gap.values()) > 0, detail),
                Finding(paper_claim(values_file, FIG, "difference_largest_at_low_snr", "the faces shown"),
                        gap[lo] > max(gap[hi], 0.0),
                        f"LPIPS (VGG) gain of GenerativeJSCC {gap[lo]:+.4f} at {lo:g} dB, {gap[hi]:+.4f} at {hi:g} dB; "
                        "holds when the gain at the lowest SNR is positive and larger")]
    fig = new_figure(max(4.5, 0.9 * (len(ids) + 2)), 0.85 * len(grid) + 0.6)
    ax = fig.add_axes((0.3, 0.02, 0.68, 0.94))
    draw_grid(ax, grid, labels)
    notes = [f"ρ = {rho:.4f} (c_out = {c_out}); " + RHO_NOTE,
             f"the first {len(ids)} test faces ({', '.join(ids)}); each picture's LPIPS (VGG) and PSNR in the CSV; "
             "the same channel draw per face and SNR as in the evaluation"]
    fig.suptitle("Fig. 9: test faces, DeepJSCC and GenerativeJSCC", fontsize=10)
    write_page(fig, out_pdf, rows, profile, name=f"GJSCC {FIG}", findings=findings, notes=notes, started=started,
               layout=lambda bottom: ax.set_position((0.3, bottom + 0.01, 0.68, 0.95 - bottom)),
               **provenance(runs))


def main(argv: list[str] | None = None) -> None:
    parser = figure_parser("python -m pipelines.gjscc.fig09", __doc__)
    parser.add_argument("--deepjscc", required=True, help="folder of the evaluated DeepJSCC (A trained on faces)")
    parser.add_argument("--generative", required=True, help="folder of the evaluated GenerativeJSCC")
    run_figure(parser, argv, lambda args: render(load(args.profile), Path(args.deepjscc), Path(args.generative),
                                                 Path(args.out)))


if __name__ == "__main__":
    main()
