"""One MLflow helper for every training and evaluation stage (docs/conventions.md, "Tracking and lineage").

Default store: env ``MLFLOW_TRACKING_URI`` if set (e.g. a shared server), else a local SQLite
file ``<repo_root>/mlruns/mlflow.db`` with artifacts under ``<repo_root>/mlruns/artifacts`` --
no server and no network needed. For any SQLite store the artifacts go to ``artifacts/`` beside
the database file. ``mlflow`` is imported lazily (it is slow to import) and its logging noise
is silenced.

    with track_run("ntscc-banana", "mini-lambda64", params=profile.flat()) as run:
        run.log_metrics({"psnr": 31.2}, step=10)
        run.log_artifact("reports/fig12.pdf")
    run.run_id

``python -m jscc_core.tracking init`` creates the store once before parallel jobs start (so
they do not race to create the schema); ``... uri`` prints the tracking URI in use.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import subprocess
import sys
import time
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

__all__ = ["repo_root", "git_state", "default_tracking_uri", "flatten_params", "RunHandle",
           "track_run", "get_client", "init_store", "main"]

MAX_PARAM_VALUE = 6000  # mlflow.utils.validation.MAX_PARAM_VAL_LENGTH (MLflow >= 2)
MAX_TAG_VALUE = 5000
_TRUNC = "...[truncated]"


def repo_root() -> Path:
    """Repository root: env ``JSCC_REPO_ROOT``, else the nearest parent of the cwd holding a
    ``Snakefile``, else the cwd."""
    env = os.environ.get("JSCC_REPO_ROOT")
    if env:
        return Path(env).expanduser().resolve()
    cwd = Path.cwd().resolve()
    for d in (cwd, *cwd.parents):
        if (d / "Snakefile").is_file():
            return d
    return cwd


def git_state(root: str | os.PathLike | None = None) -> dict[str, Any]:
    """``{"commit": sha or "unknown", "dirty": bool or "unknown"}`` of the repository."""
    root = Path(root) if root is not None else repo_root()

    def git(*args: str) -> str | None:
        try:
            r = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return None
        return r.stdout if r.returncode == 0 else None

    commit = git("rev-parse", "--verify", "HEAD")
    if not commit:
        return {"commit": "unknown", "dirty": "unknown"}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit.strip(), "dirty": "unknown" if status is None else bool(status.strip())}


def default_tracking_uri() -> str:
    """``$MLFLOW_TRACKING_URI`` or ``sqlite:///<repo_root>/mlruns/mlflow.db`` (folder created)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    db = repo_root() / "mlruns" / "mlflow.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{db}"


def _artifact_root(uri: str) -> Path | None:
    """Artifact folder for SQLite stores (beside the db file); None lets MLflow decide."""
    if not uri.startswith("sqlite:///"):
        return None
    db = Path(uri[len("sqlite:///"):])
    if str(db) in ("", ":memory:"):
        return repo_root() / "mlruns" / "artifacts"
    return db.parent / "artifacts"


def _quiet_mlflow() -> None:
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    for name in ("mlflow", "alembic", "sqlalchemy", "urllib3", "git"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module=r"mlflow(\..*)?")
    warnings.filterwarnings("ignore", module=r"alembic(\..*)?")
    warnings.filterwarnings("ignore", category=FutureWarning, message=r".*[Ff]ilesystem.*")


@lru_cache(maxsize=4)
def _client_for(uri: str):
    _quiet_mlflow()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from mlflow.tracking import MlflowClient

        _quiet_mlflow()  # mlflow resets its logger level on import
        if uri.startswith("sqlite:///"):
            Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        return MlflowClient(tracking_uri=uri)


def get_client(tracking_uri: str | None = None):
    """An ``MlflowClient`` for ``tracking_uri`` (default: :func:`default_tracking_uri`)."""
    return _client_for(tracking_uri or default_tracking_uri())


def _stringify(v: Any) -> str:
    if isinstance(v, str):
        s = v
    elif isinstance(v, bool) or v is None:
        s = str(v)
    elif isinstance(v, int):
        s = str(int(v))
    elif isinstance(v, float):
        s = repr(float(v))  # also numpy floats, without the "np.float64(...)" wrapper
    else:
        s = json.dumps(v, sort_keys=True, default=str)
    return s if len(s) <= MAX_PARAM_VALUE else s[: MAX_PARAM_VALUE - len(_TRUNC)] + _TRUNC


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested mappings to ``{"a.b.c": "value"}``; values stringified and truncated to
    MLflow's parameter-value limit; lists/tuples become JSON."""
    out: dict[str, str] = {}
    for k, v in params.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping) and v:
            out.update(flatten_params(v, key))
        elif isinstance(v, tuple):
            out[key] = _stringify(list(v))
        else:
            out[key] = _stringify(v)
    return out


