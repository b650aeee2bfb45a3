"""The figure toolkit (pipelines/figures) on small made-up inputs: envelopes, gaps, BD with the
overlap rule, findings, the page writer's three files, the paper values loader, evaluation CSVs
and the command line."""
from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

from jscc_core.results import ResultRow, read_results_csv
from pipelines.figures import bd_compare, cli, curves, evals, findings, page, paper_values
from pipelines.profile import load

REPO = Path(__file__).resolve().parent.parent


def series(key: str, cbr, quality) -> curves.Series:
    return curves.Series(key, key.upper(), cbr, quality, [{"run_key": f"{key}@1"} for _ in cbr], [f"{key}@1"])


def log_curve(cbr, offset: float = 0.0) -> list[float]:
    """25 dB at CBR 0.02, +10 dB per decade, shifted by ``offset`` dB."""
    return [25.0 + offset + 10.0 * math.log10(c / 0.02) for c in cbr]


# --------------------------------------------------------------------------- curves


def test_upper_envelope_drops_dominated_and_non_finite_points():
    idx = curves.upper_envelope([0.1, 0.2, 0.2, 0.3, 0.15, 0.4], [30, 32, 31, 31.5, 29, float("nan")])
    assert idx.tolist() == [0, 1]  # (0.2, 31), (0.3, 31.5), (0.15, 29) are beaten; NaN is left out
    s = series("ntscc", [0.3, 0.1, 0.2], [33.0, 30.0, 29.0])
    assert s.env_cbr.tolist() == [0.1, 0.3] and s.env_quality.tolist() == [30.0, 33.0]


def test_gaps_interpolate_in_log_cbr_and_never_extrapolate():
    mid = math.sqrt(0.02 * 0.2)  # halfway between 0.02 and 0.2 in log CBR
    test = series("a", [0.02, 0.2], [20.0, 30.0])
    ref = series("b", [mid, 1.0], [24.0, 40.0])
    frac = math.log10(0.2 / mid) / math.log10(1.0 / mid)  # where 0.2 sits on ref's segment, in log CBR
    # test's 0.02 is below ref's range and ref's 1.0 above test's: neither gives a gap
    assert curves.gaps(test, ref) == [(pytest.approx(mid), pytest.approx(1.0)),
                                      (pytest.approx(0.2), pytest.approx(30.0 - (24.0 + 16.0 * frac)))]


# --------------------------------------------------------------------------- BD


CBR = [0.02, 0.04, 0.06, 0.08, 0.10]


def test_bd_against_a_baseline_one_db_below():
    anchor, test = series("ldpc", CBR, log_curve(CBR)), series("ntscc", CBR, log_curve(CBR, 1.0))
    res = bd_compare.bd_against(anchor, test)
    assert res["bd_quality"] == pytest.approx(1.0, abs=1e-3)
    assert res["bd_cbr"] == pytest.approx(100 * (10 ** -0.1 - 1), abs=0.5)  # 1 dB = a tenth of a decade of CBR
    assert res["bd_cbr_overlap"] > 0.5 and res["bd_quality_reason"] == ""


def test_bd_is_none_with_a_reason_without_enough_overlap_or_points():
    far = [c * 100 for c in CBR]
    res = bd_compare.bd_against(series("ldpc", CBR, log_curve(CBR)), series("ntscc", far, log_curve(far, 20.0)))
    assert res["bd_cbr"] is None and res["bd_cbr_reason"] == "n/a (no overlap)"
    assert res["bd_quality"] is None and res["bd_quality_reason"] == "n/a (no overlap)"
    few = bd_compare.bd_against(series("ldpc", CBR, log_curve(CBR)), series("ntscc", CBR[:3], log_curve(CBR[:3])))
    assert few["bd_cbr"] is None and few["bd_cbr_reason"].startswith("n/a (< 4 points)")
    part = [0.07, 0.09, 0.11, 0.13, 0.15]  # shares 0.07..0.10 of 0.02..0.15 in CBR: under half in log CBR
    res = bd_compare.bd_against(series("ldpc", CBR, log_curve(CBR)), series("ntscc", part, log_curve(part)))
    assert res["bd_quality"] is None and res["bd_quality_reason"].startswith("n/a (overlap")


# --------------------------------------------------------------------------- findings


