"""The two NTSCC page layouts drawn from rate-distortion inputs (``pipelines.ntscc.rd``):

* quality versus CBR at one SNR, one panel per data set (Figs. 11, 13, 17): every method's upper
  envelope, its dominated points hollow, BD metrics against HEVC-intra + LDPC in a corner;
* the BD table (Tables I, II): BD-CBR and BD-quality against HEVC-intra + LDPC, the paper's
  printed values (``paper_values.yaml``) in grey rows above ours; for a data set whose sweep has
  LPIPS, also BD-CBR at equal LPIPS-Alex and BD-LPIPS (the paper prints neither).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from jscc_core import bd
from jscc_core.channels import ChannelUseBudget
from jscc_core.results import ResultRow
from pipelines.figures.bd_compare import MIN_OVERLAP
from pipelines.figures.curves import Series
from pipelines.figures.findings import Finding
from pipelines.figures.page import new_figure, write_page
from pipelines.figures.tables import cell, draw_table
from pipelines.ntscc.paper import printed_values
from pipelines.ntscc.rd import (
    DATASETS,
    LDPC_MCS,
    QUALITY_NAME,
    Panel,
    RDInputs,
    bds_against_ldpc,
    load_panels,
    load_rd,
    merged_provenance,
    not_run,
    rd_findings,
    sweep_has_lpips,
)

AXIS_CBR = "average channel " + ChannelUseBudget("complex", symbol="CBR ρ").axis_label + ", m = 3HW"
QUALITY_LABEL = {"psnr": "PSNR (dB)", "ms_ssim_db": "MS-SSIM (dB), -10 log10(1 - MS-SSIM)"}
BD_QUALITY = {"psnr": ("bd_psnr_db", "BD-PSNR (dB)"), "ms_ssim_db": ("bd_ms_ssim_db", "BD-MS-SSIM (dB)"),
              "lpips_alex": ("bd_lpips_alex", "BD-LPIPS")}
STYLE = {"ntscc": dict(color="tab:red", marker="o"), "comparison_i": dict(color="tab:orange", marker="D"),
         "comparison_ii": dict(color="tab:purple", marker="v"), "deepjscc": dict(color="tab:blue", marker="s"),
         "ldpc": dict(color="k", marker="^"), "capacity": dict(color="0.35", marker="^", ls="--"),
         # Fig. 14: one curve per training target
         "ntscc_ms_ssim": dict(color="tab:green", marker="o"), "ntscc_perceptual": dict(color="tab:pink", marker="*"),
         "deepjscc_ms_ssim": dict(color="tab:cyan", marker="s", ls=":")}

# (ax, the first panel's inputs) -> (rows, findings, notes, provenance) of one more axis
ExtraAxis = Callable[[Any, RDInputs], tuple[list[ResultRow], list[Finding], list[str], dict[str, Any]]]


def series_rows(fig_id: str, panel: str, s: Series, dataset: str, snr_db: float, metric: str) -> list[ResultRow]:
    """One row per point of ``s``, ``extra.on_envelope`` telling whether it is on its envelope."""
    on = set(s.env.tolist())
    return [ResultRow(figure=fig_id, panel=panel, method=s.method, dataset=dataset, snr_db=snr_db,
                      bandwidth_ratio=float(x), metric=metric, value=float(y), run_id=info["run_key"],
                      extra={**{k: v for k, v in info.items() if k != "run_key"}, "on_envelope": i in on})
            for i, (x, y, info) in enumerate(zip(s.cbr, s.quality, s.info))]


def bd_rows(fig_id: str, panel: str, inputs: RDInputs, bds: dict[str, dict], snr_db: float,
            metric: str) -> list[ResultRow]:
    """BD-CBR and BD-quality rows of each method against HEVC-intra + LDPC (value None with the reason)."""
    rows = []
    qname = BD_QUALITY[metric][0]
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


def plot_series(ax, s: Series, annotate: bool = False) -> None:
    """``s``'s envelope as a line, its dominated points hollow; ``annotate``: λ, η at each envelope point."""
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


