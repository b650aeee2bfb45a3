"""NTSCC Table III (Sec. IV-E): model parameters and average encode + decode time per image,
ours (from the timing stage's timing.json) beside the paper's printed values (paper_values.yaml;
an RTX 3090, so only the order of the methods compares, not the times).

    python -m pipelines.ntscc.table3 --profile mini --timing results/mini/ntscc/images/table3/timing.json \\
        --out reports/ntscc/table3.pdf

Writes table3.pdf, table3.csv (source "ours" / "paper") and table3.json.
"""
from __future__ import annotations

import time
from pathlib import Path

from jscc_core.results import ResultRow
from pipelines.figures.cli import figure_parser, run_figure
from pipelines.figures.evals import read_record
from pipelines.figures.findings import Finding
from pipelines.figures.page import new_figure, write_page
from pipelines.figures.tables import draw_table
from pipelines.ntscc.paper import printed_values
from pipelines.ntscc.rd import DATASETS
from pipelines.profile import load

TIME_COLUMNS = ("kodak", "clic2021")  # the paper's time columns
FIRST = ("NTSCC", "Deep JSCC")  # rows in the paper's order, then the others


def table3_findings(methods: dict) -> list[Finding]:
    """NTSCC is the fastest of ``methods`` ({name: {"seconds_per_image": ...}}), as in the paper."""
    t = {k: v.get("seconds_per_image") for k, v in methods.items()}
    others = [k for k in t if k != "NTSCC" and t[k] is not None]
    claim = "NTSCC encodes and decodes an image faster than " + " and ".join(others or ["the other methods"])
    if t.get("NTSCC") is None or not others:
        return [Finding(claim, False, "NTSCC or the other methods are missing from the timing record")]
    slower = [k for k in others if t[k] <= t["NTSCC"]]
    return [Finding(claim, not slower, ", ".join(f"{k} {1000 * t[k]:.0f} ms" for k in ("NTSCC", *others)))]


def _ms(v: float | None) -> str:
    return "—" if v is None else f"{1000 * v:.0f} ms"


def _params(v: float | None) -> str:
    return "—" if v is None else f"{v / 1e6:.2f}M"


def render(profile, timing_json: Path, out_pdf: Path, dataset: str | None = None) -> None:
    """Table III from the timing stage's ``timing_json`` (its data set: ``dataset`` or the record's)."""
    started = time.perf_counter()
    timing = read_record(Path(timing_json), "Table III timing record")
    methods = timing.get("methods")
    if not isinstance(methods, dict) or not methods:
        raise ValueError(f"{timing_json}: no 'methods'")
    printed = printed_values()
    paper = [k for k in printed.names("table3") if k != "device"]
    device = printed.value("table3", "device")
    ds = dataset or timing.get("dataset") or "kodak"
    findings = table3_findings(methods)
    run_key = timing["run_key"]
    rows: list[ResultRow] = []
    text: list[list[str]] = []
    order = [k for k in FIRST if k in methods] + [k for k in methods if k not in FIRST]
    for name in order + [k for k in paper if k not in order]:
        if name in paper:
            p = printed.value("table3", name, "parameters")
            t = {d: printed.get("table3", name, "seconds_per_image", d) for d in TIME_COLUMNS}
            text.append([name, "paper", _params(p), *[_ms(t[d].value) for d in TIME_COLUMNS], device])
            rows.append(ResultRow(figure="table3", panel="parameters", method=name, dataset="", snr_db=None,
                                  bandwidth_ratio=None, metric="parameters", value=p, source="paper",
                                  extra={} if p is not None else {"reason": "not printed"}))
            for d in TIME_COLUMNS:
                note = {"note": t[d].note} if t[d].note else {}  # e.g. BPG's time has no channel coding
                rows.append(ResultRow(figure="table3", panel="time", method=name, dataset=d, snr_db=None,
                                      bandwidth_ratio=None, metric="seconds_per_image", value=t[d].value,
                                      source="paper", extra={"device": device} | note))
        if name in methods:
            m = methods[name]
            sec = m.get("seconds_per_image")
            text.append(["" if name in paper else name, "ours", _params(m.get("parameters")),
                         *[_ms(sec) if d == ds else "not run" for d in TIME_COLUMNS],
                         f"{timing.get('device', '?')}, {timing.get('threads', '?')} threads"])
            rows.append(ResultRow(figure="table3", panel="parameters", method=name, dataset="", snr_db=None,
                                  bandwidth_ratio=None, metric="parameters", value=m.get("parameters"), run_id=run_key,
                                  extra={} if m.get("parameters") is not None else
                                  {"reason": "no trainable parameters"}))
            for d in TIME_COLUMNS:
                extra = {"device": timing.get("device"), "threads": timing.get("threads"), "images": m.get("images")}
                rows.append(ResultRow(figure="table3", panel="time", method=name, dataset=d, snr_db=None,
                                      bandwidth_ratio=None, metric="seconds_per_image",
                                      value=sec if d == ds else None, run_id=run_key,
                                      extra=extra if d == ds else {"reason": "not run"}))
    header = ["Method", "source", "Parameters", "Time Kodak", "Time CLIC2021", "device"]
    fig = new_figure(10, 2.6)
    ax = fig.subplots()
    draw_table(ax, text, header)
    ax.set_title("Table III: model parameters and average encode + decode time per image", fontsize=9)
    not_run = [DATASETS[d] for d in TIME_COLUMNS if d != ds]
    notes = [
        "paper rows (grey): printed in the paper, on an RTX 3090; its BPG time has no channel coding",
        f"ours: {DATASETS.get(ds, ds)} on {timing.get('device', '?')} with {timing.get('threads', '?')} threads, "
        "not comparable in absolute terms",
        f"the paper's {' and '.join(not_run)} columns are left out: those data sets were not run" if not_run else ""]
    write_page(fig, out_pdf, rows, profile, name="NTSCC table3", findings=findings, notes=notes, started=started,
               layout=lambda bottom: ax.set_position((0.01, bottom, 0.98, 0.92 - bottom)),
               run_ids=[timing.get("run_id", ""), *timing.get("model_run_ids", [])],
               run_keys={run_key: timing.get("run_id", "")}, data_checksums=dict(timing.get("data_checksums", {})),
               stage_time_s=float(timing.get("wall_time_s", 0.0)), dataset=ds, device=timing.get("device"),
               threads=timing.get("threads"))


def main(argv: list[str] | None = None) -> None:
    parser = figure_parser("python -m pipelines.ntscc.table3", __doc__)
    parser.add_argument("--timing", required=True, help="the timing stage's timing.json")
    parser.add_argument("--dataset", default=None, help="the timed data set, if the record does not say")
    run_figure(parser, argv, lambda args: render(load(args.profile), Path(args.timing), Path(args.out), args.dataset))


if __name__ == "__main__":
    main()
