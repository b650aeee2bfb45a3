"""Results contract shared by every figure and table target.

* :class:`ResultRow` -- one tidy row (one metric value at one operating point). ``source`` is
  ``"ours"``, ``"paper"`` (values read off the paper a page replicates) or ``"reference"``
  (another work's published results drawn for comparison): labelled rows, never mixed with our
  own. ``value=None`` means "unavailable" (give the reason in ``extra["reason"]``).
* :func:`write_results_csv` / :func:`read_results_csv` -- a CSV with a fixed column order,
  deterministic row order and repr-exact floats, so a rerun can be compared byte for byte.
* :func:`write_provenance` -- the JSON sidecar of a figure/table (profile, git commit, data
  checksums, MLflow run ids, versions), free of host names and absolute paths.
* :func:`save_figure` -- a PDF with deterministic metadata that carries the provenance.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
import os
import platform
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .determinism import library_versions
from .tracking import git_state, repo_root

__all__ = ["ResultRow", "COLUMNS", "write_results_csv", "read_results_csv", "write_provenance",
           "provenance_summary", "save_figure", "relative_to_repo", "atomic_write_bytes"]

COLUMNS = ("figure", "panel", "source", "method", "dataset", "metric", "snr_db",
           "bandwidth_ratio", "value", "run_id", "extra")
_FLOATS = ("snr_db", "bandwidth_ratio", "value")
SOURCES = ("ours", "paper", "reference")


def _as_float(x: Any) -> float | None:
    if x is None or (isinstance(x, str) and x == ""):
        return None
    return float(x)


@dataclass(frozen=True)
class ResultRow:
    """One metric value of one method at one operating point of one figure panel."""

    figure: str
    panel: str
    method: str
    dataset: str
    snr_db: float | None
    bandwidth_ratio: float | None
    metric: str
    value: float | None
    run_id: str = ""
    source: str = "ours"
    extra: dict = field(default_factory=dict, hash=False)

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}")
        for name in _FLOATS:
            object.__setattr__(self, name, _as_float(getattr(self, name)))
        for name in ("figure", "panel", "method", "dataset", "metric", "run_id"):
            object.__setattr__(self, name, "" if getattr(self, name) is None else str(getattr(self, name)))
        extra = self.extra
        if isinstance(extra, str):
            extra = json.loads(extra) if extra else {}
        object.__setattr__(self, "extra", dict(extra))


def _fmt_float(x: float | None) -> str:
    return "" if x is None else repr(float(x))


def _fmt_extra(extra: Mapping) -> str:
    return json.dumps(extra, sort_keys=True, separators=(",", ":"), ensure_ascii=False) if extra else ""


def _num_key(x: float | None) -> tuple:
    if x is None:
        return (0, 0.0)
    if math.isnan(x):
        return (2, 0.0)
    return (1, x)


def _sort_key(r: ResultRow) -> tuple:
    return (r.figure, r.panel, r.source, r.method, r.dataset, r.metric, _num_key(r.snr_db),
            _num_key(r.bandwidth_ratio), _num_key(r.value), r.run_id, _fmt_extra(r.extra))


def _shareable(tmp: str) -> None:
    """mkstemp creates 0600 files; give the final file the usual permissions (0666 less umask)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to the file ``path`` through a temporary file beside it and a rename, so a
    reader sees the old file or the new one, never half of one; creates the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        _shareable(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_results_csv(rows: Iterable[ResultRow], path: str | os.PathLike) -> Path:
    """Write rows sorted deterministically with columns :data:`COLUMNS` (atomic write)."""
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in sorted(rows, key=_sort_key):
        d = asdict(r)
        w.writerow([
            _fmt_float(d[c]) if c in _FLOATS else _fmt_extra(d[c]) if c == "extra" else d[c]
            for c in COLUMNS
        ])
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue().encode("utf-8"))
    return path