def render_rd_figure(fig_id: str, profile, panels: Sequence[Panel], out_pdf, snr_db: float, *, metric: str,
                     distortion: str, variants: Sequence[str], dataset: str | None, title: str,
                     paper_datasets: Sequence[str], findings_of: Callable[[RDInputs, dict], list[Finding]],
                     with_bd: bool = True, with_capacity: bool = True, extra_notes: Sequence[str] = (),
                     extra_axis: ExtraAxis | None = None) -> None:
    """Quality ``metric`` versus CBR at ``snr_db``, one panel per (evaluations, sweep) of ``panels``.

    ``variants``: the learned curves (trained for ``distortion``); ``paper_datasets``: the paper's
    panels, those not run named in a note; ``findings_of(inputs, bds)``: the paper's claims on one
    panel; ``with_bd``: BD metrics against HEVC-intra + LDPC; ``with_capacity``: draw + capacity;
    ``extra_axis``: one more axis after the panels, drawn from the first panel's inputs."""
    started = time.perf_counter()
    all_inputs = load_panels(panels, snr_db, metric, distortion, variants, dataset)
    n_axes = len(all_inputs) + (extra_axis is not None)
    fig = new_figure(7.2 * n_axes, 5.4)
    axes = fig.subplots(1, n_axes, squeeze=False)
    rows: list[ResultRow] = []
    findings: list[Finding] = []
    notes: list[str] = []
    for ax, inputs in zip(axes[0], all_inputs):
        s, ds = inputs.series, inputs.dataset
        bds = bds_against_ldpc(inputs) if with_bd else {}
        findings += findings_of(inputs, bds)
        for key in (*variants, "ldpc", "capacity"):
            if key in s and (with_capacity or key != "capacity"):
                plot_series(ax, s[key], annotate=key == "ntscc")
                rows += series_rows(fig_id, ds, s[key], ds, snr_db, metric)
        rows += bd_rows(fig_id, ds, inputs, bds, snr_db, metric)
        if bds:
            lines = [f"vs {s['ldpc'].method}:"] + [
                f"{s[k].method}: BD-CBR {cell(r['bd_cbr'], '%', r['bd_cbr_reason'])}, "
                f"BD-{QUALITY_NAME[metric]} {cell(r['bd_quality'], ' dB', r['bd_quality_reason'])}"
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
    merged = merged_provenance(all_inputs)
    if extra_axis is not None:
        more_rows, more_findings, more_notes, prov = extra_axis(axes[0][-1], all_inputs[0])
        rows, findings, notes = rows + more_rows, findings + more_findings, notes + more_notes
        merged["run_ids"] += prov["run_ids"]
        merged["run_keys"].update(prov["run_keys"])
        merged["data_checksums"].update(prov["data_checksums"])
        merged["stage_time_s"] += prov["stage_time_s"]
    shown = [i.dataset for i in all_inputs]
    notes = [not_run(paper_datasets, shown), *extra_notes] + notes + [
        "NTSCC: upper envelope over its (λ, η) points at this SNR (hollow markers: dominated points)"]
    write_page(fig, out_pdf, rows, profile, name=f"NTSCC {fig_id}", findings=findings, notes=notes, started=started,
               dataset=",".join(shown), snr_db=snr_db, **merged)


def lpips_bds(table_id: str, panels: Sequence[Panel], snr_db: float, distortion: str,
              dataset: str | None) -> dict[str, tuple[dict, list[ResultRow]]]:
    """{data set: (BD results, CSV rows)} at equal LPIPS-Alex against HEVC-intra + LDPC, for every panel
    whose sweep measured LPIPS: ``bd_cbr`` at equal LPIPS and ``bd_quality`` as BD-LPIPS (the mean
    LPIPS difference, negative = lower LPIPS), rows named ``bd_cbr_at_lpips_percent`` and
    ``bd_lpips_alex``."""
    out = {}
    for i, panel in enumerate(panels):
        if not sweep_has_lpips(panel[1]):
            continue
        lp = load_rd(*panel, snr_db, "lpips_alex", distortion, ("ntscc", "deepjscc"), dataset if i == 0 else None)
        bds = bds_against_ldpc(lp)
        for r in bds.values():
            if r["bd_quality"] is not None:
                r["bd_quality"] = -r["bd_quality"]  # BD of minus LPIPS -> BD-LPIPS
        rows = [replace(r, metric="bd_cbr_at_lpips_percent") if r.metric == "bd_cbr_percent" else r
                for r in bd_rows(table_id, lp.dataset, lp, bds, snr_db, "lpips_alex")]
        out[lp.dataset] = (bds, rows)
    return out


def render_bd_table(table_id: str, profile, panels: Sequence[Panel], out_pdf, snr_db: float, *, title: str,
                    metric: str, distortion: str, dataset: str | None) -> None:
    """BD-CBR and BD-``metric`` of ``distortion``-trained NTSCC and deep JSCC and of + capacity against
    HEVC-intra + LDPC at ``snr_db``, one column pair per data set of the paper's table ``table_id``."""
    started = time.perf_counter()
    printed = printed_values()
    paper_datasets = [d for d in printed.names(table_id, "ntscc") if d != "label"]
    all_inputs = load_panels(panels, snr_db, metric, distortion, ("ntscc", "deepjscc"), dataset)
    by_ds = {i.dataset: i for i in all_inputs}
    bds = {d: bds_against_ldpc(i) for d, i in by_ds.items()}
    findings = [f for d, i in by_ds.items() for f in rd_findings(i, metric, bds[d])]
    qname, qlabel = BD_QUALITY[metric]
    lpips = lpips_bds(table_id, panels, snr_db, distortion, dataset)  # {dataset: (bds, rows)}
    labels = sorted({i.codec_label for i in all_inputs})
    if len(labels) != 1:
        raise ValueError(f"the panels' separation sweeps use different codecs: {labels}")
    label = labels[0]
    methods = {"ntscc": "NTSCC", "capacity": f"{label} + capacity", "ldpc": f"{label} + LDPC",
               "deepjscc": "Deep JSCC"}
    rows: list[ResultRow] = [r for d, i in by_ds.items() for r in bd_rows(table_id, d, i, bds[d], snr_db, metric)]
    rows += [r for _, more in lpips.values() for r in more]
    for d, i in by_ds.items():
        if d in paper_datasets:  # the anchor against itself
            rows.append(ResultRow(figure=table_id, panel=d, method=methods["ldpc"], dataset=d, snr_db=snr_db,
                                  bandwidth_ratio=None, metric="bd_cbr_percent", value=0.0,
                                  run_id=i.series["ldpc"].run_keys[0],
                                  extra={"anchor": True, "anchor_mcs": i.ldpc_mcs}))
    text: list[list[str]] = []
    paper_notes: list[str] = []
    for key, method in methods.items():
        for source in ("paper", "ours"):
            line = [method if source == "paper" else "", source]
            for d in paper_datasets:
                if source == "paper":
                    cbr, qual = printed.get(table_id, key, d, "bd_cbr_percent"), printed.get(table_id, key, d, qname)
                    # a value the paper prints unreadably: the note's first word in the cell, all of it below
                    line += [cell(cbr.value, "%"), cell(qual.value, "", qual.note.split(" ")[0] if qual.note else "—")]
                    for metric_name, v in (("bd_cbr_percent", cbr), (qname, qual)):
                        if key == "ldpc" and metric_name == qname:
                            continue  # the anchor's own BD-quality: a blank cell in the paper
                        extra = {"paper_label": printed.value(table_id, key, "label"), "table": title}
                        if v.value is None:
                            extra["reason"] = v.note or "not printed"
                        if v.note:
                            paper_notes.append(f"paper's {method} {qlabel if metric_name == qname else 'BD-CBR'} "
                                               f"on {DATASETS[d]}: {v.note} ({v.source})")
                        rows.append(ResultRow(figure=table_id, panel=d, method=method, dataset=d, snr_db=snr_db,
                                              bandwidth_ratio=None, metric=metric_name, value=v.value, source="paper",
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
                    line += [cell(r["bd_cbr"], "%", r["bd_cbr_reason"]),
                             cell(r["bd_quality"], "", r["bd_quality_reason"])]
                else:
                    line += ["n/a (not in the inputs)"] * 2
                    for metric_name in ("bd_cbr_percent", qname):
                        rows.append(ResultRow(figure=table_id, panel=d, method=method, dataset=d, snr_db=snr_db,
                                              bandwidth_ratio=None, metric=metric_name, value=None,
                                              extra={"reason": "not in the inputs"}))
            for lp, _ in lpips.values():  # BD at equal LPIPS: ours only, the paper prints none
                if source == "paper":
                    line += ["not printed"] * 2
                elif key == "ldpc":
                    line += ["0.00% (anchor)", "—"]
                elif key in lp:
                    line += [cell(lp[key]["bd_cbr"], "%", lp[key]["bd_cbr_reason"]),
                             cell(lp[key]["bd_quality"], "", lp[key]["bd_quality_reason"])]
                else:
                    line += ["n/a (not in the inputs)"] * 2
            text.append(line)
    header = ["Method", "source"] + [f"{DATASETS[d]} {h}" for d in paper_datasets for h in ("BD-CBR", qlabel)] + [
        f"{DATASETS[d]} {h}" for d in lpips for h in ("BD-CBR (LPIPS)", "BD-LPIPS")]

    fig = new_figure(2.5 + 1.25 * len(header), 3.2)
    ax = fig.subplots()
    draw_table(ax, text, header)
    anchors = ", ".join(f"{DATASETS[d]}: {i.ldpc_mcs}" for d, i in by_ds.items())
    ax.set_title(f"{title}: BD-CBR and {qlabel} against {label} + LDPC ({anchors}; the paper's "
                 f"BPG + LDPC), AWGN, SNR = {snr_db:g} dB", fontsize=8)
    notes = [n for i in all_inputs for n in i.notes] + [
        "paper rows (grey): the values printed in the paper (its BPG is our HEVC-intra); ours: our runs",
        *([f"BD-CBR (LPIPS): CBR saving at equal LPIPS-Alex; BD-LPIPS: mean LPIPS-Alex difference at equal log CBR "
           f"(negative: lower LPIPS than the anchor), same {distortion}-trained models; the paper prints neither; "
           "their CSV rows' anchor_points / test_points are [CBR, minus LPIPS]"]
          if lpips else []),
        f"BD on upper envelopes (VCEG-M33, Akima); n/a where the curves share < {MIN_OVERLAP:.0%} of their joint "
        f"range or have < {bd.MIN_POINTS} points", not_run(paper_datasets, list(by_ds)), *paper_notes]
    write_page(fig, out_pdf, rows, profile, name=f"NTSCC {table_id}", findings=findings, notes=notes, started=started,
               layout=lambda bottom: ax.set_position((0.01, bottom, 0.98, 0.95 - bottom)),
               dataset=",".join(by_ds), snr_db=snr_db, **merged_provenance(all_inputs))