def _safe_key(key: str) -> str:
    # MLflow allows alphanumerics, _ - . space / ; replace anything else.
    return re.sub(r"[^\w\-. /]", "_", key)[:250]


class RunHandle:
    """Handle of an active run: ``run_id``, ``log_metrics``, ``log_artifact``, ``set_tags``."""

    def __init__(self, client, run_id: str, experiment_id: str):
        self.client = client
        self.run_id = run_id
        self.experiment_id = experiment_id

    @property
    def artifact_uri(self) -> str:
        return self.client.get_run(self.run_id).info.artifact_uri

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log scalar metrics (non-finite values are logged as they are)."""
        from mlflow.entities import Metric

        ts = int(time.time() * 1000)
        batch = [Metric(_safe_key(k), float(v), ts, int(step or 0)) for k, v in metrics.items()]
        for i in range(0, len(batch), 1000):
            self.client.log_batch(self.run_id, metrics=batch[i:i + 1000])

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log (flattened) parameters."""
        from mlflow.entities import Param

        flat = flatten_params(params)
        batch = [Param(_safe_key(k), v) for k, v in sorted(flat.items())]
        for i in range(0, len(batch), 100):
            self.client.log_batch(self.run_id, params=batch[i:i + 100])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        batch = [RunTag(_safe_key(k), str(v)[:MAX_TAG_VALUE]) for k, v in tags.items()]
        if batch:
            self.client.log_batch(self.run_id, tags=batch)

    def log_artifact(self, path: str | os.PathLike, artifact_path: str | None = None) -> None:
        """Copy a file (or folder) into the run's artifact store."""
        p = Path(path)
        if p.is_dir():
            self.client.log_artifacts(self.run_id, str(p), artifact_path)
        else:
            self.client.log_artifact(self.run_id, str(p), artifact_path)


@contextmanager
def track_run(
    experiment: str,
    run_name: str,
    params: Mapping[str, Any],
    tags: Mapping[str, Any] | None = None,
    *,
    tracking_uri: str | None = None,
) -> Iterator[RunHandle]:
    """Start an MLflow run, log flattened ``params`` and ``tags``, yield a :class:`RunHandle`.

    The run ends FINISHED, or FAILED if the block raises (the exception is re-raised;
    KeyboardInterrupt marks it KILLED).
    """
    uri = tracking_uri or default_tracking_uri()
    client = _client_for(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        art = _artifact_root(uri)
        loc = None
        if art is not None:
            (art / _safe_key(experiment).replace(" ", "_")).mkdir(parents=True, exist_ok=True)
            loc = (art / _safe_key(experiment).replace(" ", "_")).as_uri()
        try:
            exp_id = client.create_experiment(experiment, artifact_location=loc)
        except Exception:  # created concurrently by another stage
            exp = client.get_experiment_by_name(experiment)
            if exp is None:
                raise
            exp_id = exp.experiment_id
    else:
        exp_id = exp.experiment_id
    git = git_state()
    all_tags = {"mlflow.source.type": "LOCAL"}
    if git["commit"] != "unknown":
        all_tags["mlflow.source.git.commit"] = git["commit"]
    all_tags.update({str(k): str(v) for k, v in (tags or {}).items()})
    run = client.create_run(exp_id, run_name=run_name, tags=all_tags)
    handle = RunHandle(client, run.info.run_id, exp_id)
    status = "FAILED"
    try:
        handle.log_params(params)
        yield handle
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    except BaseException as exc:
        with contextlib.suppress(Exception):  # never mask the original error
            handle.set_tags({"jscc.error": f"{type(exc).__name__}: {exc}"})
        raise
    finally:
        client.set_terminated(handle.run_id, status=status)


def init_store(tracking_uri: str | None = None) -> str:
    """Create the tracking store (schema migrations for SQLite) now; return its URI."""
    uri = tracking_uri or default_tracking_uri()
    _client_for(uri).search_experiments(max_results=1)
    art = _artifact_root(uri)
    if art is not None:
        art.mkdir(parents=True, exist_ok=True)
    return uri


def main(argv: list[str] | None = None) -> int:
    """``python -m jscc_core.tracking {init,uri}``."""
    ap = argparse.ArgumentParser(prog="python -m jscc_core.tracking", description="MLflow store helper")
    ap.add_argument("command", choices=["init", "uri"])
    args = ap.parse_args(argv)
    uri = init_store() if args.command == "init" else default_tracking_uri()
    print(uri)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
