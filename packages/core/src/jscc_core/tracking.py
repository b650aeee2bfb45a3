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

A store that cannot be used raises :class:`TrackingError` with one line naming it and how to
proceed: a tracking server that does not answer within ``PROBE_TIMEOUT_S`` (instead of MLflow's
minutes of retries), or a SQLite file that is not a readable database. Each run records the
process that owns it (tags ``jscc.pid``, ``jscc.pid_start`` and ``jscc.host``, a hash of the host
name); a run still RUNNING whose process is gone, e.g. a stage killed by a signal, is marked
KILLED when the next stage or ``init`` starts.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

__all__ = ["repo_root", "git_state", "default_tracking_uri", "flatten_params", "RunHandle",
           "track_run", "get_client", "init_store", "mark_killed_runs", "TrackingError", "main"]

MAX_PARAM_VALUE = 6000  # mlflow.utils.validation.MAX_PARAM_VAL_LENGTH (MLflow >= 2)
MAX_TAG_VALUE = 5000
_TRUNC = "...[truncated]"
PROBE_TIMEOUT_S = 5.0  # a tracking server must answer within this; MLflow itself retries for ~4 min
URI_ENV = "MLFLOW_TRACKING_URI"


class TrackingError(RuntimeError):
    """The tracking store cannot be used; the message names it and says how to proceed."""


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


def _local_db() -> Path:
    return repo_root() / "mlruns" / "mlflow.db"


def default_tracking_uri() -> str:
    """``$MLFLOW_TRACKING_URI`` or ``sqlite:///<repo_root>/mlruns/mlflow.db`` (folder created)."""
    uri = os.environ.get(URI_ENV)
    if uri:
        return uri
    db = _local_db()
    db.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{db}"


def _sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for other stores and in-memory SQLite)."""
    if not uri.startswith("sqlite:///"):
        return None
    db = uri[len("sqlite:///"):].split("?", 1)[0]
    return None if db in ("", ":memory:") else Path(db)


def _artifact_root(uri: str) -> Path | None:
    """Artifact folder for SQLite stores (beside the db file); None lets MLflow decide."""
    if not uri.startswith("sqlite:///"):
        return None
    db = _sqlite_file(uri)
    return repo_root() / "mlruns" / "artifacts" if db is None else db.parent / "artifacts"


def _named(uri: str) -> str:
    return f"{uri} ({URI_ENV})" if os.environ.get(URI_ENV) == uri else uri


def _failure_reason(exc: BaseException) -> str:
    """The innermost OS-level reason of a requests failure, e.g. 'Connection refused'."""
    text = str(exc)
    found = re.findall(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if found:
        return found[-1].strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _probe_server(uri: str, timeout: float | None = None) -> None:
    """Raise :class:`TrackingError` unless the http(s) server of ``uri`` answers within ``timeout``
    seconds (default ``PROBE_TIMEOUT_S``).

    Any HTTP answer below 500 counts (a server behind authentication answers 401); no answer,
    a refused connection, an unknown host or a 5xx from ``/health`` fail at once, so a stage
    never sits in MLflow's retries. Other stores (SQLite, file) are not probed.
    """
    if urlsplit(uri).scheme not in ("http", "https"):
        return
    import requests

    timeout = PROBE_TIMEOUT_S if timeout is None else timeout
    result: dict[str, Any] = {}

    def probe() -> None:
        try:
            result["status"] = requests.get(uri.rstrip("/") + "/health", timeout=timeout).status_code
        except requests.RequestException as exc:
            result["error"] = exc

    worker = threading.Thread(target=probe, daemon=True)  # bounds name resolution too
    worker.start()
    worker.join(timeout + 1)
    if worker.is_alive() or isinstance(result.get("error"), requests.Timeout):
        reason = f"no answer within {timeout:g} s"
    elif "error" in result:
        reason = _failure_reason(result["error"])
    elif result["status"] >= 500:
        reason = f"its /health answered HTTP {result['status']}"
    else:
        return
    raise TrackingError(f"MLflow tracking server {_named(uri)} is unreachable ({reason}): start the server, "
                        f"correct {URI_ENV}, or unset it to use the local store {_local_db()}")


def _corrupt_store(uri: str, exc: BaseException) -> TrackingError | None:
    """A :class:`TrackingError` if ``exc`` says the SQLite file of ``uri`` is not a database."""
    db = _sqlite_file(uri)
    if db is None:
        return None
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        orig = getattr(e, "orig", None)  # sqlalchemy wraps the driver's error
        for cand in (e, orig):
            # plain DatabaseError is SQLITE_NOTADB / SQLITE_CORRUPT; a locked store is an OperationalError
            if type(cand) is sqlite3.DatabaseError:
                return _corrupt_error(db, str(cand))
        e = e.__cause__ or e.__context__
    return None


def _corrupt_error(db: Path, detail: str) -> TrackingError:
    return TrackingError(f"{db} is not a readable MLflow database ({detail}): move it aside "
                         f"(mv {db} {db}.corrupt) and rerun to start a new store; results, checkpoints "
                         "and the run.json records beside the results do not depend on it")


def _check_sqlite(uri: str, full: bool = False) -> None:
    """Open an existing SQLite store read-only before MLflow does: its header and schema (always)
    and, with ``full``, ``PRAGMA quick_check`` of every page, so damage deep in the file is found
    at the pipeline's start, not in the middle of a stage. A store locked by a running stage is
    left alone."""
    db = _sqlite_file(uri)
    if db is None or not db.is_file() or db.stat().st_size == 0:
        return
    query = "PRAGMA quick_check(1)" if full else "SELECT count(*) FROM sqlite_master"
    try:
        with contextlib.closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5)) as con:
            rows = con.execute(query).fetchall()
    except sqlite3.OperationalError:
        return
    except sqlite3.DatabaseError as exc:
        raise _corrupt_error(db, str(exc)) from None
    if full and rows != [("ok",)]:
        raise _corrupt_error(db, f"integrity check: {rows[0][0] if rows else 'no answer'}")


@contextmanager
def _store_errors(uri: str) -> Iterator[None]:
    """Turn a corrupt SQLite store into a one-line :class:`TrackingError`."""
    try:
        yield
    except TrackingError:
        raise
    except Exception as exc:
        err = _corrupt_store(uri, exc)
        if err is None:
            raise
        raise err from None


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
    """A client of a store that answers (http servers probed first); cached per URI once it works."""
    _probe_server(uri)
    _quiet_mlflow()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from mlflow.tracking import MlflowClient

        _quiet_mlflow()  # mlflow resets its logger level on import
        db = _sqlite_file(uri)
        if db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
            _check_sqlite(uri)  # before MLflow keeps a connection to a damaged file
        with _store_errors(uri):
            return MlflowClient(tracking_uri=uri)


def get_client(tracking_uri: str | None = None):
    """An ``MlflowClient`` for ``tracking_uri`` (default: :func:`default_tracking_uri`)."""
    return _client_for(tracking_uri or default_tracking_uri())


# --------------------------------------------------------------------------- runs of dead processes

PID_TAG, PID_START_TAG, HOST_TAG = "jscc.pid", "jscc.pid_start", "jscc.host"


def _host_id() -> str:
    """A hash of the host name: tells this machine's runs apart without recording its name."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:16]


