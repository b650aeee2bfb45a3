"""Reading what evaluation stages wrote: files a figure needs, their JSON records, and the
per-image CSVs of learned models grouped into operating points.

A figure never recomputes a model: it reads ``eval.csv`` (one row per image and operating
point) with ``eval.json`` beside it (MLflow run id, run key, wall time, data checksums).
"""
from __future__ import annotations

import csv
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


def need_file(path: Path | str, what: str) -> Path:
    """``path`` if it is a file, else FileNotFoundError naming it and ``what`` it should hold."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file ({what})")
    return path


def read_record(path: Path | str, what: str) -> dict:
    """The JSON record at ``path`` (a stage's run record, e.g. eval.json)."""
    return json.loads(need_file(path, what).read_text(encoding="utf-8"))


def number(x: str | None) -> float | None:
    """A CSV cell as a float; None for a blank cell (e.g. eta of a model without one)."""
    return None if x is None or x.strip() == "" else float(x)


@dataclass(frozen=True)
class EvalRun:
    """One model's evaluation: its per-image rows (CSV cells as strings) and its JSON record."""

    path: Path
    rows: list[dict]
    meta: dict


def read_eval(path: Path | str, columns: Sequence[str],
              allowed: Mapping[str, Collection[str]] | None = None) -> EvalRun:
    """Read an evaluation CSV and the record beside it (same name, .json).

    ``columns``: the columns it must have; ``allowed``: for some columns, the values they may take
    (e.g. ``{"variant": ("ntscc", "deepjscc")}``). Missing columns, no rows or another value is a
    ValueError naming the file."""
    path = need_file(path, "per-model evaluation CSV")
    meta = read_record(path.with_suffix(".json"), f"evaluation record beside {path.name}")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in columns if c not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"{path}: missing columns {', '.join(missing)}")
        rows = list(reader)
    if not rows:
        raise ValueError(f"{path}: no rows")
    for column, values in (allowed or {}).items():
        bad = sorted({r[column] for r in rows} - set(values))
        if bad:
            raise ValueError(f"{path}: unknown {column} {bad[0]!r}; expected one of {', '.join(values)}")
    return EvalRun(path, rows, meta)


def group_points(runs: Sequence[EvalRun], by: Mapping[str, Callable[[str], Any]],
                 image: str = "image_id") -> dict[tuple, list[dict]]:
    """The rows of each operating point, in order of first appearance.

    ``by``: the columns that name an operating point, each with the parser of its cells (e.g.
    ``{"model": str, "eta": number, "snr_db": float}``); the key is the tuple of parsed values.
    An image twice at one operating point, in one CSV or two, is a ValueError naming both files."""
    groups: dict[tuple, list[dict]] = {}
    seen: dict[tuple, Path] = {}
    for run in runs:
        for r in run.rows:
            key = tuple(parse(r[column]) for column, parse in by.items())
            if key + (r[image],) in seen:
                at = ", ".join(f"{column} {value}" for column, value in zip(by, key))
                raise ValueError(f"{run.path}: image {r[image]} at {at} is also in {seen[key + (r[image],)]}")
            seen[key + (r[image],)] = run.path
            groups.setdefault(key, []).append(r)
    return groups


def mean(rows: Sequence[dict], column: str) -> float:
    """Mean over the images (rows) of one operating point of a numeric column."""
    return float(np.mean([float(r[column]) for r in rows]))