def test_findings_above_growing_and_bd_negative():
    ref = series("deepjscc", CBR, log_curve(CBR))
    better = series("ntscc", CBR, [q + 0.5 + 20 * c for c, q in zip(CBR, log_curve(CBR))])  # gap grows with CBR
    f = findings.above("NTSCC above", better, ref)
    assert f.holds is True and "gap +0.90 to +2.50 dB" in f.detail
    assert findings.growing("gap grows", better, ref).holds
    assert not findings.growing("gap grows", series("n", CBR, log_curve(CBR, 1.0)), ref).holds  # constant gap
    below = findings.above("NTSCC above", series("n", CBR, log_curve(CBR, -0.1)), ref)
    assert not below.holds and "below at CBR" in below.detail
    assert findings.above("x", None, ref) == findings.Finding("x", False, findings.MISSING)
    assert findings.bd_negative("saves", {"bd_cbr": -12.5}).detail == "BD-CBR -12.50%"
    na = findings.bd_negative("saves", {"bd_cbr": None, "bd_cbr_reason": "n/a (no overlap)", "bd_cbr_detail": "d"})
    assert not na.holds and na.detail == "n/a (no overlap): d"


def test_a_finding_unpacks_and_is_written_with_a_plain_bool():
    f = findings.Finding("claim", np.bool_(True), "detail")
    claim, holds, detail = f
    assert (claim, holds, detail) == ("claim", True, "detail") and type(f.holds) is bool
    assert findings.page_notes([f, findings.Finding("c2", False, "d2")]) == [
        "HOLDS: claim (detail)", "DOES NOT HOLD: c2 (d2)"]
    assert json.dumps(findings.findings_json([f])) == '[{"claim": "claim", "holds": true, "detail": "detail"}]'


def test_findings_read_back_from_their_json():
    written = [findings.Finding("c1", True, "d1"), findings.Finding("c2", False, "d2")]
    assert findings.read_findings(json.loads(json.dumps(findings.findings_json(written)))) == written
    odd = findings.read_findings([{"claim": "c", "holds": "yes", "detail": None}, {}])
    assert odd == [findings.Finding("c", None, ""), findings.Finding("", None, "")]
    assert odd[0].note == "NO VERDICT: c ()"
    with pytest.raises(ValueError, match="extra.findings is a dict, not a list"):
        findings.read_findings({}, "extra.findings")
    with pytest.raises(ValueError, match="a finding is a str, not an object"):
        findings.read_findings(["c"])


# --------------------------------------------------------------------------- page


def test_write_page_writes_three_consistent_files(tmp_path):
    profile = load("mini")
    fig = page.new_figure(4, 3)
    fig.subplots().plot([0.1, 0.2], [30, 31])
    rows = [ResultRow(figure="figX", panel="a", method="NTSCC", dataset="kodak", snr_db=10.0, bandwidth_ratio=c,
                      metric="psnr", value=q, run_id="eval@1") for c, q in ((0.1, 30.0), (0.2, 31.0))]
    rows.append(ResultRow(figure="figX", panel="a", method="NTSCC", dataset="kodak", snr_db=10.0,
                          bandwidth_ratio=None, metric="bd_cbr_percent", value=-20.0, source="paper"))
    out = tmp_path / "reports" / "figX.pdf"
    prov = page.write_page(fig, out, rows, profile, name="TEST figX", findings=[findings.Finding("c", True, "d")],
                           notes=["a note", ""], run_ids=["run-1", "", "run-2"], run_keys={"eval@1": "run-1"},
                           data_checksums={"kodak/kodim01.png": "sha256:1"}, stage_time_s=5.0,
                           started=time.perf_counter(), snr_db=10.0)
    assert out.read_bytes()[:4] == b"%PDF"
    assert read_results_csv(out.with_suffix(".csv")) == sorted(rows, key=lambda r: (r.source, r.metric, r.value))
    on_disk = json.loads(out.with_suffix(".json").read_text())
    assert on_disk["mlflow_run_ids"] == prov["mlflow_run_ids"] == ["run-1", "run-2"]  # the empty id dropped
    assert on_disk["extra"]["findings"] == [{"claim": "c", "holds": True, "detail": "d"}]
    assert on_disk["extra"]["notes"] == ["HOLDS: c (d)", "a note"]  # findings first, empty notes dropped
    assert on_disk["extra"]["figure"] == "TEST figX" and on_disk["extra"]["snr_db"] == 10.0
    assert on_disk["extra"]["stage_time_s"] >= 5.0 and on_disk["seed"] == profile["seed"]
    assert on_disk["data_checksums"] == {"kodak/kodim01.png": "sha256:1"}
    assert b"run-1" in out.read_bytes()  # the PDF's metadata carries the provenance summary
    assert fig.get_size_inches()[1] > 3  # the footer grew the page