def _process_start(pid: int) -> str | None:
    """Start time of process ``pid`` in clock ticks since boot (Linux /proc), None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()  # the command name may hold spaces and parentheses
    return fields[19] if len(fields) > 19 else None


def _owner_tags() -> dict[str, str]:
    pid = os.getpid()
    tags = {PID_TAG: str(pid), HOST_TAG: _host_id()}
    start = _process_start(pid)
    if start:
        tags[PID_START_TAG] = start
    return tags


def _process_alive(pid: int, start: str) -> bool:
    """Whether process ``pid`` still runs and is the one that started at ``start`` (if recorded)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    except OSError:
        return True  # cannot tell: leave the run alone
    now = _process_start(pid)
    return not (start and now and now != start)  # the pid was reused by another process


def mark_killed_runs(client) -> list[str]:
    """Mark KILLED the RUNNING runs started on this host whose process is gone; return their ids.

    A stage ended by a signal (or a crash of Python itself) never closes its run; this finds such
    runs by the process tags every :func:`track_run` records. Runs of other hosts are left alone.
    """
    exp_ids = [e.experiment_id for e in client.search_experiments(max_results=1000)]
    if not exp_ids:
        return []
    runs = client.search_runs(exp_ids, filter_string=f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = "
                                                     f"'{_host_id()}'", max_results=1000)
    killed = []
    for run in runs:
        tags = run.data.tags
        try:
            pid = int(tags.get(PID_TAG, ""))
        except ValueError:
            continue
        if pid == os.getpid() or _process_alive(pid, tags.get(PID_START_TAG, "")):
            continue
        client.set_tag(run.info.run_id, "jscc.error", f"process {pid} ended without closing the run (killed "
                                                      "or crashed); marked KILLED at the next start")
        client.set_terminated(run.info.run_id, status="KILLED")
        killed.append(run.info.run_id)
    return killed


def _reap(client) -> None:
    # Housekeeping: a failure here (e.g. a store busy with another stage) must not stop the stage.
    with contextlib.suppress(Exception):
        mark_killed_runs(client)


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
    KeyboardInterrupt marks it KILLED). An unusable store raises :class:`TrackingError` before
    the block runs; runs of this host left RUNNING by killed processes are marked KILLED first.
    """
    uri = tracking_uri or default_tracking_uri()
    client = _client_for(uri)
    with _store_errors(uri):
        exp = client.get_experiment_by_name(experiment)
    _reap(client)
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
    all_tags.update(_owner_tags())
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
    """Create the tracking store (schema migrations for SQLite) now and check it; return its URI.

    Raises :class:`TrackingError` for a server that does not answer or a damaged SQLite file;
    runs of this host left RUNNING by killed processes are marked KILLED.
    """
    uri = tracking_uri or default_tracking_uri()
    _check_sqlite(uri, full=True)
    client = _client_for(uri)
    with _store_errors(uri):
        client.search_experiments(max_results=1)
    _reap(client)
    art = _artifact_root(uri)
    if art is not None:
        art.mkdir(parents=True, exist_ok=True)
    return uri


def main(argv: list[str] | None = None) -> int:
    """``python -m jscc_core.tracking {init,uri}``."""
    ap = argparse.ArgumentParser(prog="python -m jscc_core.tracking", description="MLflow store helper")
    ap.add_argument("command", choices=["init", "uri"])
    args = ap.parse_args(argv)
    try:
        uri = init_store() if args.command == "init" else default_tracking_uri()
    except TrackingError as exc:
        ap.exit(2, f"{ap.prog}: error: {exc}\n")
    print(uri)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
