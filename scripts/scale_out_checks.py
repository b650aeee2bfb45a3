"""Checks of scripts/cluster-test.sh (the workflow on SLURM and with an MLflow server).

    python scripts/scale_out_checks.py compare-csv LOCAL.csv SLURM.csv
        same rows (as a multiset) apart from the run_id column; exit 1 naming the differences
    python scripts/scale_out_checks.py first-leaf DAG.json
        the rule of the first job without upstream jobs in ``snakemake --d3dag`` output
    python scripts/scale_out_checks.py check-mlflow URI [--expect-runs N]
        every run on the tracking server URI finished with parameters and metrics; exit 1 if not
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from pathlib import Path

IGNORED_COLUMN = "run_id"


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or ()), list(reader)


def compare_csv(local: Path, other: Path) -> int:
    cols_a, rows_a = _rows(local)
    cols_b, rows_b = _rows(other)
    if cols_a != cols_b:
        print(f"compare-csv: columns differ: {local}: {cols_a}; {other}: {cols_b}", file=sys.stderr)
        return 1
    if not rows_a:
        print(f"compare-csv: {local} has no rows", file=sys.stderr)
        return 1
    keep = [c for c in cols_a if c != IGNORED_COLUMN]
    a = Counter(tuple(r[c] for c in keep) for r in rows_a)
    b = Counter(tuple(r[c] for c in keep) for r in rows_b)
    if a != b:
        only_a, only_b = a - b, b - a
        print(f"compare-csv: {sum(only_a.values())} row(s) only in {local}, {sum(only_b.values())} only in {other} "
              f"(of {len(rows_a)} and {len(rows_b)}; columns {keep})", file=sys.stderr)
        for name, diff in ((local, only_a), (other, only_b)):
            for row in list(diff)[:5]:
                print(f"  only in {name}: {dict(zip(keep, row))}", file=sys.stderr)
        return 1
    same_ids = [r[IGNORED_COLUMN] for r in rows_a] == [r[IGNORED_COLUMN] for r in rows_b]
    print(f"compare-csv: {len(rows_a)} rows equal apart from {IGNORED_COLUMN} "
          f"({IGNORED_COLUMN} {'equal too' if same_ids else 'differs'}; files "
          f"{'byte-identical' if local.read_bytes() == other.read_bytes() else 'not byte-identical'})")
    return 0


def first_leaf(dag_json: Path) -> int:
    dag = json.loads(dag_json.read_text())
    has_upstream = {e["v"] for e in dag["edges"]}  # an edge u -> v: job u makes an input of job v
    leaves = [n["value"]["rule"] for n in dag["nodes"] if n["id"] not in has_upstream]
    if not leaves:
        print(f"first-leaf: no job without upstream jobs in {dag_json}", file=sys.stderr)
        return 1
    print(leaves[0])
    return 0


def check_mlflow(uri: str, expect_runs: int | None) -> int:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    runs = [r for exp in client.search_experiments() for r in client.search_runs([exp.experiment_id])]
    problems = []
    if not runs:
        problems.append("no run on the server")
    if expect_runs is not None and len(runs) != expect_runs:
        problems.append(f"{len(runs)} runs on the server, expected {expect_runs}")
    for r in runs:
        exp = client.get_experiment(r.info.experiment_id).name
        artifacts = [a.path for a in client.list_artifacts(r.info.run_id)]
        print(f"check-mlflow: run {r.info.run_id} '{r.info.run_name}' in experiment '{exp}': {r.info.status}, "
              f"{len(r.data.params)} params, {len(r.data.metrics)} metrics "
              f"({', '.join(sorted(r.data.metrics)[:4])}{', ...' if len(r.data.metrics) > 4 else ''}), "
              f"artifacts {artifacts}")
        if r.info.status != "FINISHED":
            problems.append(f"run {r.info.run_id} is {r.info.status}, not FINISHED")
        if not r.data.params:
            problems.append(f"run {r.info.run_id} has no params")
        if not r.data.metrics:
            problems.append(f"run {r.info.run_id} has no metrics")
        for key, value in r.data.metrics.items():
            history = client.get_metric_history(r.info.run_id, key)
            if not history or history[-1].value != value:
                problems.append(f"run {r.info.run_id}: metric {key} has no history ending at {value}")
    for p in problems:
        print(f"check-mlflow: {uri}: {p}", file=sys.stderr)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scale_out_checks.py", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compare-csv")
    c.add_argument("local", type=Path)
    c.add_argument("other", type=Path)
    f = sub.add_parser("first-leaf")
    f.add_argument("dag", type=Path)
    m = sub.add_parser("check-mlflow")
    m.add_argument("uri")
    m.add_argument("--expect-runs", type=int)
    args = ap.parse_args(argv)
    if args.command == "compare-csv":
        return compare_csv(args.local, args.other)
    if args.command == "first-leaf":
        return first_leaf(args.dag)
    return check_mlflow(args.uri, args.expect_runs)


if __name__ == "__main__":
    sys.exit(main())