def test_pages_never_load_pyplot():
    import subprocess
    import sys

    code = ("import sys; from pipelines.figures import page; page.new_figure(2, 2).subplots(); "
            "print('matplotlib.pyplot' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO)
    assert res.stdout.strip() == "False"


# --------------------------------------------------------------------------- paper values


def _values_file(tmp_path: Path, body: str, paper: str = "paper: A. Author, A paper, 2022\n") -> Path:
    path = tmp_path / "values.yaml"
    path.write_text(paper + body)
    return path


def test_paper_values_loader_reads_values_with_their_sources(tmp_path):
    path = _values_file(tmp_path, "values:\n  table1:\n    kodak: {value: -17.96, source: 'Table I, p. 13'}\n"
                                  "    clic: {value: null, source: 'Table I, p. 13', note: illegible}\n")
    pv = paper_values.load_paper_values(path)
    assert pv.paper == "A. Author, A paper, 2022"
    assert pv.get("table1", "kodak") == paper_values.PaperValue(-17.96, "Table I, p. 13")
    assert pv.get("table1", "clic").value is None and pv.get("table1", "clic").note == "illegible"
    assert pv.names("table1") == ["kodak", "clic"]
    with pytest.raises(KeyError, match="table1.cifar"):
        pv.get("table1", "cifar")
    with pytest.raises(KeyError, match="a group"):
        pv.get("table1")


@pytest.mark.parametrize("body, message", [
    ("values:\n  table1:\n    kodak: {value: -17.96}\n", "table1.kodak has no source"),
    ("values:\n  table1:\n    kodak: {value: -17.96, source: ''}\n", "table1.kodak has no source"),
    ("values:\n  table1:\n    kodak: -17.96\n", "table1.kodak = -17.96 has no source"),
    ("values:\n  table1:\n    kodak: {value: 1, source: x, sorce: y}\n", "unknown key 'sorce'"),
    ("values:\n  table1: {}\n", "table1 is an empty group"),
    ("values:\n  t: {value: {a: 1}, source: x}\n", "a value is a number"),
])
def test_paper_values_loader_rejects_a_value_without_a_source(tmp_path, body, message):
    with pytest.raises(paper_values.PaperValuesError, match=message):
        paper_values.load_paper_values(_values_file(tmp_path, body))


def test_paper_values_file_must_name_its_paper(tmp_path):
    with pytest.raises(paper_values.PaperValuesError, match="'paper' must name"):
        paper_values.load_paper_values(_values_file(tmp_path, "values:\n  a: {value: 1, source: x}\n", paper=""))


# --------------------------------------------------------------------------- evaluation CSVs


def _eval(folder: Path, rows: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "eval.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    path.with_suffix(".json").write_text(json.dumps({"run_id": "r", "run_key": "k"}))
    return path


def test_read_eval_and_group_points(tmp_path):
    rows = [{"model": "m", "eta": e, "snr_db": "10", "image_id": i, "psnr": p}
            for e, i, p in (("0.2", "a", "30"), ("0.2", "b", "32"), ("", "a", "20"))]
    run = evals.read_eval(_eval(tmp_path / "m", rows), ("model", "eta", "snr_db", "image_id", "psnr"))
    groups = evals.group_points([run], {"model": str, "eta": evals.number, "snr_db": float})
    assert list(groups) == [("m", 0.2, 10.0), ("m", None, 10.0)]
    assert evals.mean(groups[("m", 0.2, 10.0)], "psnr") == 31.0
    with pytest.raises(ValueError, match="missing columns lpips"):
        evals.read_eval(run.path, ("psnr", "lpips"))
    with pytest.raises(ValueError, match="unknown model 'm'"):
        evals.read_eval(run.path, ("model",), {"model": ("ntscc",)})
    twice = evals.read_eval(_eval(tmp_path / "again", rows[:1]), ("model",))
    with pytest.raises(ValueError, match=r"image a at model m, eta 0.2, snr_db 10.0 is also in .*m/eval.csv"):
        evals.group_points([run, twice], {"model": str, "eta": evals.number, "snr_db": float})
    run.path.with_suffix(".json").unlink()
    with pytest.raises(FileNotFoundError, match="evaluation record beside eval.csv"):
        evals.read_eval(run.path, ())


# --------------------------------------------------------------------------- command line


def test_a_user_mistake_exits_2_with_one_line(capsys):
    parser = cli.figure_parser("python -m figX", None)

    def render(args):
        raise FileNotFoundError(f"{args.out}: no such file (input)")

    with pytest.raises(SystemExit) as exc:
        cli.run_figure(parser, ["--profile", "mini", "--out", "x.pdf"], render)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err == "python -m figX: error: x.pdf: no such file (input)\n"
    def buggy(args):
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError):  # a bug is not a user's mistake: it keeps its traceback
        cli.run_figure(parser, ["--out", "x.pdf"], buggy)
