"""The tracking store when it cannot be used: an unreachable server, a damaged SQLite file, and
runs left RUNNING by killed stages."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jscc_core import tracking
from jscc_core.tracking import TrackingError, init_store, main, mark_killed_runs, track_run


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


def test_unreachable_server_fails_within_seconds_with_one_line(monkeypatch, capsys, tmp_path):
    uri = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("JSCC_REPO_ROOT", str(tmp_path))
    t0 = time.monotonic()
    with pytest.raises(SystemExit) as exit_info:
        main(["init"])  # the Snakefile's onstart
    assert exit_info.value.code == 2
    line = _one_line_error(capsys)
    assert line.startswith("python -m jscc_core.tracking: error: ")
    assert uri in line and "Connection refused" in line
    assert "unset it to use the local store" in line and str(tmp_path / "mlruns" / "mlflow.db") in line
    ran = []
    with pytest.raises(TrackingError, match="unreachable"):
        with track_run("exp", "run", {"a": 1}):
            ran.append(True)
    assert not ran  # the stage's work never starts against a store that will not take its results
    assert time.monotonic() - t0 < 10  # MLflow's own retries take about 4 minutes


def test_unknown_host_is_named(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://no-such-host.invalid:5000")
    t0 = time.monotonic()
    named = r"http://no-such-host\.invalid:5000 \(MLFLOW_TRACKING_URI\) is unreachable"
    with pytest.raises(TrackingError, match=named):
        init_store()
    assert time.monotonic() - t0 < 10


def test_server_that_never_answers_times_out(monkeypatch):
    monkeypatch.setattr(tracking, "PROBE_TIMEOUT_S", 0.5)
    with socket.socket() as silent:  # accepts connections (backlog) but never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        t0 = time.monotonic()
        with pytest.raises(TrackingError, match=r"no answer within 0\.5 s"):
            init_store(uri)
        assert time.monotonic() - t0 < 5


@pytest.mark.parametrize("status, refused", [(200, False), (401, False), (503, True)])
def test_probe_accepts_any_server_answer_below_500(status, refused):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        uri = f"http://127.0.0.1:{server.server_address[1]}"
        if refused:
            with pytest.raises(TrackingError, match=f"answered HTTP {status}"):
                tracking._probe_server(uri, timeout=2)
        else:
            tracking._probe_server(uri, timeout=2)  # a server behind authentication still counts
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def damaged_stores(tmp_path):
    """A file of garbage bytes and a real MLflow store (the session's) cut to 60 % of its size."""
    garbage = tmp_path / "garbage" / "mlflow.db"
    garbage.parent.mkdir()
    garbage.write_bytes(bytes(range(256)) * 20)
    session_store = tracking._sqlite_file(init_store())  # migrated once for the whole session
    data = session_store.read_bytes()
    truncated = tmp_path / "truncated" / "mlflow.db"
    truncated.parent.mkdir()
    truncated.write_bytes(data[: len(data) * 6 // 10])
    return {"garbage": garbage, "truncated": truncated}


@pytest.mark.parametrize("kind", ["garbage", "truncated"])
def test_corrupt_store_is_named_with_the_way_out(kind, damaged_stores, monkeypatch, capsys):
    db = damaged_stores[kind]
    before = db.read_bytes()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    with pytest.raises(SystemExit) as exit_info:
        main(["init"])
    assert exit_info.value.code == 2
    line = _one_line_error(capsys)
    assert f"error: {db} is not a readable MLflow database" in line
    assert f"mv {db} {db}.corrupt" in line
    if kind == "garbage":  # the first query fails in a stage as well (deeper damage is found by init)
        with pytest.raises(TrackingError, match="is not a readable MLflow database"):
            with track_run("exp", "run", {"a": 1}):
                pass
    assert db.read_bytes() == before  # nothing is overwritten: the user decides what to keep


def test_locked_store_is_not_called_corrupt():
    locked = sqlite3.OperationalError("database is locked")
    assert tracking._corrupt_store("sqlite:////tmp/x/mlflow.db", locked) is None
    assert tracking._corrupt_store("sqlite:////tmp/x/mlflow.db", sqlite3.DatabaseError("file is not a database"))


# --------------------------------------------------------------------------- killed stages


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_runs_of_killed_processes_are_marked_killed():
    from mlflow.tracking import MlflowClient

    uri = init_store()  # the session's store (a new one takes seconds to migrate)
    with track_run("killed-stages", "finished", {"a": 1}, tracking_uri=uri) as done:
        pass
    client = MlflowClient(uri)
    recorded = client.get_run(done.run_id).data.tags
    assert recorded["jscc.pid"] == str(tracking.os.getpid()) and recorded["jscc.host"] == tracking._host_id()
    assert socket.gethostname() not in recorded.values()  # the host is recorded as a hash only

    exp_id = client.get_experiment_by_name("killed-stages").experiment_id
    me = tracking._owner_tags()
    parent = tracking.os.getppid()

    def running(name, **tags):
        return client.create_run(exp_id, run_name=name, tags=tags).info.run_id

    dead = running("dead", **{"jscc.pid": str(_dead_pid()), "jscc.host": me["jscc.host"]})
    reused = running("reused", **{"jscc.pid": str(parent), "jscc.pid_start": "1", "jscc.host": me["jscc.host"]})
    alive = running("alive", **{"jscc.pid": str(parent), "jscc.pid_start": tracking._process_start(parent) or "",
                                "jscc.host": me["jscc.host"]})
    other_host = running("other", **{"jscc.pid": str(_dead_pid()), "jscc.host": "0" * 16})
    untagged = running("untagged")

    init_store(uri)  # the next pipeline start
    status = {r: client.get_run(r).info.status for r in (dead, reused, alive, other_host, untagged)}
    start_known = tracking._process_start(parent) is not None  # Linux /proc tells a reused pid apart
    assert status == {dead: "KILLED", reused: "KILLED" if start_known else "RUNNING", alive: "RUNNING",
                      other_host: "RUNNING", untagged: "RUNNING"}
    assert "ended without closing the run" in client.get_run(dead).data.tags["jscc.error"]
    assert client.get_run(done.run_id).info.status == "FINISHED"

    dead_again = running("dead-again", **{"jscc.pid": str(_dead_pid()), "jscc.host": me["jscc.host"]})
    with track_run("killed-stages", "next-stage", {"a": 2}, tracking_uri=uri) as nxt:  # a stage start reaps too
        assert client.get_run(dead_again).info.status == "KILLED"
        assert mark_killed_runs(client) == []  # its own run is alive
    assert client.get_run(nxt.run_id).info.status == "FINISHED"
