"""NTSCC Fig. 9 (Sec. IV-B): the banana source's density (a), the density NTSCC's entropy model
learned (b), and the bandwidth k̄_y it spends over the source space (c), at the profile's map
operating point (the paper's: λ = 1/256, η = 1, SNR = 5 dB).

    python -m pipelines.ntscc.fig09 --profile mini --eval results/mini/ntscc/banana/eval \\
        --out reports/ntscc/fig09.pdf

Writes fig09.pdf, fig09.csv (every grid point of the three maps) and fig09.json (provenance).
The paper prints no numbers for this figure, so there are no paper rows.
"""
from __future__ import annotations

import time
from pathlib import Path

from pipelines.figures.cli import figure_parser, run_figure
from pipelines.figures.page import new_figure
from pipelines.ntscc.banana_maps import (
    SUPPORT_MASS,
    color_limits,
    draw_map,
    grid_rows,
    map_setting,
    read_banana_eval,
    support,
    write_banana_page,
)
from pipelines.profile import load


def render(profile, eval_dir: Path, out_pdf: Path) -> None:
    """Fig. 9 from the banana evaluation folder ``eval_dir``."""
    started = time.perf_counter()
    ev = read_banana_eval(eval_dir)
    maps, run_key = ev.maps, ev.run_key
    snr = float(profile.get("ntscc.banana")["snr_db"])
    mask = support(maps)
    setting = map_setting(profile)
    r_map = float(maps["ntscc_bandwidth_ratio"])
    fig = new_figure(15, 4.4)
    axes = fig.subplots(1, 3)
    limits = color_limits(maps, ("source_density", "learned_density"), mask, log=True)
    draw_map(axes[0], maps, "source_density", "(a) source density", "log10 p(x)", mask=mask, log=True, limits=limits)
    draw_map(axes[1], maps, "learned_density", f"(b) learned density (NTSCC, {setting})", "log10 p̂(x)",
             mask=mask, log=True, limits=limits)
    draw_map(axes[2], maps, "bandwidth", f"(c) bandwidth cost k̄_y, average R = {r_map:.2f}", "real channel uses",
             mask=mask)
    rows = (grid_rows("fig09", "a", "source (exact density)", "density", maps, "source_density", run_key)
            + grid_rows("fig09", "b", "NTSCC", "learned_density", maps, "learned_density", run_key, snr)
            + grid_rows("fig09", "c", "NTSCC", "channel_uses", maps, "bandwidth", run_key, snr))
    write_banana_page(fig, "fig09", ev, rows, profile, out_pdf, findings=[], started=started,
                      notes=[f"Shown on the region holding {SUPPORT_MASS:.0%} of the source probability; {setting}."])


def main(argv: list[str] | None = None) -> None:
    parser = figure_parser("python -m pipelines.ntscc.fig09", __doc__)
    parser.add_argument("--eval", required=True, help="the banana evaluation folder (points.csv, maps.npz, run.json)")
    run_figure(parser, argv, lambda args: render(load(args.profile), Path(args.eval), Path(args.out)))


if __name__ == "__main__":
    main()
