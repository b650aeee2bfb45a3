"""Helpers of the end-to-end pipeline tests: a clean copy of the project and a Snakemake call."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def project_copy(dest: Path) -> Path:
    """The tracked (and not ignored) files of the project, as a fresh clone would have them."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split("\n")
    for name in filter(None, files):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def has_git_checkout() -> bool:
    return shutil.which("git") is not None and (REPO / ".git").exists()


def snakemake(workdir: Path, profile: str, *targets: str) -> subprocess.CompletedProcess:
    """Run Snakemake on ``targets`` with ``profile``, its own MLflow store, no progress bars; must succeed."""
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{workdir}/mlruns/mlflow.db", JSCC_PROGRESS="0")
    env.pop("JSCC_REPO_ROOT", None)
    # targets first: --config takes every following word as a key=value pair
    res = subprocess.run([str(BIN / "snakemake"), *targets, "--cores", "2", "--config", f"profile={profile}"],
                         cwd=workdir, env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    return res