def read_results_csv(path: str | os.PathLike) -> list[ResultRow]:
    """Read a results CSV written by :func:`write_results_csv`."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ValueError(f"{path}: columns {reader.fieldnames} != {list(COLUMNS)}")
        return [ResultRow(**row) for row in reader]


# --------------------------------------------------------------------------- provenance


def relative_to_repo(p: str | os.PathLike | None) -> str | None:
    """Path relative to the repo root (POSIX form); paths outside it keep only their name."""
    if p is None:
        return None
    path = Path(p)
    root = repo_root()
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return f"<outside-repo>/{path.name}" if path.is_absolute() or ".." in path.parts else path.as_posix()


def _scrub(obj: Any, root: str) -> Any:
    """Replace absolute paths under the repo root inside strings with relative ones."""
    if isinstance(obj, str):
        return obj.replace(root + os.sep, "").replace(root, ".")
    if isinstance(obj, Path):
        return relative_to_repo(obj)
    if isinstance(obj, Mapping):
        return {str(k): _scrub(v, root) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_scrub(v, root) for v in obj]
    return obj


def _profile_info(profile: Any) -> dict:
    if profile is None:
        return {"name": None, "sha256": None, "path": None}
    if isinstance(profile, Mapping) and not hasattr(profile, "sha256"):
        return {"name": profile.get("name"), "sha256": profile.get("sha256"),
                "path": relative_to_repo(profile.get("path"))}
    return {"name": profile.name, "sha256": profile.sha256,
            "path": relative_to_repo(getattr(profile, "path", None)),
            "overrides": dict(getattr(profile, "overrides", {}) or {})}


def write_provenance(
    path: str | os.PathLike,
    *,
    profile: Any,
    data_checksums: Mapping[str, Any],
    mlflow_run_ids: Iterable[str],
    wall_time_s: float,
    seed: int | None,
    extra: Mapping[str, Any] | None = None,
) -> dict:
    """Write the provenance JSON of a figure/table and return it as a dict.

    ``profile`` is a :class:`~jscc_core.profiles.Profile` (or a mapping with name, sha256,
    path). Paths are stored relative to the repo root; no host name is recorded.
    """
    root = str(repo_root())
    prov = {
        "schema": "jscc-provenance/1",
        "created_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git": git_state(root),
        "profile": _profile_info(profile),
        "data_checksums": _scrub(dict(sorted(data_checksums.items())), root),
        "mlflow_run_ids": sorted(set(mlflow_run_ids)),
        "wall_time_s": float(wall_time_s),
        "seed": seed,
        "platform": f"{platform.system()}-{platform.machine()}",
        "python": platform.python_version(),
        "libraries": library_versions(),
        "extra": _scrub(dict(extra or {}), root),
    }
    text = json.dumps(prov, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
    atomic_write_bytes(Path(path), text.encode("utf-8"))
    return prov


def provenance_summary(provenance: Mapping[str, Any]) -> dict:
    """The reproducibility-relevant part of a provenance dict (no timestamp, no wall time)."""
    prof = provenance.get("profile") or {}
    git = provenance.get("git") or {}
    return {
        "profile": prof.get("name"),
        "profile_sha256": prof.get("sha256"),
        "git_commit": git.get("commit"),
        "git_dirty": git.get("dirty"),
        "seed": provenance.get("seed"),
        "mlflow_run_ids": list(provenance.get("mlflow_run_ids") or []),
        "data_checksums": provenance.get("data_checksums") or {},
    }


def save_figure(fig, pdf_path: str | os.PathLike, provenance: Mapping[str, Any]) -> Path:
    """Save a matplotlib figure as PDF whose Subject holds the JSON provenance summary.

    Metadata are deterministic (no CreationDate), so identical inputs give identical bytes.
    Written to a temporary file and renamed (atomic).
    """
    summary = provenance_summary(provenance)
    subject = json.dumps(summary, sort_keys=True, separators=(",", ":"), default=str)
    keywords = (f"jscc; profile={summary['profile']}; commit={summary['git_commit']}; "
                f"runs={len(summary['mlflow_run_ids'])}")
    pdf_path = Path(pdf_path)
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=pdf_path.parent, prefix=f".{pdf_path.name}.", suffix=".pdf")
    os.close(fd)
    try:
        fig.savefig(tmp, format="pdf", metadata={
            "Title": pdf_path.stem,
            "Subject": subject,
            "Keywords": keywords,
            "CreationDate": None,
        })
        _shareable(tmp)
        os.replace(tmp, pdf_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return pdf_path
